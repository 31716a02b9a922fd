//! Lowering: a validated [`Stack`] becomes typed resources in a [`DesiredGraph`].
//!
//! Deterministic: the same stack always yields the same logical ids and specs. One module per
//! tier: `network`, `data`, `dns` (service discovery for the data tier), `app`, `alarms` (the
//! operations tier).

use std::collections::HashMap;
use std::time::Duration;

use crate::graph::{Declared, DesiredGraph, GraphError};
use crate::model::{LogicalId, Resource, ResourceKind, ResourceSpec};
use crate::stack::{Stack, parse_duration};

mod alarms;
mod app;
mod backup;
mod data;

pub use app::TASK_EXECUTION_POLICY;
mod dns;
mod install;
mod login;
mod network;
mod workers;

pub use install::{ADMIN_SECRET_ID, TASKDEF_ID as INSTALL_TASKDEF_ID, install_script};
pub use login::{ADMIN_TASKDEF_ID, ROTATE_TASKDEF_ID, SECRET_ID as DB_LOGIN_SECRET_ID};
pub use workers::{CRON_SERVICE, worker_service};

/// The security groups of the reference architecture, in display order: name, description,
/// and the stack section whose resources they serve (where drift locates them).
pub const SECURITY_GROUPS: &[(&str, &str, &str)] = &[
    (
        "alb",
        "load balancer: HTTP and HTTPS from the internet",
        "alb",
    ),
    ("app", "app servers and ECS tasks", "app"),
    (
        "bastion",
        "bastion host: SSH from the allow-list",
        "bastion",
    ),
    ("db", "Aurora MySQL", "database"),
    ("redis", "ElastiCache Redis", "caches"),
    ("efs", "EFS mount targets", "filesystem"),
];

/// Turns a stack into its desired graph.
pub fn lower(stack: &Stack) -> Result<DesiredGraph, GraphError> {
    let lowered = resources(stack);
    Ok(DesiredGraph::new(
        &stack.name,
        &stack.config.region,
        stack.config.tags.clone(),
        lowered.resources,
        timeouts(stack),
    )?
    .with_declarations(lowered.declared))
}

/// The resources made so far, each with the stack key it came from: resources are added only
/// through [`Lowered::add`], so none lacks a location.
#[derive(Default)]
struct Lowered {
    resources: Vec<Resource>,
    declared: HashMap<LogicalId, Declared>,
}

impl Lowered {
    /// Adds a resource declared `at` a path of stack keys.
    fn add(&mut self, id: LogicalId, spec: ResourceSpec, at: Declared) {
        self.declared.insert(id.clone(), at);
        self.resources.push(Resource { id, spec });
    }
}

/// Read access for the tiers that look at what earlier tiers made.
impl std::ops::Deref for Lowered {
    type Target = [Resource];

    fn deref(&self) -> &[Resource] {
        &self.resources
    }
}

/// The stack's timeout overrides. Each key covers some kinds; `default` covers the kinds no
/// other key names. Kinds without an override keep [`ResourceKind::default_timeout`].
fn timeouts(stack: &Stack) -> HashMap<ResourceKind, Duration> {
    use ResourceKind::*;
    let t = &stack.config.timeouts;
    let keyed: [(&Option<String>, &[ResourceKind]); 9] = [
        (&t.nat_gateway, &[NatGateway]),
        (&t.instance, &[Instance]),
        (&t.database, &[DbCluster, DbInstance]),
        (
            &t.cache,
            &[ReplicationGroup, CacheCluster, CacheSubnetGroup],
        ),
        (&t.mount_target, &[MountTarget]),
        (&t.dns, &[HostedZone, RecordSet]),
        (&t.migration, &[ReleaseTask]),
        (&t.search, &[SearchDomain]),
        (&t.queue, &[MqBroker]),
    ];
    let mut map = HashMap::new();
    if let Some(d) = t.default.as_deref().and_then(parse_duration) {
        for &kind in ResourceKind::ALL {
            if !keyed.iter().any(|(_, kinds)| kinds.contains(&kind)) {
                map.insert(kind, d);
            }
        }
    }
    for (value, kinds) in keyed {
        if let Some(d) = value.as_deref().and_then(parse_duration) {
            for kind in kinds {
                map.insert(*kind, d);
            }
        }
    }
    map
}

/// The zone letter used in logical ids: `us-east-1b` -> `b`.
pub fn zone_suffix(zone: &str) -> &str {
    &zone[zone.len().saturating_sub(1)..]
}

/// A preview `pr-1` of the shipped stage stack, with an empty database or a clone of stage's.
#[cfg(test)]
pub(crate) fn preview_of_stage(empty_db: bool) -> Stack {
    let of = crate::stack::PreviewOf {
        from: "stage".into(),
        cidr: "10.100.0.0/16".into(),
        created_by: "t".into(),
        created: 0,
        expires: 0,
        empty_db,
    };
    crate::stack::load_preview(std::path::Path::new("../../stacks"), "pr-1", &of, &[]).unwrap()
}

/// A lowered resource's spec by logical id (the tier modules' tests).
#[cfg(test)]
fn spec_of(resources: &[Resource], id: &str) -> ResourceSpec {
    resources
        .iter()
        .find(|r| r.id.as_str() == id)
        .unwrap_or_else(|| panic!("no {id}"))
        .spec
        .clone()
}

fn resources(stack: &Stack) -> Lowered {
    let mut out = Lowered::default();
    network::lower(stack, &mut out);
    let records = data::lower(stack, &mut out);
    dns::lower(stack, &mut out, records);
    app::lower(stack, &mut out);
    alarms::lower(stack, &mut out);
    backup::lower(stack, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::stack::parse_str;

    /// Every reference lowering produces is one its kind declares in `Kind::REFERENCES`, which
    /// orders deletes of resources the graph no longer describes; and every resource has the
    /// stack key it came from, for drift's locations.
    #[test]
    fn declared_references_cover_every_lowered_dependency() {
        let mut graphs: Vec<DesiredGraph> = ["dev", "stage", "prod"]
            .iter()
            .map(|name| {
                lower(&crate::stack::load(Path::new("../../stacks"), name).unwrap()).unwrap()
            })
            .collect();
        let memcached = "version: 1\nnetwork:\n  zones: [us-east-1a, us-east-1b]\ndatabase:\n  parameters: {max_connections: '500'}\ncaches:\n  cache: {engine: memcached}\nfilesystem: {}\ndns: {}\n";
        graphs.push(lower(&parse_str("t", "t.yaml", memcached).unwrap()).unwrap());
        let mut seen = std::collections::BTreeSet::new();
        for graph in &graphs {
            for resource in graph.iter() {
                seen.insert(resource.kind());
                // Drift locates findings where lowering found the resource.
                assert!(
                    graph
                        .declared_at(&resource.id)
                        .is_some_and(|declared| !declared.path(None).is_empty()),
                    "{} ({}) has no declaring stack key",
                    resource.id,
                    resource.kind()
                );
                for (kind, dep) in resource.spec.dependencies() {
                    assert!(
                        resource.kind().referenced_kinds().contains(&kind),
                        "{} ({}) references {dep} ({kind}), which its Kind::REFERENCES omits",
                        resource.id,
                        resource.kind()
                    );
                }
            }
        }
        // The stacks above exercise every kind, so the check covers them all.
        assert_eq!(seen.len(), ResourceKind::ALL.len(), "{seen:?}");
    }
}
