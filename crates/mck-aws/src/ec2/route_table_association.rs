use super::filter;
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::RouteTableAssociation;
use mck_core::model::{LogicalId, ResourceKind, RouteTableAssociationSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

pub(super) fn observe_association(
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
        .with(
            RouteTableAssociationSpec::SUBNET_ID,
            Value::CloudId(subnet.to_string()),
        )
        .with(
            RouteTableAssociationSpec::ROUTE_TABLE_ID,
            Value::CloudId(assoc.route_table_id().unwrap_or_default().to_string()),
        ),
    )
}

/// Renames associations from `rta.<subnet cloud id>` to `rta.<subnet logical id>` once the
/// subnets of the stack have been read (concurrently with the route tables).
pub(super) fn name_associations(tables: &mut [Observed], subnets: &[Observed]) {
    let subnets: std::collections::HashMap<String, LogicalId> = subnets
        .iter()
        .filter(|o| o.kind == ResourceKind::Subnet)
        .map(|o| (o.cloud_id.clone(), o.id.clone()))
        .collect();
    for o in tables
        .iter_mut()
        .filter(|o| o.kind == ResourceKind::RouteTableAssociation)
    {
        if let Some(Value::CloudId(subnet)) =
            o.fields.get(RouteTableAssociationSpec::SUBNET_ID.name)
            && let Some(logical) = subnets.get(subnet)
        {
            o.id = RouteTableAssociationSpec::logical_id(logical);
        }
    }
}

/// The id of `subnet`'s association with route table `rtb`, for a subnet AWS says is already
/// associated; an association with another table is refused, naming it.
async fn current_association(
    ec2: &aws_sdk_ec2::Client,
    subnet: &str,
    rtb: &str,
) -> Result<String, ProviderError> {
    let out = ec2
        .describe_route_tables()
        .filters(filter("association.subnet-id", subnet))
        .send()
        .await
        .map_err(|e| sdk(&format!("find the route table association of {subnet}"), e))?;
    let current = out.route_tables().iter().find_map(|table| {
        table
            .associations()
            .iter()
            .find(|a| a.subnet_id() == Some(subnet))
            .map(|a| (table.route_table_id().unwrap_or_default(), a))
    });
    match current {
        Some((table, a)) if table == rtb => Ok(a
            .route_table_association_id()
            .unwrap_or_default()
            .to_string()),
        Some((table, _)) => Err(ProviderError::invalid(format!(
            "subnet {subnet} is already associated with route table {table}, not {rtb}; \
             disassociate it (aws ec2 disassociate-route-table) or let mck replace the association"
        ))),
        None => Err(ProviderError::new(
            mck_core::provider::ErrorClass::Transient,
            format!(
                "subnet {subnet} is already associated, but the association is not visible yet"
            ),
        )),
    }
}

impl Driver for RouteTableAssociationSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let rtb = ctx.cloud_id(spec.route_table.id())?;
        let subnet = ctx.cloud_id(spec.subnet.id())?;
        let association = match ec2
            .associate_route_table()
            .route_table_id(rtb)
            .subnet_id(subnet)
            .send()
            .await
        {
            Ok(out) => out.association_id().unwrap_or_default().to_string(),
            // A subnet has one association: a create repeated after a lost answer meets the
            // first. Adopted when it is with our table, refused naming the other one.
            Err(e) if e.code() == Some("Resource.AlreadyAssociated") => {
                current_association(ec2, subnet, rtb).await?
            }
            Err(e) => {
                return Err(sdk(
                    &format!("associate {subnet} with route table {rtb}"),
                    e,
                ));
            }
        };
        Ok(
            Observed::new(id.clone(), ResourceKind::RouteTableAssociation, association)
                .with(
                    RouteTableAssociationSpec::SUBNET_ID,
                    Value::CloudId(subnet.to_string()),
                )
                .with(
                    RouteTableAssociationSpec::ROUTE_TABLE_ID,
                    Value::CloudId(rtb.to_string()),
                ),
        )
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
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

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        ec2.disassociate_route_table()
            .association_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("disassociate {} ({})", live.id, live.cloud_id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
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
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mck_core::model::Ref;

    use super::*;
    use crate::testing::{Replay, context, ec2_xml, error_xml};

    /// AssociateRouteTable refusing a subnet already associated, then DescribeRouteTables
    /// showing the association with `table`.
    async fn create_meeting_an_association_with(
        table: &str,
    ) -> (Replay, Result<Observed, ProviderError>) {
        let aws = Replay::new([
            (
                "AssociateRouteTable",
                400,
                error_xml(
                    "Resource.AlreadyAssociated",
                    "the specified association for route table rtb-1 conflicts with an existing association",
                ),
            ),
            (
                "DescribeRouteTables",
                200,
                ec2_xml(
                    "DescribeRouteTables",
                    &format!(
                        "<routeTableSet><item><routeTableId>{table}</routeTableId><associationSet>\
                         <item><routeTableAssociationId>rtbassoc-1</routeTableAssociationId>\
                         <routeTableId>{table}</routeTableId><subnetId>subnet-1</subnetId>\
                         <main>false</main></item></associationSet></item></routeTableSet>"
                    ),
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([
            (
                LogicalId::from("rtb.private.a"),
                Observed::new("rtb.private.a".into(), ResourceKind::RouteTable, "rtb-1"),
            ),
            (
                LogicalId::from("subnet.private.a"),
                Observed::new("subnet.private.a".into(), ResourceKind::Subnet, "subnet-1"),
            ),
        ]);
        let spec = RouteTableAssociationSpec {
            route_table: Ref::new("rtb.private.a"),
            subnet: Ref::new("subnet.private.a"),
        };
        let result = RouteTableAssociationSpec::create(
            &provider,
            &context(&resolved),
            &"rta.subnet.private.a".into(),
            &spec,
        )
        .await;
        (aws, result)
    }

    /// A create repeated after a lost answer meets the first association: adopted.
    #[tokio::test]
    async fn an_association_already_made_with_our_table_is_adopted() {
        let (aws, result) = create_meeting_an_association_with("rtb-1").await;
        assert_eq!(result.unwrap().cloud_id, "rtbassoc-1");
        aws.assert_done();
    }

    #[tokio::test]
    async fn an_association_with_another_table_is_refused_naming_it() {
        let (aws, result) = create_meeting_an_association_with("rtb-9").await;
        let err = result.unwrap_err();
        assert!(err.message.contains("rtb-9"), "{}", err.message);
        aws.assert_done();
    }
}
