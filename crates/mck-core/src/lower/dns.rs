//! Service discovery: the stack's private Route53 zone and the `db.`, `redis-*.`, `efs.`
//! records pointing at the data tier's endpoints.

use super::Lowered;
use super::data::Record;
use crate::graph::Declared;
use crate::model::*;
use crate::stack::Stack;

/// The private zone and one CNAME per record of the tiers below.
pub(super) fn lower(stack: &Stack, out: &mut Lowered, records: Vec<Record>) {
    let cfg = &stack.config;
    let mut add = |id: String, spec: ResourceSpec, at: Declared| {
        out.add(LogicalId::new(id), spec, at);
    };
    if let Some(dns) = &cfg.dns {
        let zone = dns
            .zone
            .clone()
            .unwrap_or_else(|| format!("{}.magecloudkit.internal", stack.name));
        add(
            "dns.zone".into(),
            ResourceSpec::HostedZone(HostedZoneSpec {
                name: zone.clone(),
                vpc: Ref::new("vpc"),
                vpc_region: cfg.region.clone(),
                comment: format!("mck {}: service discovery", stack.name),
            }),
            Declared::at(&["dns"]),
        );
        for (label, value, after) in records {
            add(
                RecordSetSpec::logical_id(&label).to_string(),
                ResourceSpec::RecordSet(RecordSetSpec {
                    zone: Ref::new("dns.zone"),
                    name: format!("{label}.{zone}"),
                    record_type: "CNAME".into(),
                    ttl: dns.ttl,
                    value,
                    after,
                }),
                Declared::at(&["dns"]).with_field(RecordSetSpec::TTL.name, &["dns", "ttl"]),
            );
        }
    }
}
