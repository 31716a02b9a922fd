//! Offline reader tests: SDK describe output built with the SDK's builders, read by a kind's
//! reader, compared with the fields of the spec that describes the same resource.

use std::collections::{BTreeMap, HashMap};

use mck_core::model::{Mutability, ResourceSpec, Value};
use mck_core::provider::Observed;

/// Asserts that `observed` (a reader's output) carries exactly the fields of `spec` (under the
/// names the model declares) with the values `spec` has once its references are resolved
/// through `ids` (logical id → cloud id), and only outputs its kind declares. Create-only fields
/// may be absent (they are never compared); any other missing, extra or different field fails.
#[track_caller]
pub(crate) fn assert_reads(
    observed: &Observed,
    spec: impl Into<ResourceSpec>,
    ids: &[(&str, &str)],
) {
    let spec = spec.into();
    let kind = spec.kind();
    assert_eq!(observed.kind, kind, "the reader reports another kind");
    let ids: HashMap<&str, &str> = ids.iter().copied().collect();
    let fields = spec.fields();
    for name in observed.fields.keys() {
        assert!(
            fields.iter().any(|f| f.name == name),
            "the reader yields `{name}`, which {kind} does not declare"
        );
    }
    let expected: BTreeMap<&str, Value> = fields
        .iter()
        .filter(|f| f.mutability != Mutability::CreateOnly)
        .map(|f| (f.name, resolve(&f.value, &ids)))
        .collect();
    let actual: BTreeMap<&str, Value> = fields
        .iter()
        .filter(|f| f.mutability != Mutability::CreateOnly)
        .map(|f| {
            let value = observed.fields.get(f.name).map_or_else(
                || panic!("the reader does not yield `{}` of {kind}", f.name),
                normalize,
            );
            (f.name, value)
        })
        .collect();
    assert_eq!(actual, expected, "{kind} read back differs from its spec");
    for name in observed.outputs.keys() {
        assert!(
            name.starts_with('_') || kind.output_names().contains(&name.as_str()),
            "the reader reports output `{name}`, which {kind} does not declare"
        );
    }
}

/// The spec's value as the cloud would report it: references become the given cloud ids.
fn resolve(value: &Value, ids: &HashMap<&str, &str>) -> Value {
    match value {
        Value::Ref(kind, id) => Value::CloudId(
            ids.get(id.as_str())
                .unwrap_or_else(|| panic!("no cloud id given for {id} ({kind})"))
                .to_string(),
        ),
        Value::List(items) => {
            let mut items: Vec<Value> = items.iter().map(|v| resolve(v, ids)).collect();
            items.sort();
            Value::List(items)
        }
        other => other.clone(),
    }
}

/// Read values with the kind tag of a cloud reference dropped, lists sorted.
fn normalize(value: &Value) -> Value {
    match value {
        Value::CloudRef(_, id) => Value::CloudId(id.clone()),
        Value::List(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize).collect();
            items.sort();
            Value::List(items)
        }
        other => other.clone(),
    }
}
