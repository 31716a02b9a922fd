use super::*;

pub(super) fn observe_zone(id: LogicalId, zone: &HostedZone, vpc: Option<String>) -> Observed {
    let zone_id = bare_zone_id(zone.id());
    Observed::new(id, ResourceKind::HostedZone, zone_id)
        .with(HostedZoneSpec::NAME, zone.name().trim_end_matches('.'))
        .with(
            HostedZoneSpec::VPC_ID,
            vpc.map_or(Value::Null, Value::CloudId),
        )
        .with(
            HostedZoneSpec::COMMENT,
            zone.config().and_then(|c| c.comment()).unwrap_or_default(),
        )
        .output(HostedZoneSpec::OUT_ZONE_ID, zone_id)
        .output(HostedZoneSpec::OUT_NAME, zone.name().trim_end_matches('.'))
}

impl Driver for HostedZoneSpec {
    const READ_BY: ServiceRead = ServiceRead::Route53;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let r53 = &aws.clients.route53;
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
        // The zone exists (the caller reference names it as ours even untagged): the tagging
        // is retried on its own and the create is never repeated.
        aws.follow_up(|| async {
            r53.change_tags_for_resource()
                .resource_type(TagResourceType::Hostedzone)
                .resource_id(&zone_id)
                .set_add_tags(Some(tags.clone()))
                .send()
                .await
                .map_err(|e| sdk(&format!("tag hosted zone {id}"), e))
        })
        .await
        .map_err(|e| e.after_create(&zone_id))?;
        Ok(observe_zone(id.clone(), zone, Some(vpc_id.to_string())))
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let r53 = &aws.clients.route53;
        r53.update_hosted_zone_comment()
            .id(&live.cloud_id)
            .comment(&spec.comment)
            .send()
            .await
            .map_err(|e| sdk(&format!("update comment of {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let r53 = &aws.clients.route53;
        r53.delete_hosted_zone()
            .id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete hosted zone {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let r53 = &aws.clients.route53;
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
}

#[cfg(test)]
mod tests {
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_name_vpc_and_comment() {
        let zone = HostedZone::builder()
            .id("/hostedzone/Z1")
            .name("t.magecloudkit.internal.")
            .caller_reference("mck/t/dns.zone/1")
            .config(
                HostedZoneConfig::builder()
                    .comment("mck t: service discovery")
                    .private_zone(true)
                    .build(),
            )
            .build()
            .unwrap();
        let spec = HostedZoneSpec {
            name: "t.magecloudkit.internal".into(),
            vpc: Ref::new("vpc"),
            vpc_region: "us-east-1".into(),
            comment: "mck t: service discovery".into(),
        };
        let observed = observe_zone("dns.zone".into(), &zone, Some("vpc-1".into()));
        assert_reads(&observed, spec, &[("vpc", "vpc-1")]);
        assert_eq!(observed.cloud_id, "Z1");
    }
}
