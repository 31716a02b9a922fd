//! Route53: the stack's private hosted zone and its CNAME records.
//!
//! CreateHostedZone takes no tags, so a zone is tagged right after creation. To leave no
//! orphan if mck dies between the two calls, the caller reference names the stack and logical
//! id (`mck/<stack>/<id>/…`): a zone with such a reference is the stack's, tagged or not.
//! Records cannot be tagged: they belong to the stack by being in its zone.

use aws_sdk_route53::Client;
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, HostedZone, HostedZoneConfig, ResourceRecord,
    ResourceRecordSet, RrType, Tag, TagResourceType, Vpc, VpcRegion,
};
use mck_core::model::{HostedZoneSpec, LogicalId, RecordSetSpec, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::error::sdk;

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

pub(crate) async fn read(r53: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
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
        out.extend(read_records(r53, zone).await?);
    }
    Ok(out)
}

fn observe_zone(id: LogicalId, zone: &HostedZone, vpc: Option<String>) -> Observed {
    let zone_id = bare_zone_id(zone.id());
    Observed::new(id, ResourceKind::HostedZone, zone_id)
        .with("name", zone.name().trim_end_matches('.'))
        .with("vpc_id", vpc.map_or(Value::Null, Value::CloudId))
        .with(
            "comment",
            zone.config().and_then(|c| c.comment()).unwrap_or_default(),
        )
        .output("zone_id", zone_id)
        .output("name", zone.name().trim_end_matches('.'))
}

/// The record label relative to the zone: `db` for `db.dev.magecloudkit.internal.`.
fn label<'a>(record_name: &'a str, zone_name: &str) -> Option<&'a str> {
    let record = record_name.trim_end_matches('.');
    let zone = zone_name.trim_end_matches('.');
    record.strip_suffix(zone).and_then(|l| l.strip_suffix('.'))
}

async fn read_records(r53: &Client, zone: &HostedZone) -> Result<Vec<Observed>, ProviderError> {
    let zone_id = bare_zone_id(zone.id());
    let mut out = Vec::new();
    let mut next: Option<(String, RrType)> = None;
    loop {
        let mut call = r53.list_resource_record_sets().hosted_zone_id(zone_id);
        if let Some((name, rtype)) = &next {
            call = call
                .start_record_name(name)
                .start_record_type(rtype.clone());
        }
        let page = call
            .send()
            .await
            .map_err(|e| sdk(&format!("list records of {zone_id}"), e))?;
        for record in page.resource_record_sets() {
            // SOA and NS at the apex are the zone's own.
            let Some(label) = label(record.name(), zone.name()) else {
                continue;
            };
            out.push(observe_record(zone_id, label, record));
        }
        if !page.is_truncated() {
            break;
        }
        next = page
            .next_record_name()
            .zip(page.next_record_type().cloned())
            .map(|(n, t)| (n.to_string(), t));
    }
    Ok(out)
}

fn observe_record(zone_id: &str, label: &str, record: &ResourceRecordSet) -> Observed {
    let name = record.name().trim_end_matches('.');
    let rtype = record.r#type().as_str();
    let values: Vec<Value> = record
        .resource_records()
        .iter()
        .map(|r| Value::Str(r.value().trim_end_matches('.').to_string()))
        .collect();
    Observed::new(
        RecordSetSpec::logical_id(label),
        ResourceKind::RecordSet,
        format!("{zone_id}|{name}|{rtype}"),
    )
    .with("zone_id", Value::CloudId(zone_id.to_string()))
    .with("name", name)
    .with("type", rtype)
    .with("ttl", record.ttl().unwrap_or(0))
    .with("records", Value::List(values))
    .output("fqdn", name)
}

pub(crate) async fn create_zone(
    r53: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &HostedZoneSpec,
) -> Result<Observed, ProviderError> {
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 3600)
        .unwrap_or(0);
    let reference = format!("{}{hour}", caller_reference_prefix(ctx.stack, id));
    let vpc_id = ctx.cloud_id(spec.vpc.id())?;
    let out = r53
        .create_hosted_zone()
        .name(&spec.name)
        .caller_reference(&reference)
        .hosted_zone_config(
            HostedZoneConfig::builder()
                .private_zone(true)
                .comment(&spec.comment)
                .build(),
        )
        .vpc(
            Vpc::builder()
                .vpc_id(vpc_id)
                .vpc_region(VpcRegion::from(spec.vpc_region.as_str()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk(&format!("create hosted zone {id} ({})", spec.name), e))?;
    let zone = out
        .hosted_zone()
        .ok_or_else(|| ProviderError::invalid("create hosted zone returned nothing"))?;
    let zone_id = bare_zone_id(zone.id()).to_string();
    let tags: Vec<Tag> = ctx
        .tags_for(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    r53.change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(&zone_id)
        .set_add_tags(Some(tags))
        .send()
        .await
        .map_err(|e| sdk(&format!("tag hosted zone {id}"), e))?;
    Ok(observe_zone(id.clone(), zone, Some(vpc_id.to_string())))
}

pub(crate) async fn update_zone(
    r53: &Client,
    spec: &HostedZoneSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    r53.update_hosted_zone_comment()
        .id(&live.cloud_id)
        .comment(&spec.comment)
        .send()
        .await
        .map_err(|e| sdk(&format!("update comment of {}", live.id), e))?;
    Ok(live.clone())
}

pub(crate) async fn delete_zone(r53: &Client, live: &Observed) -> Result<(), ProviderError> {
    r53.delete_hosted_zone()
        .id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete hosted zone {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_zone(r53: &Client, live: &Observed) -> Result<Readiness, ProviderError> {
    match r53.get_hosted_zone().id(&live.cloud_id).send().await {
        Ok(out) => Ok(match out.hosted_zone() {
            Some(zone) => {
                let vpc = out
                    .vpcs()
                    .first()
                    .and_then(|v| v.vpc_id())
                    .map(str::to_string);
                Readiness::Ready(observe_zone(live.id.clone(), zone, vpc))
            }
            None => Readiness::Gone,
        }),
        Err(e) if e.code() == Some("NoSuchHostedZone") => Ok(Readiness::Gone),
        Err(e) => Err(sdk(&format!("read hosted zone {}", live.cloud_id), e)),
    }
}

// --- records --------------------------------------------------------------------------------

fn record_set(
    name: &str,
    rtype: &str,
    ttl: i64,
    values: &[String],
) -> Result<ResourceRecordSet, ProviderError> {
    let records = values
        .iter()
        .map(|v| ResourceRecord::builder().value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ProviderError::invalid(e.to_string()))?;
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::from(rtype))
        .ttl(ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(|e| ProviderError::invalid(e.to_string()))
}

async fn change(
    r53: &Client,
    zone_id: &str,
    action: ChangeAction,
    set: ResourceRecordSet,
    what: &str,
) -> Result<String, ProviderError> {
    let change = Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| ProviderError::invalid(e.to_string()))?;
    let batch = ChangeBatch::builder()
        .changes(change)
        .build()
        .map_err(|e| ProviderError::invalid(e.to_string()))?;
    let out = r53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| sdk(what, e))?;
    Ok(out
        .change_info()
        .map(|c| c.id().to_string())
        .unwrap_or_default())
}

fn desired_values(ctx: &Context<'_>, spec: &RecordSetSpec) -> Result<Vec<String>, ProviderError> {
    match ctx.resolve(&spec.value)? {
        Value::Str(v) => Ok(vec![v]),
        other => Err(ProviderError::invalid(format!(
            "record {} has no usable value ({other})",
            spec.name
        ))),
    }
}

/// UPSERT: creating and updating are the same call, and a retry after a crash is harmless.
async fn upsert(
    r53: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &RecordSetSpec,
) -> Result<Observed, ProviderError> {
    let zone_id = ctx.cloud_id(spec.zone.id())?.to_string();
    let values = desired_values(ctx, spec)?;
    let set = record_set(&spec.name, &spec.record_type, spec.ttl, &values)?;
    let change_id = change(
        r53,
        &zone_id,
        ChangeAction::Upsert,
        set,
        &format!("write record {id} ({})", spec.name),
    )
    .await?;
    Ok(Observed::new(
        id.clone(),
        ResourceKind::RecordSet,
        format!("{zone_id}|{}|{}", spec.name, spec.record_type),
    )
    .with("ttl", spec.ttl)
    .with(
        "records",
        Value::List(values.into_iter().map(Value::Str).collect()),
    )
    .output("fqdn", spec.name.as_str())
    .output(CHANGE, change_id))
}

pub(crate) async fn create_record(
    r53: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &RecordSetSpec,
) -> Result<Observed, ProviderError> {
    upsert(r53, ctx, id, spec).await
}

pub(crate) async fn update_record(
    r53: &Client,
    ctx: &Context<'_>,
    spec: &RecordSetSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    upsert(r53, ctx, &live.id, spec).await
}

fn split_record_id(cloud_id: &str) -> Result<(&str, &str, &str), ProviderError> {
    let mut parts = cloud_id.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(zone), Some(name), Some(rtype)) => Ok((zone, name, rtype)),
        _ => Err(ProviderError::invalid(format!(
            "internal error: malformed record id {cloud_id}"
        ))),
    }
}

pub(crate) async fn delete_record(r53: &Client, live: &Observed) -> Result<(), ProviderError> {
    let (zone_id, name, rtype) = split_record_id(&live.cloud_id)?;
    // DELETE must repeat the record exactly as it is.
    let ttl = match live.fields.get("ttl") {
        Some(Value::Int(ttl)) => *ttl,
        _ => 60,
    };
    let values: Vec<String> = match live.fields.get("records") {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let set = record_set(name, rtype, ttl, &values)?;
    change(
        r53,
        zone_id,
        ChangeAction::Delete,
        set,
        &format!("delete record {}", live.id),
    )
    .await?;
    Ok(())
}

pub(crate) async fn poll_record(r53: &Client, live: &Observed) -> Result<Readiness, ProviderError> {
    if let Some(change_id) = live.outputs.get(CHANGE).filter(|c| !c.is_empty()) {
        let out = r53
            .get_change()
            .id(change_id.trim_start_matches("/change/"))
            .send()
            .await
            .map_err(|e| sdk(&format!("read change {change_id}"), e))?;
        let status = out.change_info().map(|c| c.status().clone());
        return Ok(match status {
            Some(ChangeStatus::Insync) => Readiness::Ready(live.clone()),
            Some(other) => Readiness::Pending(other.as_str().to_string()),
            None => Readiness::Pending("unknown".into()),
        });
    }
    // Deletes: gone when the name no longer lists.
    let (zone_id, name, rtype) = split_record_id(&live.cloud_id)?;
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(name)
        .start_record_type(RrType::from(rtype))
        .max_items(1)
        .send()
        .await;
    match out {
        Ok(out) => Ok(match out.resource_record_sets().first() {
            Some(r) if r.name().trim_end_matches('.') == name && r.r#type().as_str() == rtype => {
                Readiness::Ready(live.clone())
            }
            _ => Readiness::Gone,
        }),
        Err(e) if e.code() == Some("NoSuchHostedZone") => Ok(Readiness::Gone),
        Err(e) => Err(sdk(&format!("read record {}", live.id), e)),
    }
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
