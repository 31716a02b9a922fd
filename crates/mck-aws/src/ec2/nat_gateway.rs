//! NAT gateways, one per zone or a single one, each with its own Elastic IP.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{NatGateway, NatGatewayState, ResourceType};
use mck_core::model::{LogicalId, NatGatewaySpec, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{client_token, filter, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

fn observe(id: LogicalId, nat: &NatGateway) -> Observed {
    let o = observe_fields(id, nat);
    match nat.state() {
        Some(state @ NatGatewayState::Pending) => o.pending(state.as_str()),
        _ => o,
    }
}

fn observe_fields(id: LogicalId, nat: &NatGateway) -> Observed {
    let allocation = nat
        .nat_gateway_addresses()
        .first()
        .and_then(|a| a.allocation_id());
    let public_ip = nat
        .nat_gateway_addresses()
        .first()
        .and_then(|a| a.public_ip());
    Observed::new(
        id,
        ResourceKind::NatGateway,
        nat.nat_gateway_id().unwrap_or_default(),
    )
    .with(
        NatGatewaySpec::SUBNET_ID,
        Value::CloudId(nat.subnet_id().unwrap_or_default().to_string()),
    )
    .with(
        NatGatewaySpec::ALLOCATION_ID,
        allocation.map_or(Value::Null, |a| Value::CloudId(a.to_string())),
    )
    .output(NatGatewaySpec::OUT_PUBLIC_IP, public_ip.unwrap_or_default())
}

/// Deleted and failed gateways linger in describe output for an hour; they are not live.
fn is_live(nat: &NatGateway) -> bool {
    matches!(
        nat.state(),
        Some(NatGatewayState::Pending | NatGatewayState::Available)
    )
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let pages = ec2
        .describe_nat_gateways()
        .filter(stack_filter(stack))
        .into_paginator()
        .send();
    // The emulator ignores tag filters on NAT gateways: `owned_items` checks ownership too.
    let nats = owned_items(
        pages,
        "list NAT gateways",
        stack,
        |p| {
            p.nat_gateways()
                .iter()
                .filter(|n| is_live(n))
                .cloned()
                .collect()
        },
        |n| n.tags(),
    )
    .await?;
    Ok(nats.iter().map(|(id, n)| observe(id.clone(), n)).collect())
}

impl Driver for NatGatewaySpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let subnet = ctx.cloud_id(spec.subnet.id())?;
        let allocation = ctx.cloud_id(spec.eip.id())?;
        // A token whose gateway failed or was deleted replays that gateway for about an hour:
        // the next try mints a new token from the dead gateway's id (deterministic, so a run
        // killed here and re-run follows the same tokens).
        let mut params: Vec<String> = vec![subnet.to_string(), allocation.to_string()];
        params.extend(
            ctx.tags_for(id)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        for _ in 0..3 {
            let token_params: Vec<&str> = params.iter().map(String::as_str).collect();
            let out = ec2
                .create_nat_gateway()
                .subnet_id(subnet)
                .allocation_id(allocation)
                .client_token(client_token(ctx, id, &token_params))
                .tag_specifications(tag_spec(ResourceType::Natgateway, ctx, id))
                .send()
                .await
                .map_err(|e| sdk(&format!("create NAT gateway {id}"), e))?;
            let nat = out
                .nat_gateway()
                .ok_or_else(|| ProviderError::invalid("create NAT gateway returned nothing"))?;
            let dead = matches!(
                nat.state(),
                Some(
                    NatGatewayState::Failed | NatGatewayState::Deleted | NatGatewayState::Deleting
                )
            );
            if !dead {
                return Ok(observe(id.clone(), nat));
            }
            let dead = nat.nat_gateway_id().unwrap_or_default();
            tracing::debug!(
                nat = dead,
                "the client token replayed a failed or deleted NAT gateway"
            );
            params.push(format!("after:{dead}"));
        }
        Err(ProviderError::invalid(format!(
            "creating {id} kept returning failed NAT gateways; try again later"
        )))
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(live.kind))
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        ec2.delete_nat_gateway()
            .nat_gateway_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| {
                sdk(
                    &format!("delete NAT gateway {} ({})", live.id, live.cloud_id),
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
        let out = ec2
            .describe_nat_gateways()
            .filter(filter("nat-gateway-id", &live.cloud_id))
            .send()
            .await
            .map_err(|e| sdk(&format!("describe NAT gateway {}", live.cloud_id), e))?;
        let Some(nat) = out.nat_gateways().first() else {
            return Ok(Readiness::Gone);
        };
        Ok(match nat.state() {
            Some(NatGatewayState::Available) => Readiness::Ready(observe(live.id.clone(), nat)),
            Some(NatGatewayState::Deleted) => Readiness::Gone,
            Some(NatGatewayState::Failed) => Readiness::Failed(format!(
                "NAT gateway failed: {}",
                nat.failure_message().unwrap_or("no reason given")
            )),
            Some(state) => Readiness::Pending(state.as_str().to_string()),
            None => Readiness::Pending("unknown".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::NatGatewayAddress;
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_subnet_and_allocation() {
        let nat = NatGateway::builder()
            .nat_gateway_id("nat-1")
            .subnet_id("subnet-1")
            .nat_gateway_addresses(
                NatGatewayAddress::builder()
                    .allocation_id("eipalloc-1")
                    .public_ip("203.0.113.8")
                    .build(),
            )
            .build();
        let spec = NatGatewaySpec {
            subnet: Ref::new("subnet.public.a"),
            eip: Ref::new("eip.nat.a"),
        };
        assert_reads(
            &observe("nat.a".into(), &nat),
            spec,
            &[("subnet.public.a", "subnet-1"), ("eip.nat.a", "eipalloc-1")],
        );
    }

    #[tokio::test]
    async fn a_token_that_replays_a_failed_gateway_is_replaced_by_a_new_one() {
        use std::collections::HashMap;

        use crate::testing::{Replay, context, ec2_xml};

        let nat = |id: &str, state: &str| {
            ec2_xml(
                "CreateNatGateway",
                &format!(
                    "<natGateway><natGatewayId>{id}</natGatewayId><subnetId>subnet-1</subnetId><state>{state}</state></natGateway>"
                ),
            )
        };
        let aws = Replay::new([
            ("CreateNatGateway", 200, nat("nat-old", "failed")),
            ("CreateNatGateway", 200, nat("nat-new", "pending")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([
            (
                LogicalId::from("subnet.public.a"),
                Observed::new("subnet.public.a".into(), ResourceKind::Subnet, "subnet-1"),
            ),
            (
                LogicalId::from("eip.nat.a"),
                Observed::new("eip.nat.a".into(), ResourceKind::ElasticIp, "eipalloc-1"),
            ),
        ]);
        let spec = NatGatewaySpec {
            subnet: Ref::new("subnet.public.a"),
            eip: Ref::new("eip.nat.a"),
        };
        let live = NatGatewaySpec::create(&provider, &context(&resolved), &"nat.a".into(), &spec)
            .await
            .unwrap();
        assert_eq!(live.cloud_id, "nat-new");
        aws.assert_done();
        let token = |body: &str| {
            body.split('&')
                .find_map(|kv| kv.strip_prefix("ClientToken="))
                .unwrap()
                .to_string()
        };
        let requests = aws.requests();
        assert_ne!(token(&requests[0].1), token(&requests[1].1));
    }

    #[test]
    fn a_pending_gateway_reads_as_pending() {
        let nat = NatGateway::builder()
            .nat_gateway_id("nat-1")
            .subnet_id("subnet-1")
            .state(NatGatewayState::Pending)
            .build();
        assert_eq!(
            observe("nat.a".into(), &nat).pending.as_deref(),
            Some("pending")
        );
        let nat = NatGateway::builder()
            .nat_gateway_id("nat-1")
            .state(NatGatewayState::Available)
            .build();
        assert_eq!(observe("nat.a".into(), &nat).pending, None);
    }
}
