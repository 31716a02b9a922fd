//! The data tier: Aurora MySQL, the Redis (or memcached) caches, EFS with mount targets and
//! access points, the OpenSearch domain and the RabbitMQ broker with their generated logins.

use super::{Lowered, zone_suffix};
use crate::graph::Declared;
use crate::model::*;
use crate::stack::{CacheEngine, QueueDeployment, Stack};

/// A record to publish: label, value, and the resources to wait for.
pub(super) type Record = (String, Value, Vec<(ResourceKind, LogicalId)>);

/// Aurora, the caches and EFS; returns the records that service discovery publishes for them.
pub(super) fn lower(stack: &Stack, out: &mut Lowered) -> Vec<Record> {
    let cfg = &stack.config;
    let zones: Vec<&str> = cfg.network.zones.iter().map(|z| zone_suffix(z)).collect();
    let data_subnets = || {
        zones
            .iter()
            .map(|z| Ref::new(format!("subnet.data.{z}")))
            .collect::<Vec<_>>()
    };
    let mut add = |id: String, spec: ResourceSpec, at: Declared| {
        out.add(LogicalId::new(id), spec, at);
    };
    // The database's resources; the fields with a key of their own point at it.
    let database = || {
        Declared::at(&["database"])
            .with_field(
                DbClusterSpec::BACKUP_RETENTION_PERIOD.name,
                &["database", "backup_retention_days"],
            )
            .with_field(
                DbClusterSpec::DELETION_PROTECTION.name,
                &["database", "deletion_protection"],
            )
            .with_field(
                DbInstanceSpec::INSTANCE_CLASS.name,
                &["database", "instance_class"],
            )
            .with_field(
                DbClusterSpec::ENGINE_VERSION.name,
                &["database", "engine_version"],
            )
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
            database(),
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
                database(),
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
                master_rotation_days: db.master_rotation_days,
                clone_of: stack.database_source(),
            }),
            database(),
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
                database(),
            );
        }
        records.push((
            "db".into(),
            cluster.output(DbClusterSpec::OUT_ENDPOINT),
            instances.clone(),
        ));
        records.push((
            "db-ro".into(),
            cluster.output(DbClusterSpec::OUT_READER_ENDPOINT),
            instances,
        ));
    }

    if !cfg.caches.is_empty() {
        add(
            "cache.subnets".into(),
            ResourceSpec::CacheSubnetGroup(CacheSubnetGroupSpec {
                name: format!("{}-cache", stack.name),
                description: format!("mck {}: ElastiCache on the data subnets", stack.name),
                subnets: data_subnets(),
            }),
            Declared::at(&["caches"]),
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
                    Declared::at(&["caches", name.as_str()]),
                );
                let target: Ref<kind::ReplicationGroup> = Ref::new(id);
                records.push((
                    format!("redis-{name}"),
                    target.output(ReplicationGroupSpec::OUT_PRIMARY_ENDPOINT),
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
                    Declared::at(&["caches", name.as_str()]),
                );
                let target: Ref<kind::CacheCluster> = Ref::new(id);
                records.push((
                    format!("memcached-{name}"),
                    target.output(CacheClusterSpec::OUT_ENDPOINT),
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
            Declared::at(&["filesystem"]),
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
                Declared::at(&["filesystem"]),
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
                Declared::at(&["filesystem", "access_points"]),
            );
        }
        let efs: Ref<kind::FileSystem> = Ref::new("efs");
        records.push((
            "efs".into(),
            efs.output(FileSystemSpec::OUT_DNS_NAME),
            mounts,
        ));
    }
    records.extend(search_and_queue(stack, out));
    records
}

/// The user name of the search domain's master user and of the broker's user.
pub(super) const SERVICE_USER: &str = "magento";

/// Characters the generated passwords leave out: Amazon MQ refuses `,`, `:` and `=`; the rest
/// would need escaping in a URI or a shell (`/`, `@`, quotes, backslash, backtick, `%`, `#`).
pub(super) const PASSWORD_EXCLUDES: &str = ",:=/@\"'\\`%#?&";

/// A security group of the data tier admitting `port` from the app tier only, with the
/// allow-all egress AWS gives every new group (declared, so it is not read as a stray rule).
fn app_only_group(
    stack: &Stack,
    out: &mut Lowered,
    name: &str,
    description: &str,
    port: i32,
    section: &str,
) {
    let sg: Ref<kind::SecurityGroup> = Ref::new(format!("sg.{name}"));
    out.add(
        LogicalId::new(format!("sg.{name}")),
        ResourceSpec::SecurityGroup(SecurityGroupSpec {
            vpc: Ref::new("vpc"),
            group_name: format!("{}-{name}", stack.name),
            description: format!("mck {}: {description}", stack.name),
        }),
        Declared::at(&[section]),
    );
    for rule in [
        SecurityGroupRuleSpec {
            group: sg.clone(),
            direction: Direction::Ingress,
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            peer: RulePeer::Group(Ref::new("sg.app")),
            description: format!("{description} from the app tier"),
        },
        SecurityGroupRuleSpec {
            group: sg,
            direction: Direction::Egress,
            protocol: "-1".into(),
            from_port: 0,
            to_port: 0,
            peer: RulePeer::Cidr("0.0.0.0/0".into()),
            description: String::new(),
        },
    ] {
        out.add(
            rule.own_logical_id(),
            ResourceSpec::SecurityGroupRule(rule),
            Declared::at(&[section]),
        );
    }
}

/// The OpenSearch domain and the RabbitMQ broker, each with its generated login in a secret and
/// a security group admitting only the app tier; returns their records.
fn search_and_queue(stack: &Stack, out: &mut Lowered) -> Vec<Record> {
    let cfg = &stack.config;
    let zones: Vec<&str> = cfg.network.zones.iter().map(|z| zone_suffix(z)).collect();
    let mut records = Vec::new();
    let secret = |service: &str, what: &str| SecretSpec {
        name: format!("mck/{}/{service}", stack.name),
        description: format!("mck {}: the {what} login (generated)", stack.name),
        username: SERVICE_USER.into(),
        password_length: 32,
        exclude_characters: PASSWORD_EXCLUDES.into(),
        rotation_days: None,
    };

    if let Some(search) = &cfg.search {
        app_only_group(stack, out, "search", "OpenSearch HTTPS", 443, "search");
        out.add(
            LogicalId::new("secret.search"),
            secret("search", "OpenSearch master user").into(),
            Declared::at(&["search"]),
        );
        let zone_count = SearchDomainSpec::zone_count_for(search.instances, zones.len());
        let declared = Declared::at(&["search"])
            .with_field(
                SearchDomainSpec::ENGINE_VERSION.name,
                &["search", "engine_version"],
            )
            .with_field(
                SearchDomainSpec::INSTANCE_TYPE.name,
                &["search", "instance_type"],
            )
            .with_field(
                SearchDomainSpec::INSTANCE_COUNT.name,
                &["search", "instances"],
            )
            .with_field(SearchDomainSpec::ZONE_COUNT.name, &["search", "instances"])
            .with_field(
                SearchDomainSpec::DEDICATED_MASTER_COUNT.name,
                &["search", "dedicated_masters"],
            )
            .with_field(
                SearchDomainSpec::DEDICATED_MASTER_TYPE.name,
                &["search", "master_instance_type"],
            )
            .with_field(SearchDomainSpec::VOLUME_SIZE.name, &["search", "volume_gb"])
            .with_field(
                SearchDomainSpec::DELETION_PROTECTION.name,
                &["search", "deletion_protection"],
            );
        out.add(
            LogicalId::new("search"),
            SearchDomainSpec {
                name: SearchDomainSpec::name_for(&stack.name),
                engine_version: search.engine_version.clone(),
                instance_type: search.instance_type.clone(),
                instance_count: search.instances,
                zone_count,
                dedicated_masters: search.dedicated_masters.unwrap_or(0),
                master_instance_type: search.master_instance_type.clone(),
                volume_gb: search.volume_gb,
                subnets: zones
                    .iter()
                    .take(usize::try_from(zone_count).unwrap_or(1))
                    .map(|z| Ref::new(format!("subnet.data.{z}")))
                    .collect(),
                security_groups: vec![Ref::new("sg.search")],
                tls_policy: SearchDomainSpec::TLS_POLICY.into(),
                master_user: Ref::new("secret.search"),
                deletion_protection: search.deletion_protection,
            }
            .into(),
            declared,
        );
        let domain: Ref<kind::SearchDomain> = Ref::new("search");
        records.push((
            "search".into(),
            domain.output(SearchDomainSpec::OUT_ENDPOINT),
            vec![(ResourceKind::SearchDomain, LogicalId::new("search"))],
        ));
    }

    if let Some(queue) = &cfg.queue {
        app_only_group(stack, out, "mq", "AMQPS", 5671, "queue");
        out.add(
            LogicalId::new("secret.mq"),
            secret("mq", "RabbitMQ user").into(),
            Declared::at(&["queue"]),
        );
        let deployment = match queue.deployment {
            QueueDeployment::Single => BrokerDeployment::Single,
            QueueDeployment::Cluster => BrokerDeployment::Cluster,
        };
        let n_subnets = match deployment {
            BrokerDeployment::Single => 1,
            BrokerDeployment::Cluster => 3,
        };
        out.add(
            LogicalId::new("mq"),
            MqBrokerSpec {
                name: MqBrokerSpec::name_for(&stack.name),
                engine_version: queue.engine_version.clone(),
                instance_type: queue.instance_type.clone(),
                deployment,
                subnets: zones
                    .iter()
                    .take(n_subnets)
                    .map(|z| Ref::new(format!("subnet.data.{z}")))
                    .collect(),
                security_groups: vec![Ref::new("sg.mq")],
                user: Ref::new("secret.mq"),
                deletion_protection: queue.deletion_protection,
            }
            .into(),
            Declared::at(&["queue"])
                .with_field(
                    MqBrokerSpec::ENGINE_VERSION.name,
                    &["queue", "engine_version"],
                )
                .with_field(
                    MqBrokerSpec::HOST_INSTANCE_TYPE.name,
                    &["queue", "instance_type"],
                )
                .with_field(MqBrokerSpec::DEPLOYMENT_MODE.name, &["queue", "deployment"])
                .with_field(
                    MqBrokerSpec::DELETION_PROTECTION.name,
                    &["queue", "deletion_protection"],
                ),
        );
        let broker: Ref<kind::MqBroker> = Ref::new("mq");
        records.push((
            "mq".into(),
            broker.output(MqBrokerSpec::OUT_HOST),
            vec![(ResourceKind::MqBroker, LogicalId::new("mq"))],
        ));
    }
    records
}
