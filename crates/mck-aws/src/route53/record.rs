use super::*;

/// The record label relative to the zone: `db` for `db.dev.magecloudkit.internal.`.
pub(super) fn label<'a>(record_name: &'a str, zone_name: &str) -> Option<&'a str> {
    let record = record_name.trim_end_matches('.');
    let zone = zone_name.trim_end_matches('.');
    record.strip_suffix(zone).and_then(|l| l.strip_suffix('.'))
}

pub(super) async fn read_records(
    r53: &Client,
    zone: &HostedZone,
) -> Result<Vec<Observed>, ProviderError> {
    let zone_id = bare_zone_id(zone.id());
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

pub(super) fn observe_record(zone_id: &str, label: &str, record: &ResourceRecordSet) -> Observed {
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

pub(super) async fn change(
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
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let r53 = &aws.route53;
        upsert(r53, ctx, id, spec).await
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let r53 = &aws.route53;
        upsert(r53, ctx, &live.id, spec).await
    }

    /// DELETE must repeat the record exactly as it is now, so it is read again first (the
    /// plan's copy may be stale); a record already gone is deleted. If it changes between the
    /// read and the delete, AWS refuses the batch and the delete reads it again.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let r53 = &aws.route53;
        let (zone_id, name, rtype) = split_record_id(&live.cloud_id)?;
        for _ in 0..3 {
            let Some(set) = current_record(r53, zone_id, name, rtype).await? else {
                return Err(crate::missing("record", &live.cloud_id));
            };
            match change(
                r53,
                zone_id,
                ChangeAction::Delete,
                set,
                &format!("delete record {}", live.id),
            )
            .await
            {
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
        let r53 = &aws.route53;
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
        let observed = observe_record("Z1", "db", &record);
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
        let (_, body) = &aws.requests()[1];
        assert!(
            body.contains("<TTL>300</TTL>") && body.contains("new-db.example"),
            "{body}"
        );
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
        let aws = Replay::new([
            (
                "GET /2013-04-01/hostedzone/Z1/rrset",
                200,
                page(
                    &record("db"),
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
        let read = read_records(&provider.route53, &zone).await.unwrap();
        assert_eq!(read.len(), 2);
        aws.assert_done();
        let second = &aws.requests()[1].0;
        assert!(second.contains("identifier=blue"), "{second}");
    }
}
