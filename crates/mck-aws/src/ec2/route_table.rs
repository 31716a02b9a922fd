//! Route tables, with their routes and subnet associations (read in the same describe call).
//!
//! Routes and associations cannot be tagged: they belong to the stack by being in one of its
//! tables. A route's id is `<table id>|<destination>`; an association's is its `rtbassoc-` id.

use super::route::observe_route;
use super::route_table_association::observe_association;
use super::{client_token, filter, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{ResourceType, RouteTable};
use mck_core::model::{LogicalId, ResourceKind, RouteTableSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

/// The table, its managed routes and its subnet associations.
fn observe_table(
    table_id: LogicalId,
    table: &RouteTable,
    subnet_ids: &dyn Fn(&str) -> Option<LogicalId>,
) -> Vec<Observed> {
    let rtb = table.route_table_id().unwrap_or_default();
    let mut out = vec![
        Observed::new(table_id.clone(), ResourceKind::RouteTable, rtb).with(
            RouteTableSpec::VPC_ID,
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

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let pages = ec2
        .describe_route_tables()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    let tables = owned_items(
        pages,
        "list route tables",
        stack,
        |p| p.route_tables().to_vec(),
        |t| t.tags(),
    )
    .await?;
    // Associations are named after their subnet's logical id, which this call does not
    // return: they carry the subnet's cloud id until `name_associations` runs on the full read.
    let by_cloud_id = |subnet: &str| Some(LogicalId::new(subnet));
    Ok(tables
        .iter()
        .flat_map(|(id, t)| observe_table(id.clone(), t, &by_cloud_id))
        .collect())
}

pub(super) async fn describe(ec2: &Client, rtb: &str) -> Result<Option<RouteTable>, ProviderError> {
    let out = ec2
        .describe_route_tables()
        .filters(filter("route-table-id", rtb))
        .send()
        .await
        .map_err(|e| sdk(&format!("describe route table {rtb}"), e))?;
    Ok(out.route_tables().first().cloned())
}

impl Driver for RouteTableSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
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
            .with(RouteTableSpec::VPC_ID, Value::CloudId(vpc.to_string())))
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

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        Ok(match describe(ec2, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(t) => Readiness::Ready(
                Observed::new(live.id.clone(), ResourceKind::RouteTable, &live.cloud_id).with(
                    RouteTableSpec::VPC_ID,
                    Value::CloudId(t.vpc_id().unwrap_or_default().to_string()),
                ),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        Route, RouteTableAssociation, RouteTableAssociationState, RouteTableAssociationStateCode,
    };
    use mck_core::model::{Ref, RouteSpec, RouteTableAssociationSpec, RouteTarget};

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_the_table_its_routes_and_associations_but_not_what_aws_owns() {
        let table = RouteTable::builder()
            .route_table_id("rtb-1")
            .vpc_id("vpc-1")
            .routes(
                Route::builder()
                    .destination_cidr_block("10.0.0.0/16")
                    .gateway_id("local")
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .nat_gateway_id("nat-1")
                    .build(),
            )
            .associations(RouteTableAssociation::builder().main(true).build())
            .associations(
                RouteTableAssociation::builder()
                    .route_table_association_id("rtbassoc-1")
                    .route_table_id("rtb-1")
                    .subnet_id("subnet-1")
                    .association_state(
                        RouteTableAssociationState::builder()
                            .state(RouteTableAssociationStateCode::Associated)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let subnets = |cloud_id: &str| (cloud_id == "subnet-1").then(|| "subnet.private.a".into());
        let observed = observe_table("rt.private.a".into(), &table, &subnets);
        assert_eq!(observed.len(), 3, "{observed:?}");
        let ids = [
            ("vpc", "vpc-1"),
            ("rt.private.a", "rtb-1"),
            ("nat.a", "nat-1"),
            ("subnet.private.a", "subnet-1"),
        ];
        assert_reads(
            &observed[0],
            RouteTableSpec {
                vpc: Ref::new("vpc"),
            },
            &ids,
        );
        assert_eq!(observed[1].id.as_str(), "rt.private.a:0.0.0.0/0");
        assert_reads(
            &observed[1],
            RouteSpec {
                route_table: Ref::new("rt.private.a"),
                destination: "0.0.0.0/0".into(),
                target: RouteTarget::NatGateway(Ref::new("nat.a")),
            },
            &ids,
        );
        assert_eq!(observed[2].id.as_str(), "rta.subnet.private.a");
        assert_reads(
            &observed[2],
            RouteTableAssociationSpec {
                route_table: Ref::new("rt.private.a"),
                subnet: Ref::new("subnet.private.a"),
            },
            &ids,
        );
    }
}
