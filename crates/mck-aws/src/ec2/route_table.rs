//! Route tables, with their routes and subnet associations (read in the same describe call).
//!
//! Routes and associations cannot be tagged: they belong to the stack by being in one of its
//! tables. A route's id is `<table id>|<destination>`; an association's is its `rtbassoc-` id.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ResourceType, Route, RouteTable, RouteTableAssociation};
use mck_core::model::{
    LogicalId, ResourceKind, RouteSpec, RouteTableAssociationSpec, RouteTableSpec, RouteTarget,
    Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{client_token, filter, owned_id, stack_filter, tag_spec};
use crate::error::sdk;

/// The table, its managed routes and its subnet associations.
fn observe_table(
    table_id: LogicalId,
    table: &RouteTable,
    subnet_ids: &dyn Fn(&str) -> Option<LogicalId>,
) -> Vec<Observed> {
    let rtb = table.route_table_id().unwrap_or_default();
    let mut out = vec![
        Observed::new(table_id.clone(), ResourceKind::RouteTable, rtb).with(
            "vpc_id",
            Value::CloudId(table.vpc_id().unwrap_or_default().to_string()),
        ),
    ];
    for route in table.routes() {
        if let Some(o) = observe_route(&table_id, rtb, route) {
            out.push(o);
        }
    }
    for assoc in table.associations() {
        if let Some(o) = observe_association(assoc, subnet_ids) {
            out.push(o);
        }
    }
    out
}

fn observe_route(table_id: &LogicalId, rtb: &str, route: &Route) -> Option<Observed> {
    // The VPC's local route is AWS's, not ours; IPv6 and prefix-list routes are not managed yet.
    let destination = route.destination_cidr_block()?;
    if route.gateway_id() == Some("local") {
        return None;
    }
    let id = RouteSpec::logical_id(table_id, destination);
    let mut o = Observed::new(id, ResourceKind::Route, format!("{rtb}|{destination}"))
        .with("route_table_id", Value::CloudId(rtb.to_string()))
        .with("destination_cidr_block", destination);
    if let Some(igw) = route.gateway_id() {
        o = o.with("gateway_id", Value::CloudId(igw.to_string()));
    }
    if let Some(nat) = route.nat_gateway_id() {
        o = o.with("nat_gateway_id", Value::CloudId(nat.to_string()));
    }
    Some(o)
}

fn observe_association(
    assoc: &RouteTableAssociation,
    subnet_ids: &dyn Fn(&str) -> Option<LogicalId>,
) -> Option<Observed> {
    if assoc.main() == Some(true) {
        return None;
    }
    let state = assoc
        .association_state()
        .and_then(|s| s.state())
        .map(|s| s.as_str());
    if matches!(state, Some("disassociating" | "disassociated" | "failed")) {
        return None;
    }
    let subnet = assoc.subnet_id()?;
    // Named after the subnet; a subnet of another stack in our table keeps its raw id.
    let subnet_logical = subnet_ids(subnet).unwrap_or_else(|| LogicalId::new(subnet));
    Some(
        Observed::new(
            RouteTableAssociationSpec::logical_id(&subnet_logical),
            ResourceKind::RouteTableAssociation,
            assoc.route_table_association_id().unwrap_or_default(),
        )
        .with("subnet_id", Value::CloudId(subnet.to_string()))
        .with(
            "route_table_id",
            Value::CloudId(assoc.route_table_id().unwrap_or_default().to_string()),
        ),
    )
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut tables = Vec::new();
    let mut pages = ec2
        .describe_route_tables()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list route tables", e))?;
        tables.extend(
            page.route_tables()
                .iter()
                .filter_map(|t| Some((owned_id(t.tags(), stack)?, t.clone()))),
        );
    }
    // Associations are named after their subnet's logical id, which this call does not
    // return: they carry the subnet's cloud id until `name_associations` runs on the full read.
    let by_cloud_id = |subnet: &str| Some(LogicalId::new(subnet));
    Ok(tables
        .iter()
        .flat_map(|(id, t)| observe_table(id.clone(), t, &by_cloud_id))
        .collect())
}

/// Renames associations from `rta.<subnet cloud id>` to `rta.<subnet logical id>` once the
/// subnets of the stack have been read (concurrently with the route tables).
pub(super) fn name_associations(all: &mut [Observed]) {
    let subnets: std::collections::HashMap<String, LogicalId> = all
        .iter()
        .filter(|o| o.kind == ResourceKind::Subnet)
        .map(|o| (o.cloud_id.clone(), o.id.clone()))
        .collect();
    for o in all
        .iter_mut()
        .filter(|o| o.kind == ResourceKind::RouteTableAssociation)
    {
        if let Some(Value::CloudId(subnet)) = o.fields.get("subnet_id")
            && let Some(logical) = subnets.get(subnet)
        {
            o.id = RouteTableAssociationSpec::logical_id(logical);
        }
    }
}

pub(super) async fn create(
    ec2: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &RouteTableSpec,
) -> Result<Observed, ProviderError> {
    let vpc = ctx.cloud_id(spec.vpc.id())?;
    let out = ec2
        .create_route_table()
        .vpc_id(vpc)
        .client_token(client_token(ctx, id, &[vpc]))
        .tag_specifications(tag_spec(ResourceType::RouteTable, ctx, id))
        .send()
        .await
        .map_err(|e| sdk(&format!("create route table {id}"), e))?;
    let rtb = out
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default();
    Ok(Observed::new(id.clone(), ResourceKind::RouteTable, rtb)
        .with("vpc_id", Value::CloudId(vpc.to_string())))
}

pub(super) async fn delete(ec2: &Client, live: &Observed) -> Result<(), ProviderError> {
    ec2.delete_route_table()
        .route_table_id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!("delete route table {} ({})", live.id, live.cloud_id),
                e,
            )
        })?;
    Ok(())
}

async fn describe(ec2: &Client, rtb: &str) -> Result<Option<RouteTable>, ProviderError> {
    let out = ec2
        .describe_route_tables()
        .filters(filter("route-table-id", rtb))
        .send()
        .await
        .map_err(|e| sdk(&format!("describe route table {rtb}"), e))?;
    Ok(out.route_tables().first().cloned())
}

pub(super) async fn poll(ec2: &Client, live: &Observed) -> Result<Readiness, ProviderError> {
    Ok(match describe(ec2, &live.cloud_id).await? {
        None => Readiness::Gone,
        Some(t) => Readiness::Ready(
            Observed::new(live.id.clone(), ResourceKind::RouteTable, &live.cloud_id).with(
                "vpc_id",
                Value::CloudId(t.vpc_id().unwrap_or_default().to_string()),
            ),
        ),
    })
}

// --- routes ---------------------------------------------------------------------------------

fn split_route_id(cloud_id: &str) -> Result<(&str, &str), ProviderError> {
    cloud_id.split_once('|').ok_or_else(|| {
        ProviderError::invalid(format!("internal error: malformed route id {cloud_id}"))
    })
}

pub(super) async fn create_route(
    ec2: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &RouteSpec,
) -> Result<Observed, ProviderError> {
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

pub(super) async fn update_route(
    ec2: &Client,
    ctx: &Context<'_>,
    spec: &RouteSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
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

pub(super) async fn delete_route(ec2: &Client, live: &Observed) -> Result<(), ProviderError> {
    let (rtb, destination) = split_route_id(&live.cloud_id)?;
    ec2.delete_route()
        .route_table_id(rtb)
        .destination_cidr_block(destination)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete route {}", live.id), e))?;
    Ok(())
}

pub(super) async fn poll_route(ec2: &Client, live: &Observed) -> Result<Readiness, ProviderError> {
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

// --- associations ---------------------------------------------------------------------------

pub(super) async fn create_association(
    ec2: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &RouteTableAssociationSpec,
) -> Result<Observed, ProviderError> {
    let rtb = ctx.cloud_id(spec.route_table.id())?;
    let subnet = ctx.cloud_id(spec.subnet.id())?;
    let out = ec2
        .associate_route_table()
        .route_table_id(rtb)
        .subnet_id(subnet)
        .send()
        .await
        .map_err(|e| sdk(&format!("associate {subnet} with route table {rtb}"), e))?;
    Ok(Observed::new(
        id.clone(),
        ResourceKind::RouteTableAssociation,
        out.association_id().unwrap_or_default(),
    )
    .with("subnet_id", Value::CloudId(subnet.to_string()))
    .with("route_table_id", Value::CloudId(rtb.to_string())))
}

pub(super) async fn update_association(
    ec2: &Client,
    ctx: &Context<'_>,
    spec: &RouteTableAssociationSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    let rtb = ctx.cloud_id(spec.route_table.id())?;
    let out = ec2
        .replace_route_table_association()
        .association_id(&live.cloud_id)
        .route_table_id(rtb)
        .send()
        .await
        .map_err(|e| sdk(&format!("move {} to route table {rtb}", live.id), e))?;
    // Replacing an association gives it a new id.
    let mut o = live.clone();
    o.cloud_id = out
        .new_association_id()
        .unwrap_or(&live.cloud_id)
        .to_string();
    o.fields
        .insert("route_table_id".into(), Value::CloudId(rtb.to_string()));
    Ok(o)
}

pub(super) async fn delete_association(ec2: &Client, live: &Observed) -> Result<(), ProviderError> {
    ec2.disassociate_route_table()
        .association_id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("disassociate {} ({})", live.id, live.cloud_id), e))?;
    Ok(())
}

pub(super) async fn poll_association(
    ec2: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
    let out = ec2
        .describe_route_tables()
        .filters(filter(
            "association.route-table-association-id",
            &live.cloud_id,
        ))
        .send()
        .await
        .map_err(|e| sdk(&format!("describe association {}", live.cloud_id), e))?;
    let assoc = out
        .route_tables()
        .iter()
        .flat_map(|t| t.associations())
        .find(|a| a.route_table_association_id() == Some(live.cloud_id.as_str()));
    let state = assoc
        .and_then(|a| a.association_state())
        .and_then(|s| s.state())
        .map(|s| s.as_str().to_string());
    Ok(match (assoc, state.as_deref()) {
        (None, _) | (Some(_), Some("disassociated")) => Readiness::Gone,
        (Some(_), Some("associating" | "disassociating")) => {
            Readiness::Pending(state.unwrap_or_default())
        }
        (Some(_), Some("failed")) => Readiness::Failed("association failed".into()),
        (Some(_), _) => Readiness::Ready(live.clone()),
    })
}
