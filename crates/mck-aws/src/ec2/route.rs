use super::route_table::describe;
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;
use aws_sdk_ec2::types::Route;
use mck_core::model::{LogicalId, ResourceKind, RouteSpec, RouteTarget, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

pub(super) fn observe_route(table_id: &LogicalId, rtb: &str, route: &Route) -> Option<Observed> {
    // The VPC's local route is AWS's, not ours; IPv6 and prefix-list routes are not managed yet.
    let destination = route.destination_cidr_block()?;
    if route.gateway_id() == Some("local") {
        return None;
    }
    let id = RouteSpec::logical_id(table_id, destination);
    let mut o = Observed::new(id, ResourceKind::Route, format!("{rtb}|{destination}"))
        .with(RouteSpec::ROUTE_TABLE_ID, Value::CloudId(rtb.to_string()))
        .with(RouteSpec::DESTINATION_CIDR_BLOCK, destination);
    if let Some(igw) = route.gateway_id() {
        o = o.with(RouteSpec::GATEWAY_ID, Value::CloudId(igw.to_string()));
    }
    if let Some(nat) = route.nat_gateway_id() {
        o = o.with(RouteSpec::NAT_GATEWAY_ID, Value::CloudId(nat.to_string()));
    }
    Some(o)
}

pub(super) fn split_route_id(cloud_id: &str) -> Result<(&str, &str), ProviderError> {
    cloud_id.split_once('|').ok_or_else(|| {
        ProviderError::invalid(format!("internal error: malformed route id {cloud_id}"))
    })
}

impl Driver for RouteSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let rtb = ctx.cloud_id(spec.route_table.id())?;
        let mut call = ec2
            .create_route()
            .route_table_id(rtb)
            .destination_cidr_block(&spec.destination);
        call = match &spec.target {
            RouteTarget::InternetGateway(igw) => call.gateway_id(ctx.cloud_id(igw.id())?),
            RouteTarget::NatGateway(nat) => call.nat_gateway_id(ctx.cloud_id(nat.id())?),
        };
        call.send()
            .await
            .map_err(|e| sdk(&format!("create route {id}"), e))?;
        Ok(Observed::new(
            id.clone(),
            ResourceKind::Route,
            format!("{rtb}|{}", spec.destination),
        ))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let (rtb, destination) = split_route_id(&live.cloud_id)?;
        let mut call = ec2
            .replace_route()
            .route_table_id(rtb)
            .destination_cidr_block(destination);
        call = match &spec.target {
            RouteTarget::InternetGateway(igw) => call.gateway_id(ctx.cloud_id(igw.id())?),
            RouteTarget::NatGateway(nat) => call.nat_gateway_id(ctx.cloud_id(nat.id())?),
        };
        call.send()
            .await
            .map_err(|e| sdk(&format!("replace route {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        let (rtb, destination) = split_route_id(&live.cloud_id)?;
        ec2.delete_route()
            .route_table_id(rtb)
            .destination_cidr_block(destination)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete route {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let (rtb, destination) = split_route_id(&live.cloud_id)?;
        let Some(table) = describe(ec2, rtb).await? else {
            return Ok(Readiness::Gone);
        };
        Ok(
            match table
                .routes()
                .iter()
                .find(|r| r.destination_cidr_block() == Some(destination))
            {
                None => Readiness::Gone,
                // The target is gone (deleted out of band, or failed): waiting will not fix it.
                Some(route) if route.state().map(|s| s.as_str()) == Some("blackhole") => {
                    Readiness::Failed("route is a blackhole: its target no longer exists".into())
                }
                Some(_) => Readiness::Ready(live.clone()),
            },
        )
    }
}
