//! Lowering: a validated [`Stack`] becomes typed resources in a [`DesiredGraph`].
//!
//! Deterministic: the same stack always yields the same logical ids and specs.

use std::collections::HashMap;
use std::time::Duration;

use crate::graph::{DesiredGraph, GraphError};
use crate::model::*;
use crate::stack::{CacheEngine, NatMode, Stack, parse_duration};

/// The security groups of the reference architecture, in display order.
pub const SECURITY_GROUPS: &[(&str, &str)] = &[
    ("alb", "load balancer: HTTP and HTTPS from the internet"),
    ("app", "app servers and ECS tasks"),
    ("bastion", "bastion host: SSH from the allow-list"),
    ("db", "Aurora MySQL"),
    ("redis", "ElastiCache Redis"),
    ("efs", "EFS mount targets"),
];

/// Default readiness timeouts, sized to real AWS.
pub fn default_timeouts() -> (HashMap<ResourceKind, Duration>, Duration) {
    let mut map = HashMap::new();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    map.insert(ResourceKind::NatGateway, minutes(15));
    map.insert(ResourceKind::Instance, minutes(15));
    // Aurora: a cluster ~4 min, an instance ~10 min, slower under load or with snapshots.
    map.insert(ResourceKind::DbCluster, minutes(60));
    map.insert(ResourceKind::DbInstance, minutes(60));
    // ElastiCache replication groups: ~10 min typical, up to an hour with encryption and replicas.
    map.insert(ResourceKind::ReplicationGroup, minutes(75));
    map.insert(ResourceKind::CacheCluster, minutes(75));
    map.insert(ResourceKind::MountTarget, minutes(30));
    map.insert(ResourceKind::FileSystem, minutes(10));
    map.insert(ResourceKind::HostedZone, minutes(10));
    map.insert(ResourceKind::RecordSet, minutes(10));
    (map, minutes(5))
}

/// Turns a stack into its desired graph.
pub fn lower(stack: &Stack) -> Result<DesiredGraph, GraphError> {
    let resources = resources(stack);
    let (mut timeouts, mut default_timeout) = default_timeouts();
    let t = &stack.config.timeouts;
    if let Some(d) = t.default.as_deref().and_then(parse_duration) {
        default_timeout = d;
    }
    if let Some(d) = t.nat_gateway.as_deref().and_then(parse_duration) {
        timeouts.insert(ResourceKind::NatGateway, d);
    }
    if let Some(d) = t.instance.as_deref().and_then(parse_duration) {
        timeouts.insert(ResourceKind::Instance, d);
    }
    let groups: [(&Option<String>, &[ResourceKind]); 4] = [
        (
            &t.database,
            &[ResourceKind::DbCluster, ResourceKind::DbInstance],
        ),
        (
            &t.cache,
            &[
                ResourceKind::ReplicationGroup,
                ResourceKind::CacheCluster,
                ResourceKind::CacheSubnetGroup,
            ],
        ),
        (&t.mount_target, &[ResourceKind::MountTarget]),
        (&t.dns, &[ResourceKind::HostedZone, ResourceKind::RecordSet]),
    ];
    for (value, kinds) in groups {
        if let Some(d) = value.as_deref().and_then(parse_duration) {
            for kind in kinds {
                timeouts.insert(*kind, d);
            }
        }
    }
    DesiredGraph::new(
        &stack.name,
        &stack.config.region,
        stack.config.tags.clone(),
        resources,
        timeouts,
        default_timeout,
    )
}

/// The zone letter used in logical ids: `us-east-1b` -> `b`.
pub fn zone_suffix(zone: &str) -> &str {
    &zone[zone.len().saturating_sub(1)..]
}

fn resources(stack: &Stack) -> Vec<Resource> {
    let cfg = &stack.config;
    let net = &cfg.network;
    let mut out = Vec::new();
    let mut add = |id: String, spec: ResourceSpec| {
        out.push(Resource {
            id: LogicalId::new(id),
            spec,
        })
    };

    add(
        "vpc".into(),
        ResourceSpec::Vpc(VpcSpec {
            cidr: net.cidr.clone(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
        }),
    );
    add(
        "igw".into(),
        ResourceSpec::InternetGateway(InternetGatewaySpec {
            vpc: Ref::new("vpc"),
        }),
    );

    let tiers = net.tiers();
    for (tier, cidrs) in &tiers {
        for (zone, cidr) in net.zones.iter().zip(cidrs) {
            add(
                format!("subnet.{tier}.{}", zone_suffix(zone)),
                ResourceSpec::Subnet(SubnetSpec {
                    vpc: Ref::new("vpc"),
                    cidr: cidr.clone(),
                    zone: zone.clone(),
                    map_public_ip_on_launch: *tier == "public",
                }),
            );
        }
    }

    // Public routing.
    add(
        "rt.public".into(),
        ResourceSpec::RouteTable(RouteTableSpec {
            vpc: Ref::new("vpc"),
        }),
    );
    let rt_public = LogicalId::new("rt.public");
    add(
        RouteSpec::logical_id(&rt_public, "0.0.0.0/0").to_string(),
        ResourceSpec::Route(RouteSpec {
            route_table: Ref::new("rt.public"),
            destination: "0.0.0.0/0".into(),
            target: RouteTarget::InternetGateway(Ref::new("igw")),
        }),
    );

    // NAT gateways.
    let nat_zones: Vec<&str> = match net.nat {
        NatMode::PerZone => net.zones.iter().map(|z| zone_suffix(z)).collect(),
        NatMode::Single => net
            .zones
            .first()
            .map(|z| zone_suffix(z))
            .into_iter()
            .collect(),
        NatMode::None => Vec::new(),
    };
    for z in &nat_zones {
        add(
            format!("eip.nat.{z}"),
            ResourceSpec::ElasticIp(ElasticIpSpec {
                instance: None,
                internet_gateway: Ref::new("igw"),
            }),
        );
        add(
            format!("nat.{z}"),
            ResourceSpec::NatGateway(NatGatewaySpec {
                subnet: Ref::new(format!("subnet.public.{z}")),
                eip: Ref::new(format!("eip.nat.{z}")),
            }),
        );
    }

    // Private routing: one table per zone, default route to that zone's NAT (or the single one).
    for zone in &net.zones {
        let z = zone_suffix(zone);
        let rt = format!("rt.private.{z}");
        add(
            rt.clone(),
            ResourceSpec::RouteTable(RouteTableSpec {
                vpc: Ref::new("vpc"),
            }),
        );
        let nat = if nat_zones.contains(&z) {
            Some(z)
        } else {
            nat_zones.first().copied()
        };
        if let Some(nat) = nat {
            add(
                RouteSpec::logical_id(&LogicalId::new(rt.clone()), "0.0.0.0/0").to_string(),
                ResourceSpec::Route(RouteSpec {
                    route_table: Ref::new(rt.clone()),
                    destination: "0.0.0.0/0".into(),
                    target: RouteTarget::NatGateway(Ref::new(format!("nat.{nat}"))),
                }),
            );
        }
        for (tier, table) in [
            ("public", "rt.public".to_string()),
            ("private", rt.clone()),
            ("data", rt.clone()),
        ] {
            let subnet = LogicalId::new(format!("subnet.{tier}.{z}"));
            add(
                RouteTableAssociationSpec::logical_id(&subnet).to_string(),
                ResourceSpec::RouteTableAssociation(RouteTableAssociationSpec {
                    route_table: Ref::new(table),
                    subnet: Ref::new(subnet.as_str()),
                }),
            );
        }
    }

    // Security groups and their rules.
    for (name, description) in SECURITY_GROUPS {
        add(
            format!("sg.{name}"),
            ResourceSpec::SecurityGroup(SecurityGroupSpec {
                vpc: Ref::new("vpc"),
                group_name: format!("{}-{name}", stack.name),
                description: format!("mck {}: {description}", stack.name),
            }),
        );
    }
    let mut rules: Vec<SecurityGroupRuleSpec> = Vec::new();
    let tcp = |group: &str, port: i32, peer: RulePeer, description: &str| SecurityGroupRuleSpec {
        group: Ref::new(format!("sg.{group}")),
        direction: Direction::Ingress,
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        peer,
        description: description.into(),
    };
    let from_group = |g: &str| RulePeer::Group(Ref::new(format!("sg.{g}")));
    let anywhere = || RulePeer::Cidr("0.0.0.0/0".into());
    rules.push(tcp("alb", 80, anywhere(), "HTTP from the internet"));
    rules.push(tcp("alb", 443, anywhere(), "HTTPS from the internet"));
    rules.push(tcp(
        "app",
        80,
        from_group("alb"),
        "HTTP from the load balancer",
    ));
    rules.push(tcp(
        "app",
        22,
        from_group("bastion"),
        "SSH from the bastion",
    ));
    if let Some(bastion) = &cfg.bastion {
        for cidr in &bastion.ssh_cidrs {
            rules.push(tcp(
                "bastion",
                22,
                RulePeer::Cidr(cidr.clone()),
                "SSH from the allow-list",
            ));
        }
    }
    rules.push(tcp(
        "db",
        3306,
        from_group("app"),
        "MySQL from the app servers",
    ));
    rules.push(tcp(
        "db",
        3306,
        from_group("bastion"),
        "MySQL from the bastion",
    ));
    rules.push(tcp(
        "redis",
        6379,
        from_group("app"),
        "Redis from the app servers",
    ));
    rules.push(tcp(
        "efs",
        2049,
        from_group("app"),
        "NFS from the app servers",
    ));
    for (name, _) in SECURITY_GROUPS {
        rules.push(SecurityGroupRuleSpec {
            group: Ref::new(format!("sg.{name}")),
            direction: Direction::Egress,
            protocol: "-1".into(),
            from_port: 0,
            to_port: 0,
            peer: anywhere(),
            description: String::new(),
        });
    }
    for rule in rules {
        add(
            rule.own_logical_id().to_string(),
            ResourceSpec::SecurityGroupRule(rule),
        );
    }

    // Bastion.
    if let Some(bastion) = cfg.bastion.as_ref().filter(|b| b.enabled)
        && let Some(first_zone) = net.zones.first()
    {
        let z = zone_suffix(first_zone);
        add(
            "bastion".into(),
            ResourceSpec::Instance(InstanceSpec {
                subnet: Ref::new(format!("subnet.public.{z}")),
                security_groups: vec![Ref::new("sg.bastion")],
                instance_type: bastion.instance_type.clone(),
                ami: match &bastion.ami.id {
                    Some(id) => AmiSelector::Id(id.clone()),
                    None => AmiSelector::Lookup {
                        name_pattern: bastion.ami.name.clone(),
                        owner: bastion.ami.owner.clone(),
                    },
                },
                key_name: bastion.key_name.clone(),
                root_volume_gb: bastion.root_volume_gb,
                root_volume_encrypted: true,
                imdsv2_required: true,
            }),
        );
        add(
            "eip.bastion".into(),
            ResourceSpec::ElasticIp(ElasticIpSpec {
                instance: Some(Ref::new("bastion")),
                internet_gateway: Ref::new("igw"),
            }),
        );
    }
    lower_data(stack, &mut out);
    out
}

/// A record to publish: label, value, and the resources to wait for.
type Record = (String, Value, Vec<(ResourceKind, LogicalId)>);

/// The data tier and service discovery.
fn lower_data(stack: &Stack, out: &mut Vec<Resource>) {
    let cfg = &stack.config;
    let zones: Vec<&str> = cfg.network.zones.iter().map(|z| zone_suffix(z)).collect();
    let data_subnets = || {
        zones
            .iter()
            .map(|z| Ref::new(format!("subnet.data.{z}")))
            .collect::<Vec<_>>()
    };
    let mut add = |id: String, spec: ResourceSpec| {
        out.push(Resource {
            id: LogicalId::new(id),
            spec,
        })
    };
    // Records to publish: (label, value, resources to wait for).
    let mut records: Vec<Record> = Vec::new();

    if let Some(db) = &cfg.database {
        add(
            "db.subnets".into(),
            ResourceSpec::DbSubnetGroup(DbSubnetGroupSpec {
                name: format!("{}-db", stack.name),
                description: format!("mck {}: Aurora on the data subnets", stack.name),
                subnets: data_subnets(),
            }),
        );
        if !db.parameters.is_empty() {
            add(
                "db.params".into(),
                ResourceSpec::DbClusterParameterGroup(DbClusterParameterGroupSpec {
                    name: format!("{}-db", stack.name),
                    family: db.parameter_family.clone(),
                    description: format!("mck {}: Aurora cluster parameters", stack.name),
                    parameters: db.parameters.clone(),
                }),
            );
        }
        let cluster: Ref<kind::DbCluster> = Ref::new("db.cluster");
        add(
            "db.cluster".into(),
            ResourceSpec::DbCluster(DbClusterSpec {
                identifier: format!("{}-db", stack.name),
                engine: "aurora-mysql".into(),
                engine_version: db.engine_version.clone(),
                database_name: db.database_name.clone(),
                master_username: db.master_username.clone(),
                subnet_group: Ref::new("db.subnets"),
                parameter_group: (!db.parameters.is_empty()).then(|| Ref::new("db.params")),
                security_groups: vec![Ref::new("sg.db")],
                storage_encrypted: true,
                backup_retention_days: db.backup_retention_days,
                deletion_protection: db.deletion_protection,
                final_snapshot: db.final_snapshot,
            }),
        );
        let mut instances = Vec::new();
        for n in 1..=db.instances {
            let zone_idx = usize::try_from(n - 1).unwrap_or(0) % cfg.network.zones.len().max(1);
            let id = format!("db.instance.{n}");
            instances.push((ResourceKind::DbInstance, LogicalId::new(id.clone())));
            add(
                id,
                ResourceSpec::DbInstance(DbInstanceSpec {
                    identifier: format!("{}-db-{n}", stack.name),
                    cluster: cluster.clone(),
                    instance_class: db.instance_class.clone(),
                    engine: "aurora-mysql".into(),
                    availability_zone: cfg.network.zones[zone_idx].clone(),
                    promotion_tier: n - 1,
                }),
            );
        }
        records.push(("db".into(), cluster.output("endpoint"), instances.clone()));
        records.push(("db-ro".into(), cluster.output("reader_endpoint"), instances));
    }

    if !cfg.caches.is_empty() {
        add(
            "cache.subnets".into(),
            ResourceSpec::CacheSubnetGroup(CacheSubnetGroupSpec {
                name: format!("{}-cache", stack.name),
                description: format!("mck {}: ElastiCache on the data subnets", stack.name),
                subnets: data_subnets(),
            }),
        );
    }
    for (name, cache) in &cfg.caches {
        match cache.engine {
            CacheEngine::Redis => {
                let id = format!("redis.{name}");
                let failover = cache.replicas >= 1;
                add(
                    id.clone(),
                    ResourceSpec::ReplicationGroup(ReplicationGroupSpec {
                        id: format!("{}-{name}", stack.name),
                        description: format!("mck {}: Redis {name}", stack.name),
                        engine_version: cache
                            .engine_version
                            .clone()
                            .unwrap_or_else(|| "7.1".into()),
                        node_type: cache.node_type.clone(),
                        num_cache_clusters: 1 + cache.replicas,
                        automatic_failover: failover,
                        multi_az: failover,
                        at_rest_encryption: true,
                        transit_encryption: true,
                        subnet_group: Ref::new("cache.subnets"),
                        security_groups: vec![Ref::new("sg.redis")],
                        port: 6379,
                    }),
                );
                let target: Ref<kind::ReplicationGroup> = Ref::new(id);
                records.push((
                    format!("redis-{name}"),
                    target.output("primary_endpoint"),
                    Vec::new(),
                ));
            }
            CacheEngine::Memcached => {
                let id = format!("memcached.{name}");
                add(
                    id.clone(),
                    ResourceSpec::CacheCluster(CacheClusterSpec {
                        id: format!("{}-{name}", stack.name),
                        engine_version: cache.engine_version.clone(),
                        node_type: cache.node_type.clone(),
                        num_nodes: cache.nodes,
                        subnet_group: Ref::new("cache.subnets"),
                        security_groups: vec![Ref::new("sg.redis")],
                        port: 11211,
                    }),
                );
                let target: Ref<kind::CacheCluster> = Ref::new(id);
                records.push((
                    format!("memcached-{name}"),
                    target.output("endpoint"),
                    Vec::new(),
                ));
            }
        }
    }

    if let Some(fs) = &cfg.filesystem {
        add(
            "efs".into(),
            ResourceSpec::FileSystem(FileSystemSpec {
                creation_token: format!("{}-efs", stack.name),
                encrypted: true,
                performance_mode: fs.performance_mode.clone(),
                backup: fs.backup,
            }),
        );
        let mut mounts = Vec::new();
        for z in &zones {
            let id = format!("efs.mount.{z}");
            mounts.push((ResourceKind::MountTarget, LogicalId::new(id.clone())));
            add(
                id,
                ResourceSpec::MountTarget(MountTargetSpec {
                    file_system: Ref::new("efs"),
                    subnet: Ref::new(format!("subnet.private.{z}")),
                    security_groups: vec![Ref::new("sg.efs")],
                }),
            );
        }
        for ap in &fs.access_points {
            add(
                format!("efs.ap.{ap}"),
                ResourceSpec::AccessPoint(AccessPointSpec {
                    file_system: Ref::new("efs"),
                    path: format!("/{ap}"),
                    uid: fs.uid,
                    gid: fs.gid,
                    permissions: "0755".into(),
                }),
            );
        }
        let efs: Ref<kind::FileSystem> = Ref::new("efs");
        records.push(("efs".into(), efs.output("dns_name"), mounts));
    }

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
            );
        }
    }
}
