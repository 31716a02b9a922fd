use super::filter;
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;
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
        if let Some(Value::CloudId(subnet)) =
            o.fields.get(RouteTableAssociationSpec::SUBNET_ID.name)
            && let Some(logical) = subnets.get(subnet)
        {
            o.id = RouteTableAssociationSpec::logical_id(logical);
        }
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
        .with(
            RouteTableAssociationSpec::SUBNET_ID,
            Value::CloudId(subnet.to_string()),
        )
        .with(
            RouteTableAssociationSpec::ROUTE_TABLE_ID,
            Value::CloudId(rtb.to_string()),
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
