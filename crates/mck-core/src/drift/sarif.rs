//! SARIF 2.1.0 for GitHub code scanning: one result per finding, located at the stack file line
//! that declares the drifted resource or field. Suppressed findings carry a SARIF suppression
//! (with the stack's reason), so code scanning shows them as dismissed, not gone.

use serde_json::{Value, json};

use super::{DriftClass, DriftReport, Finding, fields_line, who_line};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn rule(class: DriftClass) -> Value {
    let (name, text, help) = match class {
        DriftClass::Changed => (
            "ChangedOutOfBand",
            "A field of a resource differs from the stack file.",
            "Run `mck up` to restore the stack's value, or change the stack file to accept the new one.",
        ),
        DriftClass::Missing => (
            "DeletedOutOfBand",
            "A resource the stack declares does not exist.",
            "Run `mck up` to create it again.",
        ),
        DriftClass::Extra => (
            "NotInStack",
            "A resource tagged with the stack (or inside one of its resources) is not in the stack file.",
            "Run `mck up` to delete it, or add it back to the stack file.",
        ),
        DriftClass::Unmanaged => (
            "Unmanaged",
            "Something not made by mck sits inside the stack's resources.",
            "mck leaves it alone. Delete it, or accept it with a `drift.ignore` entry.",
        ),
        DriftClass::Unchecked => (
            "NotCompared",
            "A field mck sets at creation only and cannot compare afterwards.",
            "Nothing to do; listed so the report does not claim more than it checked.",
        ),
    };
    json!({
        "id": format!("mck/{}", class.as_str()),
        "name": name,
        "shortDescription": { "text": text },
        "help": { "text": help },
        "defaultConfiguration": { "level": level(class) },
    })
}

fn level(class: DriftClass) -> &'static str {
    match class {
        DriftClass::Changed | DriftClass::Missing | DriftClass::Extra => "error",
        DriftClass::Unmanaged => "warning",
        DriftClass::Unchecked => "note",
    }
}

/// A stack file path as a relative URI (`stacks/prod.yaml`).
fn uri(file: &str) -> String {
    let file = file.replace('\\', "/");
    file.trim_start_matches("./").to_string()
}

fn result(stack: &str, f: &Finding) -> Value {
    let mut text = format!(
        "{} {} ({}) in stack {stack}: {}",
        f.class.as_str(),
        f.resource,
        f.kind,
        f.message
    );
    let fields = fields_line(f);
    if !fields.is_empty() {
        text.push_str(&format!(". {fields}"));
    }
    if let Some(who) = &f.who {
        text.push_str(&format!(". {}", who_line(who)));
    }
    let mut result = json!({
        "ruleId": format!("mck/{}", f.class.as_str()),
        "ruleIndex": DriftClass::ALL.iter().position(|c| *c == f.class),
        "level": level(f.class),
        "message": { "text": text },
        "partialFingerprints": {
            "mckFinding/v1": format!("{stack}/{}/{}/{}", f.class.as_str(), f.kind, f.resource),
        },
        "properties": {
            "stack": stack,
            "resource": f.resource,
            "kind": f.kind,
            "cloudId": f.cloud_id,
        },
    });
    if let Some(loc) = &f.location {
        result["locations"] = json!([{
            "physicalLocation": {
                "artifactLocation": { "uri": uri(&loc.file) },
                "region": { "startLine": loc.line, "startColumn": loc.column },
            }
        }]);
    }
    if let Some(s) = f.suppression.as_ref().filter(|s| !s.expired) {
        result["suppressions"] = json!([{
            "kind": "inSource",
            "status": "accepted",
            "justification": format!("{} (until {})", s.reason, s.expires),
        }]);
    }
    result
}

pub(super) fn render(report: &DriftReport) -> String {
    let mut results = Vec::new();
    let mut notifications = Vec::new();
    for stack in &report.stacks {
        if let Some(error) = &stack.error {
            notifications.push(json!({
                "level": "error",
                "message": { "text": format!("stack {}: {error}", stack.stack) },
            }));
        }
        results.extend(stack.findings.iter().map(|f| result(&stack.stack, f)));
    }
    let sarif = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "mck",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": DriftClass::ALL.iter().map(|c| rule(*c)).collect::<Vec<_>>(),
                }
            },
            "invocations": [{
                "executionSuccessful": report.stacks.iter().all(|s| s.error.is_none()),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&sarif).unwrap_or_default();
    out.push('\n');
    out
}
