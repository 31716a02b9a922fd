use super::*;

/// The record label relative to the zone: `db` for `db.dev.magecloudkit.internal.`.
pub(super) fn label<'a>(record_name: &'a str, zone_name: &str) -> Option<&'a str> {
    let record = record_name.trim_end_matches('.');
    let zone = zone_name.trim_end_matches('.');
    record.strip_suffix(zone).and_then(|l| l.strip_suffix('.'))
}

/// Records cannot be tagged, so each record mck writes has an ownership marker beside it: a TXT
/// record `_mck.<name>` naming the stack and logical id, written and deleted in the same
/// change batch as the record (Route53 applies a batch atomically), like external-dns's TXT
/// registry. A record without a marker of the stack is not mck's: drift reports it as
/// unmanaged and `up` leaves it alone.
pub(super) const MARKER_PREFIX: &str = "_mck.";

pub(super) fn marker_name(record_name: &str) -> String {
    format!("{MARKER_PREFIX}{}", record_name.trim_end_matches('.'))
}

fn marker_value(stack: &str, id: &LogicalId) -> String {
    format!("\"mck:stack={stack} mck:id={id}\"")
}

/// (stack, logical id) of a marker's value.
fn parse_marker(value: &str) -> Option<(String, LogicalId)> {
    let value = value.trim_matches('"');
    let mut stack = None;
    let mut id = None;
    for part in value.split_whitespace() {
        if let Some(s) = part.strip_prefix("mck:stack=") {
            stack = Some(s.to_string());
        } else if let Some(i) = part.strip_prefix("mck:id=") {
            id = Some(LogicalId::new(i));
        }
    }
    stack.zip(id)
}

/// Every record set of a zone, pages followed.
async fn list_all(r53: &Client, zone_id: &str) -> Result<Vec<ResourceRecordSet>, ProviderError> {
    let mut out = Vec::new();
    // Records with the same name and type (weighted, latency…) differ by identifier, so a page
    // may end between them: the next one starts at name, type and identifier.
    let mut next: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut call = r53.list_resource_record_sets().hosted_zone_id(zone_id);
        if let Some((name, rtype, identifier)) = &next {
            call = call
                .start_record_name(name)
                .start_record_type(rtype.clone())
                .set_start_record_identifier(identifier.clone());
        }
        let page = call
            .send()
            .await
            .map_err(|e| sdk(&format!("list records of {zone_id}"), e))?;
        out.extend(page.resource_record_sets().iter().cloned());
        if !page.is_truncated() {
            break;
        }
        next = page
            .next_record_name()
            .zip(page.next_record_type().cloned())
            .map(|(n, t)| {
                (
                    n.to_string(),
                    t,
                    page.next_record_identifier().map(str::to_string),
                )
            });
    }
    Ok(out)
}

/// A zone's records split by ownership: (the stack's, by logical id; the rest). The zone's own
/// SOA and NS at the apex and the markers themselves are neither.
pub(super) async fn read_records(
    r53: &Client,
    zone: &HostedZone,
    stack: &str,
) -> Result<(Vec<Observed>, Vec<ResourceRecordSet>), ProviderError> {
    let zone_id = bare_zone_id(zone.id());
    let sets = list_all(r53, zone_id).await?;
    let owners: std::collections::HashMap<String, (String, LogicalId)> = sets
        .iter()
        .filter(|r| r.r#type() == &RrType::Txt)
        .filter_map(|r| {
            let name = r.name().trim_end_matches('.');
            let target = name.strip_prefix(MARKER_PREFIX)?;
            let owner = r
                .resource_records()
                .iter()
                .find_map(|v| parse_marker(v.value()))?;
            Some((target.to_string(), owner))
        })
        .collect();
    let mut owned = Vec::new();
    let mut others = Vec::new();
    for record in sets {
        let Some(label) = label(record.name(), zone.name()) else {
            continue;
        };
        if label.starts_with(MARKER_PREFIX) {
            continue;
        }
        match owners.get(record.name().trim_end_matches('.')) {
            Some((owner, id)) if owner == stack => {
                owned.push(observe_record(zone_id, id.clone(), &record));
            }
            _ => others.push(record),
        }
    }
    Ok((owned, others))
}

pub(super) fn observe_record(zone_id: &str, id: LogicalId, record: &ResourceRecordSet) -> Observed {
    let name = record.name().trim_end_matches('.');
    let rtype = record.r#type().as_str();
    let values: Vec<Value> = record
        .resource_records()
        .iter()
        .map(|r| Value::Str(r.value().trim_end_matches('.').to_string()))
        .collect();
    Observed::new(
        id,
        ResourceKind::RecordSet,
        format!("{zone_id}|{name}|{rtype}"),
    )
    .with(RecordSetSpec::ZONE_ID, Value::CloudId(zone_id.to_string()))
    .with(RecordSetSpec::NAME, name)
    .with(RecordSetSpec::TYPE, rtype)
    .with(RecordSetSpec::TTL, record.ttl().unwrap_or(0))
    .with(RecordSetSpec::RECORDS, Value::List(values))
    .output(RecordSetSpec::OUT_FQDN, name)
}

// --- records --------------------------------------------------------------------------------
pub(super) fn record_set(
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

/// Sends one change batch (applied atomically by Route53); returns the change id.
pub(super) async fn change(
    r53: &Client,
    zone_id: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
    what: &str,
) -> Result<String, ProviderError> {
    let changes = changes
        .into_iter()
        .map(|(action, set)| {
            Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .map_err(|e| ProviderError::invalid(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
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

pub(super) fn desired_values(
    ctx: &Context<'_>,
    spec: &RecordSetSpec,
) -> Result<Vec<String>, ProviderError> {
    match ctx.resolve(&spec.value)? {
        Value::Str(v) => Ok(vec![v]),
        other => Err(ProviderError::invalid(format!(
            "record {} has no usable value ({other})",
            spec.name
        ))),
    }
}

/// UPSERT: creating and updating are the same call, and a retry after a crash is harmless.
pub(super) async fn upsert(
    r53: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &RecordSetSpec,
) -> Result<Observed, ProviderError> {
    let zone_id = ctx.cloud_id(spec.zone.id())?.to_string();
    let values = desired_values(ctx, spec)?;
    let set = record_set(&spec.name, &spec.record_type, spec.ttl, &values)?;
    let marker = record_set(
        &marker_name(&spec.name),
        "TXT",
        spec.ttl,
        &[marker_value(ctx.stack, id)],
    )?;
    let change_id = change(
        r53,
        &zone_id,
        vec![(ChangeAction::Upsert, set), (ChangeAction::Upsert, marker)],
        &format!("write record {id} ({})", spec.name),
    )
    .await?;
    Ok(Observed::new(
        id.clone(),
        ResourceKind::RecordSet,
        format!("{zone_id}|{}|{}", spec.name, spec.record_type),
    )
    .with(RecordSetSpec::TTL, spec.ttl)
    .with(
        RecordSetSpec::RECORDS,
        Value::List(values.into_iter().map(Value::Str).collect()),
    )
    .output(RecordSetSpec::OUT_FQDN, spec.name.as_str())
    .output(CHANGE, change_id))
}

/// The record named `name` of type `rtype` as it is now, if it exists.
async fn current_record(
    r53: &Client,
    zone_id: &str,
    name: &str,
    rtype: &str,
) -> Result<Option<ResourceRecordSet>, ProviderError> {
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(name)
        .start_record_type(RrType::from(rtype))
        .max_items(1)
        .send()
        .await
        .map_err(|e| sdk(&format!("read record {name} {rtype}"), e))?;
    Ok(out
        .resource_record_sets()
        .iter()
        .find(|r| {
            r.name().trim_end_matches('.') == name.trim_end_matches('.')
                && r.r#type().as_str() == rtype
        })
        .cloned())
}

pub(super) fn split_record_id(cloud_id: &str) -> Result<(&str, &str, &str), ProviderError> {
    let mut parts = cloud_id.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(zone), Some(name), Some(rtype)) => Ok((zone, name, rtype)),
        _ => Err(ProviderError::invalid(format!(
            "internal error: malformed record id {cloud_id}"
        ))),
    }
}

impl Driver for RecordSetSpec {
    const READ_BY: ServiceRead = ServiceRead::Route53;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let r53 = &aws.clients.route53;
        upsert(r53, ctx, id, spec).await
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let r53 = &aws.clients.route53;
        upsert(r53, ctx, &live.id, spec).await
    }

    /// DELETE must repeat the record exactly as it is now, so it is read again first (the
    /// plan's copy may be stale), and its marker goes in the same batch; a record already
    /// gone is deleted. If it changes between the
    /// read and the delete, AWS refuses the batch and the delete reads it again.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let r53 = &aws.clients.route53;
        let (zone_id, name, rtype) = split_record_id(&live.cloud_id)?;
        for _ in 0..3 {
            let Some(set) = current_record(r53, zone_id, name, rtype).await? else {
                return Err(crate::missing("record", &live.cloud_id));
            };
            let mut changes = vec![(ChangeAction::Delete, set)];
            if let Some(marker) = current_record(r53, zone_id, &marker_name(name), "TXT").await? {
                changes.push((ChangeAction::Delete, marker));
            }
            match change(r53, zone_id, changes, &format!("delete record {}", live.id)).await {
                Ok(_) => return Ok(()),
                Err(err) if err.code.as_deref() == Some("InvalidChangeBatch") => {
                    tracing::debug!(record = %live.cloud_id, error = %err.message, "record changed; reading it again");
                }
                Err(err) => return Err(err),
            }
        }
        Err(ProviderError::new(
            mck_core::provider::ErrorClass::Transient,
            format!("record {} kept changing while being deleted", live.cloud_id),
        ))
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let r53 = &aws.clients.route53;
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
                Some(r)
                    if r.name().trim_end_matches('.') == name && r.r#type().as_str() == rtype =>
                {
                    Readiness::Ready(live.clone())
                }
                _ => Readiness::Gone,
            }),
            Err(e) if e.code() == Some("NoSuchHostedZone") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(&format!("read record {}", live.id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_a_cname_without_trailing_dots() {
        let record = ResourceRecordSet::builder()
            .name("db.t.magecloudkit.internal.")
            .r#type(RrType::Cname)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value("t-db.cluster-1.rds.amazonaws.com.")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let spec = RecordSetSpec {
            zone: Ref::new("dns.zone"),
            name: "db.t.magecloudkit.internal".into(),
            record_type: "CNAME".into(),
            ttl: 60,
            value: Value::Str("t-db.cluster-1.rds.amazonaws.com".into()),
            after: Vec::new(),
        };
        let observed = observe_record("Z1", RecordSetSpec::logical_id("db"), &record);
        assert_eq!(observed.id.as_str(), "dns.db");
        assert_reads(&observed, spec, &[("dns.zone", "Z1")]);
    }

    #[tokio::test]
    async fn a_delete_sends_the_record_as_it_is_now_not_as_planned() {
        use crate::testing::Replay;

        let listed = |records: &str| {
            format!(
                "<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ResourceRecordSets>{records}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>"
            )
        };
        let aws = Replay::new([
            (
                "GET /2013-04-01/hostedzone/Z1/rrset",
                200,
                listed("<ResourceRecordSet><Name>db.t.internal.</Name><Type>CNAME</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>new-db.example</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"),
            ),
            // Its ownership marker goes in the same batch.
            (
                "GET /2013-04-01/hostedzone/Z1/rrset",
                200,
                listed("<ResourceRecordSet><Name>_mck.db.t.internal.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>\"mck:stack=t mck:id=dns.db\"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"),
            ),
            (
                "POST /2013-04-01/hostedzone/Z1/rrset",
                200,
                "<ChangeResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status><SubmittedAt>2026-01-01T00:00:00Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>".to_string(),
            ),
            // Already gone: the listing starts at the next record.
            (
                "GET /2013-04-01/hostedzone/Z1/rrset",
                200,
                listed("<ResourceRecordSet><Name>efs.t.internal.</Name><Type>CNAME</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>fs-1.efs</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        // The plan's copy: TTL 60 and the old endpoint.
        let live = Observed::new(
            "dns.db".into(),
            ResourceKind::RecordSet,
            "Z1|db.t.internal|CNAME",
        )
        .with(RecordSetSpec::TTL, 60)
        .with(
            RecordSetSpec::RECORDS,
            Value::List(vec![Value::Str("old-db.example".into())]),
        );
        RecordSetSpec::delete(&provider, &live).await.unwrap();
        let (_, body) = &aws.requests()[2];
        assert!(
            body.contains("<TTL>300</TTL>") && body.contains("new-db.example"),
            "{body}"
        );
        assert_eq!(body.matches("<Action>DELETE</Action>").count(), 2, "{body}");
        assert!(body.contains("<Name>_mck.db.t.internal.</Name>"), "{body}");
        let gone = RecordSetSpec::delete(&provider, &live).await.unwrap_err();
        assert_eq!(gone.class, mck_core::provider::ErrorClass::NotFound);
        aws.assert_done();
    }

    #[tokio::test]
    async fn record_pages_continue_at_the_next_identifier() {
        use crate::testing::Replay;

        let page = |records: &str, next: &str| {
            format!(
                "<ListResourceRecordSetsResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ResourceRecordSets>{records}</ResourceRecordSets>{next}<MaxItems>1</MaxItems></ListResourceRecordSetsResponse>"
            )
        };
        let record = |name: &str| {
            format!(
                "<ResourceRecordSet><Name>{name}.t.internal.</Name><Type>CNAME</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>x</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
            )
        };
        let marker = |name: &str, stack: &str, id: &str| {
            format!(
                "<ResourceRecordSet><Name>_mck.{name}.t.internal.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>\"mck:stack={stack} mck:id={id}\"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
            )
        };
        let aws = Replay::new([
            (
                "GET /2013-04-01/hostedzone/Z1/rrset",
                200,
                page(
                    &format!(
                        "{}{}{}",
                        record("db"),
                        marker("db", "t", "dns.db"),
                        marker("web", "other", "dns.web")
                    ),
                    "<IsTruncated>true</IsTruncated><NextRecordName>web.t.internal.</NextRecordName><NextRecordType>CNAME</NextRecordType><NextRecordIdentifier>blue</NextRecordIdentifier>",
                ),
            ),
            (
                "GET /2013-04-01/hostedzone/Z1/rrset",
                200,
                page(&record("efs"), "<IsTruncated>false</IsTruncated>"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let zone = HostedZone::builder()
            .id("/hostedzone/Z1")
            .name("t.internal.")
            .caller_reference("r")
            .build()
            .unwrap();
        let (owned, others) = read_records(&provider.clients.route53, &zone, "t")
            .await
            .unwrap();
        // Ownership comes from the marker: `db` is the stack's, `efs` has none.
        let owned: Vec<&str> = owned.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(owned, ["dns.db"]);
        let others: Vec<&str> = others.iter().map(|r| r.name()).collect();
        assert_eq!(others, ["efs.t.internal."]);
        aws.assert_done();
        let second = &aws.requests()[1].0;
        assert!(second.contains("identifier=blue"), "{second}");
    }
}
