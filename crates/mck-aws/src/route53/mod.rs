//! Route53: the stack's private hosted zone and its CNAME records.
//!
//! CreateHostedZone takes no tags, so a zone is tagged right after creation. To leave no
//! orphan if mck dies between the two calls, the caller reference names the stack and logical
//! id (`mck/<stack>/<id>/…`): a zone with such a reference is the stack's, tagged or not.
//! Records cannot be tagged: they belong to the stack by being in its zone.

mod record;
mod zone;

use aws_sdk_route53::Client;
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, HostedZone, HostedZoneConfig, ResourceRecord,
    ResourceRecordSet, RrType, Tag, TagResourceType, Vpc, VpcRegion,
};
use mck_core::model::{HostedZoneSpec, LogicalId, RecordSetSpec, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness, Unmanaged};

use crate::AwsProvider;
use crate::driver::Listed;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

use record::*;
use zone::*;

/// Output key holding the id of the last change, for readiness (not shown by `mck outputs`).
const CHANGE: &str = "_change";

fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

fn caller_reference_prefix(stack: &str, id: &LogicalId) -> String {
    format!("mck/{stack}/{id}/")
}

/// The logical id a caller reference names, if it is this stack's.
fn id_from_reference(reference: &str, stack: &str) -> Option<LogicalId> {
    let rest = reference.strip_prefix(&format!("mck/{stack}/"))?;
    let (id, _) = rest.rsplit_once('/')?;
    Some(LogicalId::new(id))
}

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::HostedZone, ResourceKind::RecordSet];

pub(crate) async fn read(r53: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let mut zones = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = r53
            .list_hosted_zones()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| sdk("list hosted zones", e))?;
        zones.extend(out.hosted_zones().iter().cloned());
        if !out.is_truncated() {
            break;
        }
        marker = out.next_marker().map(str::to_string);
    }
    // Ownership: the caller reference names the stack and the logical id (see the module doc).
    let mut out = Vec::new();
    let mut records = Vec::new();
    for zone in zones
        .iter()
        .filter(|z| z.config().is_some_and(|c| c.private_zone()))
    {
        let Some(id) = id_from_reference(zone.caller_reference(), stack) else {
            continue;
        };
        let zone_id = bare_zone_id(zone.id());
        let details = r53
            .get_hosted_zone()
            .id(zone_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("read hosted zone {zone_id}"), e))?;
        let vpc = details
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id())
            .map(str::to_string);
        out.push(observe_zone(id.clone(), zone, vpc));
        records.extend(read_records(r53, zone, stack).await?.0);
    }
    Ok(Listed::default()
        .with(ResourceKind::HostedZone, out)
        .with(ResourceKind::RecordSet, records))
}

/// Records in the stack's zones that carry no marker of the stack (see [`record`]).
pub(crate) async fn read_unmanaged(
    r53: &Client,
    stack: &str,
    owned: &[Observed],
) -> Result<Vec<Unmanaged>, ProviderError> {
    let mut out = Vec::new();
    for zone in owned.iter().filter(|o| o.kind == ResourceKind::HostedZone) {
        let name = zone
            .outputs
            .get(HostedZoneSpec::OUT_NAME)
            .cloned()
            .unwrap_or_default();
        let listed = HostedZone::builder()
            .id(zone.cloud_id.as_str())
            .name(format!("{}.", name.trim_end_matches('.')))
            .caller_reference("")
            .build()
            .map_err(|e| ProviderError::invalid(e.to_string()))?;
        let (_, others) = read_records(r53, &listed, stack).await?;
        for record in others {
            let record_name = record.name().trim_end_matches('.');
            out.push(Unmanaged {
                kind: ResourceKind::RecordSet,
                cloud_id: format!(
                    "{}|{record_name}|{}",
                    bare_zone_id(&zone.cloud_id),
                    record.r#type().as_str()
                ),
                name: Some(format!("{record_name} {}", record.r#type().as_str())),
                inside: zone.id.clone(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_references_name_stack_and_id() {
        let id = LogicalId::new("dns.zone");
        let reference = format!("{}4711", caller_reference_prefix("dev", &id));
        assert_eq!(id_from_reference(&reference, "dev"), Some(id));
        assert_eq!(id_from_reference(&reference, "prod"), None);
        assert_eq!(id_from_reference("terraform-123", "dev"), None);
    }

    #[test]
    fn record_labels_are_relative_to_the_zone() {
        assert_eq!(
            label(
                "db.dev.magecloudkit.internal.",
                "dev.magecloudkit.internal."
            ),
            Some("db")
        );
        assert_eq!(
            label("dev.magecloudkit.internal.", "dev.magecloudkit.internal."),
            None
        );
    }
}
