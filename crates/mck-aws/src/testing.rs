//! Offline reader tests: SDK describe output built with the SDK's builders, read by a kind's
//! reader, compared with the fields of the spec that describes the same resource.

use std::collections::{BTreeMap, HashMap};

use mck_core::model::{Mutability, ResourceSpec, Value};
use mck_core::provider::Observed;

/// Asserts that `observed` (a reader's output) carries exactly the fields of `spec` (under the
/// names the model declares) with the values `spec` has once its references are resolved
/// through `ids` (logical id → cloud id; `<id>.<output>` → the output's value), and only outputs its kind declares. Create-only fields
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
        // An output of another resource (a name, an ARN) reads back as its value.
        Value::Output(kind, id, name) => Value::Str(
            ids.get(format!("{id}.{name}").as_str())
                .unwrap_or_else(|| panic!("no value given for {id}.{name} ({kind})"))
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

/// A scripted AWS for offline driver tests: answers each HTTP request with the next scripted
/// answer, after checking that the request is the one the script expects, and records every
/// request. Answers are what AWS sends (XML for the query APIs, JSON or XML for REST ones).
#[derive(Clone, Debug, Default)]
pub(crate) struct Replay {
    state: std::sync::Arc<std::sync::Mutex<ReplayState>>,
}

#[derive(Debug, Default)]
struct ReplayState {
    answers: std::collections::VecDeque<(&'static str, u16, String)>,
    requests: Vec<(String, String)>,
    /// The URI of each request, in order (the host names the region).
    uris: Vec<String>,
    mismatches: Vec<String>,
    /// Answer each request with the first scripted answer that expects it, wherever it is in
    /// the script (for calls made concurrently).
    any_order: bool,
    /// Answer every request with an empty success (no script): an account with nothing in it.
    empty: bool,
}

impl Replay {
    /// `answers`: (expected request, HTTP status, body). The expected request is the query
    /// APIs' `Action` (`CreateVpc`), the JSON APIs' operation (`CreateService`), or a
    /// `METHOD /path` prefix for REST APIs.
    pub(crate) fn new(answers: impl IntoIterator<Item = (&'static str, u16, String)>) -> Replay {
        let replay = Replay::default();
        replay.lock().answers = answers.into_iter().collect();
        replay
    }

    /// Answers every request with an empty success, as an account holding nothing would: an
    /// empty list for every list and describe call.
    pub(crate) fn empty() -> Replay {
        let replay = Replay::default();
        replay.lock().empty = true;
        replay
    }

    /// Matches requests to answers in any order (concurrent calls).
    pub(crate) fn any_order(self) -> Replay {
        self.lock().any_order = true;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplayState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The requests made, as (name, body).
    pub(crate) fn requests(&self) -> Vec<(String, String)> {
        self.lock().requests.clone()
    }

    /// The URI of each request made, in order.
    pub(crate) fn uris(&self) -> Vec<String> {
        self.lock().uris.clone()
    }

    /// How many requests named `name` were made.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|(n, _)| n == name)
            .count()
    }

    /// Fails unless every scripted answer was used by the request it expected.
    #[track_caller]
    pub(crate) fn assert_done(&self) {
        let state = self.lock();
        assert!(
            state.mismatches.is_empty(),
            "unexpected requests: {:?}",
            state.mismatches
        );
        let left: Vec<&str> = state.answers.iter().map(|(e, _, _)| *e).collect();
        assert!(left.is_empty(), "requests that never came: {left:?}");
    }
}

impl aws_smithy_runtime_api::client::http::HttpConnector for Replay {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        // JSON APIs (ECS) name the operation in a header: `AmazonEC2ContainerServiceV20141113.CreateService`.
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .map(str::to_string);
        let name = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .map(str::to_string)
            .or(target)
            .unwrap_or_else(|| {
                let uri = request.uri();
                let path = uri.split("amazonaws.com").last().unwrap_or(uri);
                format!("{} {}", request.method(), path)
            });
        let mut state = self.lock();
        state.requests.push((name.clone(), body));
        state.uris.push(request.uri().to_string());
        if state.empty {
            let answer = empty_answer(&name, request.uri());
            return aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Ok(
                aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(200).expect("valid status"),
                    aws_smithy_types::body::SdkBody::from(answer),
                ),
            ));
        }
        let next = if state.any_order {
            let at = state
                .answers
                .iter()
                .position(|(expected, _, _)| name.starts_with(expected))
                .unwrap_or(0);
            state.answers.remove(at)
        } else {
            state.answers.pop_front()
        };
        let (status, answer) = match next {
            Some((expected, status, answer)) if name.starts_with(expected) => (status, answer),
            Some((expected, _, _)) => {
                state
                    .mismatches
                    .push(format!("{name} (expected {expected})"));
                (
                    400,
                    error_xml("ReplayMismatch", &format!("expected {expected}")),
                )
            }
            None => {
                state.mismatches.push(format!("{name} (script ended)"));
                (400, error_xml("ReplayMismatch", "script ended"))
            }
        };
        let response = aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("valid status"),
            aws_smithy_types::body::SdkBody::from(answer),
        );
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Ok(response))
    }
}

impl aws_smithy_runtime_api::client::http::HttpClient for Replay {
    fn http_connector(
        &self,
        _settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(self.clone())
    }
}

/// An empty success of the request `name` (as [`Replay`] names requests) to `uri`, in its
/// protocol: EC2's query XML, the other query APIs' (IAM, RDS…), Route 53's REST XML (only the
/// zone list, the one call of its read that an empty account answers), or JSON.
fn empty_answer(name: &str, uri: &str) -> String {
    let action = name.chars().all(char::is_alphanumeric).then_some(name);
    match action {
        Some(action) if uri.contains("://ec2.") => format!(
            "<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId></{action}Response>"
        ),
        Some(action) if !uri.contains("://route53.") && !name.is_empty() => {
            // The JSON APIs name the operation alike; their requests carry a target header,
            // and their hosts are not query APIs'.
            if ["ecs.", "logs.", "secretsmanager.", "application-autoscaling."]
                .iter()
                .any(|host| uri.contains(&format!("://{host}")))
            {
                "{}".to_string()
            } else {
                format!(
                    "<{action}Response><{action}Result/><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"
                )
            }
        }
        _ if uri.contains("://route53.") => "<ListHostedZonesResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><HostedZones/><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesResponse>".to_string(),
        _ => "{}".to_string(),
    }
}

/// An error response of the JSON APIs (ECS): `code` is the error shape
/// (`InvalidParameterException`).
pub(crate) fn json_error(code: &str, message: &str) -> String {
    serde_json::json!({ "__type": code, "message": message }).to_string()
}

/// An EC2 error response.
pub(crate) fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r</RequestID></Response>"
    )
}

/// An error response of the query APIs other than EC2 (RDS, ElastiCache).
pub(crate) fn query_error_xml(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

/// A successful EC2 response to `action` with `inner` XML.
pub(crate) fn ec2_xml(action: &str, inner: &str) -> String {
    format!(
        "<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId>{inner}</{action}Response>"
    )
}

/// A successful RDS or ElastiCache response to `action` with `inner` XML as its result.
pub(crate) fn query_xml(action: &str, inner: &str) -> String {
    format!(
        "<{action}Response><{action}Result>{inner}</{action}Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"
    )
}

/// A context for driver calls: stack `t`, no user tags, the given dependencies.
pub(crate) fn context(
    resolved: &HashMap<mck_core::model::LogicalId, Observed>,
) -> mck_core::provider::Context<'_> {
    static TAGS: std::sync::OnceLock<mck_core::model::Tags> = std::sync::OnceLock::new();
    mck_core::provider::Context {
        stack: "t",
        tags: TAGS.get_or_init(Default::default),
        resolved,
    }
}
