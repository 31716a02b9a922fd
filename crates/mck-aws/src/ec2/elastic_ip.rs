//! Elastic IPs: for NAT gateways (unassociated here; the NAT claims them) and for the bastion
//! (associated with the instance, so replacing the instance keeps the address).

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use mck_core::model::{ElasticIpSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{filter, owned_id, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead, finish_earlier};
use crate::error::sdk;

fn observe(id: LogicalId, address: &Address) -> Observed {
    // The emulator reports an empty string for "no instance".
    let instance = address
        .instance_id()
        .filter(|i| !i.is_empty())
        .map_or(Value::Null, |i| Value::CloudId(i.to_string()));
    Observed::new(
        id,
        ResourceKind::ElasticIp,
        address.allocation_id().unwrap_or_default(),
    )
    .with(ElasticIpSpec::INSTANCE_ID, instance)
    .output(
        ElasticIpSpec::OUT_PUBLIC_IP,
        address.public_ip().unwrap_or_default(),
    )
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    // DescribeAddresses is not paginated.
    let out = ec2
        .describe_addresses()
        .filters(stack_filter(stack))
        .send()
        .await
        .map_err(|e| sdk("list Elastic IPs", e))?;
    Ok(out
        .addresses()
        .iter()
        .filter_map(|a| Some(observe(owned_id(a.tags(), stack)?, a)))
        .collect())
}

async fn associate(ec2: &Client, allocation: &str, instance: &str) -> Result<(), ProviderError> {
    ec2.associate_address()
        .allocation_id(allocation)
        .instance_id(instance)
        .allow_reassociation(true)
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!("associate Elastic IP {allocation} with {instance}"),
                e,
            )
        })?;
    Ok(())
}

async fn describe(ec2: &Client, allocation: &str) -> Result<Option<Address>, ProviderError> {
    let out = ec2
        .describe_addresses()
        .filters(filter("allocation-id", allocation))
        .send()
        .await
        .map_err(|e| sdk(&format!("describe Elastic IP {allocation}"), e))?;
    Ok(out.addresses().first().cloned())
}

/// Disassociates the address from its instance. An association already gone is done: as a
/// "not found" it would otherwise read as the address itself being gone, and a delete would
/// never delete it.
async fn disassociate(ec2: &Client, address: &Address) -> Result<(), ProviderError> {
    if let Some(association) = address.association_id() {
        match ec2
            .disassociate_address()
            .association_id(association)
            .send()
            .await
            .map_err(|e| sdk(&format!("disassociate Elastic IP {association}"), e))
        {
            Ok(_) => {}
            Err(err) if err.class == mck_core::provider::ErrorClass::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

impl Driver for ElasticIpSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let found = read(ec2, ctx.stack).await?;
        if let Some(earlier) = finish_earlier(aws, ctx, id, spec, found).await? {
            return Ok(earlier);
        }
        let out = ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(tag_spec(ResourceType::ElasticIp, ctx, id))
            .send()
            .await
            .map_err(|e| sdk(&format!("allocate Elastic IP {id}"), e))?;
        let allocation = out.allocation_id().unwrap_or_default().to_string();
        let mut live = Observed::new(id.clone(), ResourceKind::ElasticIp, allocation).output(
            ElasticIpSpec::OUT_PUBLIC_IP,
            out.public_ip().unwrap_or_default(),
        );
        if let Some(instance) = &spec.instance {
            // AllocateAddress takes no client token: the association is retried on its own
            // (the instance may not be visible to it yet).
            let instance_id = ctx.cloud_id(instance.id())?;
            aws.follow_up(|| associate(ec2, &live.cloud_id, instance_id))
                .await
                .map_err(|e| e.after_create(&live.cloud_id))?;
            live = live.with(
                ElasticIpSpec::INSTANCE_ID,
                Value::CloudId(ctx.cloud_id(instance.id())?.to_string()),
            );
        }
        Ok(live)
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        match &spec.instance {
            Some(instance) => {
                let instance_id = ctx.cloud_id(instance.id())?;
                aws.retried(|| associate(ec2, &live.cloud_id, instance_id))
                    .await?;
            }
            None => {
                if let Some(address) = describe(ec2, &live.cloud_id).await? {
                    disassociate(ec2, &address).await?;
                }
            }
        }
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        let Some(address) = describe(ec2, &live.cloud_id).await? else {
            return Ok(());
        };
        // An instance's address is disassociated first. One still held by a NAT gateway that is
        // being deleted fails with InvalidIPAddress.InUse, a dependency the executor retries.
        if address.instance_id().is_some_and(|i| !i.is_empty()) {
            disassociate(ec2, &address).await?;
        }
        ec2.release_address()
            .allocation_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| {
                sdk(
                    &format!("delete Elastic IP {} ({})", live.id, live.cloud_id),
                    e,
                )
            })?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        Ok(match describe(ec2, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(address) => Readiness::Ready(observe(live.id.clone(), &address)),
        })
    }
}

#[cfg(test)]
mod tests {
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_the_associated_instance() {
        let address = Address::builder()
            .allocation_id("eipalloc-1")
            .instance_id("i-1")
            .public_ip("203.0.113.7")
            .build();
        let spec = ElasticIpSpec {
            instance: Some(Ref::new("bastion")),
            internet_gateway: Ref::new("igw"),
        };
        let observed = observe("eip.bastion".into(), &address);
        assert_reads(&observed, spec, &[("bastion", "i-1")]);
        assert_eq!(observed.outputs["public_ip"], "203.0.113.7");
    }

    #[test]
    fn an_empty_instance_id_is_no_instance() {
        let address = Address::builder()
            .allocation_id("eipalloc-2")
            .instance_id("")
            .build();
        let spec = ElasticIpSpec {
            instance: None,
            internet_gateway: Ref::new("igw"),
        };
        assert_reads(&observe("eip.nat.a".into(), &address), spec, &[]);
    }

    #[tokio::test]
    async fn the_association_right_after_allocation_waits_for_the_instance() {
        use std::collections::HashMap;

        use crate::testing::{Replay, context, ec2_xml, error_xml};

        let aws = Replay::new([
            (
                "DescribeAddresses",
                200,
                ec2_xml("DescribeAddresses", "<addressesSet/>"),
            ),
            (
                "AllocateAddress",
                200,
                ec2_xml(
                    "AllocateAddress",
                    "<allocationId>eipalloc-1</allocationId><publicIp>203.0.113.7</publicIp><domain>vpc</domain>",
                ),
            ),
            (
                "AssociateAddress",
                400,
                error_xml(
                    "InvalidInstanceID.NotFound",
                    "The instance ID 'i-1' does not exist",
                ),
            ),
            (
                "AssociateAddress",
                200,
                ec2_xml(
                    "AssociateAddress",
                    "<associationId>eipassoc-1</associationId>",
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([
            (
                LogicalId::from("bastion"),
                Observed::new("bastion".into(), ResourceKind::Instance, "i-1"),
            ),
            (
                LogicalId::from("igw"),
                Observed::new("igw".into(), ResourceKind::InternetGateway, "igw-1"),
            ),
        ]);
        let spec = ElasticIpSpec {
            instance: Some(Ref::new("bastion")),
            internet_gateway: Ref::new("igw"),
        };
        let observed =
            ElasticIpSpec::create(&provider, &context(&resolved), &"eip.bastion".into(), &spec)
                .await
                .unwrap();
        assert_eq!(observed.cloud_id, "eipalloc-1");
        aws.assert_done();
        assert_eq!(aws.count("AllocateAddress"), 1);
    }

    #[tokio::test]
    async fn an_association_already_gone_does_not_stop_the_delete() {
        use crate::testing::{Replay, ec2_xml, error_xml};

        let aws = Replay::new([
            (
                "DescribeAddresses",
                200,
                ec2_xml(
                    "DescribeAddresses",
                    "<addressesSet><item><allocationId>eipalloc-1</allocationId><instanceId>i-1</instanceId><associationId>eipassoc-1</associationId><publicIp>203.0.113.7</publicIp></item></addressesSet>",
                ),
            ),
            (
                "DisassociateAddress",
                400,
                error_xml(
                    "InvalidAssociationID.NotFound",
                    "The association ID 'eipassoc-1' does not exist",
                ),
            ),
            (
                "ReleaseAddress",
                200,
                ec2_xml("ReleaseAddress", "<return>true</return>"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let live = Observed::new("eip.bastion".into(), ResourceKind::ElasticIp, "eipalloc-1");
        ElasticIpSpec::delete(&provider, &live).await.unwrap();
        aws.assert_done();
    }
}
