//! IAM: the roles the apps' tasks run with, owned by their path `/mck/<stack>/` (a read is one
//! paginated list plus two calls per role: IAM returns neither policies nor tags in lists).

mod instance_profile;
mod role;

use crate::driver::Listed;
use aws_sdk_iam::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::Role, ResourceKind::InstanceProfile];

pub(crate) async fn read(iam: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let (roles, profiles) =
        tokio::try_join!(role::read(iam, stack), instance_profile::read(iam, stack))?;
    Ok(Listed::default()
        .with(ResourceKind::Role, roles)
        .with(ResourceKind::InstanceProfile, profiles))
}

/// Decodes the percent-encoding IAM applies to policy documents in its answers.
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        match bytes[idx] {
            b'%' if idx + 2 < bytes.len() => {
                match u8::from_str_radix(&text[idx + 1..idx + 3], 16) {
                    Ok(b) => {
                        out.push(b);
                        idx += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        idx += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                idx += 1;
            }
            b => {
                out.push(b);
                idx += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A policy document as JSON, whether IAM sent it percent-encoded (AWS) or not (the emulator).
fn policy_json(document: &str) -> Option<serde_json::Value> {
    serde_json::from_str(document)
        .ok()
        .or_else(|| serde_json::from_str(&url_decode(document)).ok())
}

/// A JSON string or list of strings as a list.
fn strings(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_are_read_encoded_or_not() {
        let plain = r#"{"Statement":[{"Principal":{"Service":"ecs-tasks.amazonaws.com"}}]}"#;
        let encoded = "%7B%22Statement%22%3A%5B%7B%22Principal%22%3A%7B%22Service%22%3A%22ecs-tasks.amazonaws.com%22%7D%7D%5D%7D";
        assert_eq!(policy_json(plain), policy_json(encoded));
        assert!(policy_json(encoded).is_some());
    }
}
