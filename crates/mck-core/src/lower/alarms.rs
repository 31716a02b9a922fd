//! The operations tier (`alarms:`): seed 003's CloudWatch alarms on every tier, the SNS topic
//! they notify with its e-mail subscriptions, and one dashboard graphing each alarm's metric
//! against its threshold.
//!
//! Each alarm is `mck/<stack>/<what>` (logical id `alarm.<what>`), one minute per datapoint.
//! An app's 5xx alarm is also its service's deployment alarm ([`deployment_alarms`]): ECS rolls
//! back a rollout during which it fires.

use super::Lowered;
use crate::graph::Declared;
use crate::model::*;
use crate::stack::{AlarmThresholds, CacheEngine, Stack};

/// Seconds per datapoint.
const PERIOD: i64 = 60;

/// The alarms that gate `app`'s rollouts: its 5xx alarm, when the stack has alarms and
/// `alarms.rollback_on_5xx`.
pub(super) fn deployment_alarms(stack: &Stack, app: &str) -> Vec<Ref<kind::Alarm>> {
    match &stack.config.alarms {
        Some(alarms) if alarms.rollback_on_5xx && stack.config.apps.contains_key(app) => {
            vec![Ref::new(
                AlarmSpec::logical_id(&format!("app.{app}.5xx")).as_str(),
            )]
        }
        _ => Vec::new(),
    }
}

/// One alarm before it has a name and actions.
struct Watch {
    what: String,
    description: String,
    metrics: Vec<AlarmMetric>,
    expression: Option<String>,
    comparison: &'static str,
    threshold: i64,
    /// (datapoints to alarm, of evaluation periods)
    breaching: (i64, i64),
    at: Declared,
}

fn metric(namespace: &str, name: &str, stat: &str, dimensions: Vec<(&str, Value)>) -> AlarmMetric {
    let mut dimensions: Vec<(String, Value)> = dimensions
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    dimensions.sort_by(|a, b| a.0.cmp(&b.0));
    AlarmMetric {
        id: "m1".into(),
        namespace: namespace.into(),
        name: name.into(),
        stat: stat.into(),
        dimensions,
    }
}

#[allow(clippy::too_many_arguments)]
fn watch(
    what: impl Into<String>,
    description: impl Into<String>,
    metric: AlarmMetric,
    comparison: &'static str,
    threshold: i64,
    breaching: (i64, i64),
    at: Declared,
) -> Watch {
    Watch {
        what: what.into(),
        description: description.into(),
        metrics: vec![metric],
        expression: None,
        comparison,
        threshold,
        breaching,
        at,
    }
}

const ABOVE: &str = "GreaterThanThreshold";
const AT_LEAST: &str = "GreaterThanOrEqualToThreshold";
const BELOW: &str = "LessThanThreshold";
const MIB: i64 = 1024 * 1024;

/// Every alarm the stack's tiers call for.
fn watches(stack: &Stack, t: &AlarmThresholds) -> Vec<Watch> {
    let cfg = &stack.config;
    let mut out = Vec::new();
    let thresholds = |key: &str| Declared::at(&["alarms", "thresholds", key]);
    if let Some(db) = &cfg.database {
        let cluster = || {
            vec![(
                "DBClusterIdentifier",
                Value::from(format!("{}-db", stack.name)),
            )]
        };
        out.push(watch(
            "db.cpu",
            format!("Aurora CPU above {} % for 3 minutes", t.db_cpu_percent),
            metric("AWS/RDS", "CPUUtilization", "Average", cluster()),
            ABOVE,
            t.db_cpu_percent,
            (3, 3),
            thresholds("db_cpu_percent"),
        ));
        out.push(watch(
            "db.connections",
            format!("Aurora connections above {}", t.db_connections),
            metric("AWS/RDS", "DatabaseConnections", "Maximum", cluster()),
            ABOVE,
            t.db_connections,
            (3, 3),
            thresholds("db_connections"),
        ));
        out.push(watch(
            "db.memory",
            format!(
                "Aurora freeable memory below {} MiB",
                t.db_freeable_memory_mb
            ),
            metric("AWS/RDS", "FreeableMemory", "Minimum", cluster()),
            BELOW,
            t.db_freeable_memory_mb * MIB,
            (3, 3),
            thresholds("db_freeable_memory_mb"),
        ));
        if db.instances > 1 {
            out.push(watch(
                "db.replica-lag",
                format!("Aurora replica lag above {} ms", t.db_replica_lag_ms),
                metric("AWS/RDS", "AuroraReplicaLagMaximum", "Maximum", cluster()),
                ABOVE,
                t.db_replica_lag_ms,
                (3, 3),
                thresholds("db_replica_lag_ms"),
            ));
        }
    }
    let alb: Ref<kind::LoadBalancer> = Ref::new("alb");
    for app in cfg.apps.keys() {
        let tg: Ref<kind::TargetGroup> = Ref::new(format!("alb.tg.{app}"));
        let dims = || {
            vec![
                ("LoadBalancer", alb.output(LoadBalancerSpec::OUT_ARN_SUFFIX)),
                ("TargetGroup", tg.output(TargetGroupSpec::OUT_ARN_SUFFIX)),
            ]
        };
        out.push(watch(
            format!("app.{app}.5xx"),
            format!(
                "{app}: more than {} 5xx answers a minute for 3 minutes (rolls back a rollout)",
                t.http_5xx_per_minute
            ),
            metric(
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                "Sum",
                dims(),
            ),
            ABOVE,
            t.http_5xx_per_minute,
            (3, 3),
            thresholds("http_5xx_per_minute"),
        ));
        out.push(watch(
            format!("app.{app}.unhealthy"),
            format!(
                "{app}: more than {} unhealthy targets for 3 minutes",
                t.unhealthy_targets
            ),
            metric(
                "AWS/ApplicationELB",
                "UnHealthyHostCount",
                "Maximum",
                dims(),
            ),
            ABOVE,
            t.unhealthy_targets,
            (3, 3),
            thresholds("unhealthy_targets"),
        ));
    }
    for (name, cache) in &cfg.caches {
        if cache.engine != CacheEngine::Redis {
            continue;
        }
        // The first node (the primary until a failover): a replication group has no metrics
        // of its own.
        let node = || {
            vec![(
                "CacheClusterId",
                Value::from(format!("{}-{name}-001", stack.name)),
            )]
        };
        out.push(watch(
            format!("redis.{name}.cpu"),
            format!("Redis {name}: engine CPU above {} %", t.redis_cpu_percent),
            metric("AWS/ElastiCache", "EngineCPUUtilization", "Average", node()),
            ABOVE,
            t.redis_cpu_percent,
            (3, 3),
            thresholds("redis_cpu_percent"),
        ));
        out.push(watch(
            format!("redis.{name}.evictions"),
            format!(
                "Redis {name}: more than {} evictions a minute (the cache is too small)",
                t.redis_evictions_per_minute
            ),
            metric("AWS/ElastiCache", "Evictions", "Sum", node()),
            ABOVE,
            t.redis_evictions_per_minute,
            (3, 3),
            thresholds("redis_evictions_per_minute"),
        ));
    }
    if cfg.search.is_some() {
        let domain: Ref<kind::SearchDomain> = Ref::new("search");
        let dims = || {
            vec![
                (
                    "DomainName",
                    Value::from(SearchDomainSpec::name_for(&stack.name)),
                ),
                ("ClientId", domain.output(SearchDomainSpec::OUT_ACCOUNT)),
            ]
        };
        out.push(watch(
            "search.red",
            "OpenSearch cluster status red: a primary shard is unassigned",
            metric("AWS/ES", "ClusterStatus.red", "Maximum", dims()),
            AT_LEAST,
            1,
            (1, 1),
            Declared::at(&["search"]),
        ));
        out.push(watch(
            "search.yellow",
            "OpenSearch cluster status yellow for 5 minutes: a replica shard is unassigned",
            metric("AWS/ES", "ClusterStatus.yellow", "Maximum", dims()),
            AT_LEAST,
            1,
            (5, 5),
            Declared::at(&["search"]),
        ));
        out.push(watch(
            "search.storage",
            format!(
                "OpenSearch free storage below {} MiB on a node",
                t.search_free_storage_mb
            ),
            metric("AWS/ES", "FreeStorageSpace", "Minimum", dims()),
            BELOW,
            t.search_free_storage_mb,
            (1, 1),
            thresholds("search_free_storage_mb"),
        ));
    }
    if cfg.queue.is_some() {
        out.push(watch(
            "queue.depth",
            format!(
                "RabbitMQ: more than {} messages waiting for 3 minutes (consumers behind)",
                t.queue_depth
            ),
            metric(
                "AWS/AmazonMQ",
                "MessageCount",
                "Maximum",
                vec![("Broker", Value::from(MqBrokerSpec::name_for(&stack.name)))],
            ),
            ABOVE,
            t.queue_depth,
            (3, 3),
            thresholds("queue_depth"),
        ));
    }
    out
}

/// ECS services running fewer tasks than desired for 5 minutes (Container Insights' task
/// counts: only on a cluster with `app.container_insights`), one per service lowered so far.
fn services_short_of_tasks(stack: &Stack, services: &[(String, Declared)]) -> Vec<Watch> {
    let on = stack
        .config
        .app
        .as_ref()
        .is_some_and(|a| a.container_insights);
    if !on {
        return Vec::new();
    }
    let cluster = format!("{}-app", stack.name);
    services
        .iter()
        .map(|(service, at)| {
            let count = |id: &str, name: &str| AlarmMetric {
                id: id.into(),
                ..metric(
                    "ECS/ContainerInsights",
                    name,
                    "Average",
                    vec![
                        ("ClusterName", Value::from(cluster.as_str())),
                        ("ServiceName", Value::from(service.as_str())),
                    ],
                )
            };
            Watch {
                what: format!("service.{service}.running"),
                description: format!(
                    "ECS service {service} runs fewer tasks than desired for 5 minutes"
                ),
                metrics: vec![
                    count("running", "RunningTaskCount"),
                    count("desired", "DesiredTaskCount"),
                ],
                expression: Some("desired - running".into()),
                comparison: ABOVE,
                threshold: 0,
                breaching: (5, 5),
                at: at.clone(),
            }
        })
        .collect()
}

/// The topic, its subscriptions, the alarms and the dashboard, once the other tiers are
/// lowered (the task-count alarms follow the services).
pub(super) fn lower(stack: &Stack, out: &mut Lowered) {
    let Some(cfg) = &stack.config.alarms else {
        return;
    };
    let topic: Ref<kind::Topic> = Ref::new(TopicSpec::ID);
    out.add(
        LogicalId::new(TopicSpec::ID),
        TopicSpec {
            name: TopicSpec::name(&stack.name),
        }
        .into(),
        Declared::at(&["alarms"]),
    );
    for address in &cfg.email {
        out.add(
            SubscriptionSpec::logical_id("email", address),
            SubscriptionSpec {
                topic: topic.clone(),
                protocol: "email".into(),
                endpoint: address.clone(),
            }
            .into(),
            Declared::at(&["alarms", "email"]),
        );
    }
    let services: Vec<(String, Declared)> = out
        .iter()
        .filter_map(|r| match &r.spec {
            ResourceSpec::EcsService(s) => {
                Some((s.name.clone(), Declared::at(&["app", "container_insights"])))
            }
            _ => None,
        })
        .collect();
    let mut watches = watches(stack, &cfg.thresholds);
    watches.extend(services_short_of_tasks(stack, &services));
    let mut graphed = Vec::new();
    for w in watches {
        let id = AlarmSpec::logical_id(&w.what);
        graphed.push(Ref::new(id.as_str()));
        out.add(
            id,
            AlarmSpec {
                name: format!("{}{}", AlarmSpec::prefix(&stack.name), w.what),
                description: format!("mck {}: {}", stack.name, w.description),
                metrics: w.metrics,
                expression: w.expression,
                period: PERIOD,
                comparison: w.comparison.into(),
                threshold: w.threshold,
                evaluation_periods: w.breaching.1,
                datapoints_to_alarm: w.breaching.0,
                treat_missing_data: "notBreaching".into(),
                actions: vec![topic.clone()],
            }
            .into(),
            w.at,
        );
    }
    out.add(
        LogicalId::new(DashboardSpec::ID),
        DashboardSpec {
            name: DashboardSpec::name(&stack.name),
            alarms: graphed,
        }
        .into(),
        Declared::at(&["alarms"]),
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::spec_of as spec;
    use super::*;

    fn prod() -> Lowered {
        let stack = crate::stack::load(Path::new("../../stacks"), "prod").unwrap();
        super::super::resources(&stack)
    }

    fn alarm(resources: &[Resource], what: &str) -> AlarmSpec {
        match spec(resources, AlarmSpec::logical_id(what).as_str()) {
            ResourceSpec::Alarm(a) => a,
            other => panic!("{other:?}"),
        }
    }

    /// Prod has seed 003's set: every tier watched, each alarm mailing the topic, the
    /// dashboard graphing every alarm, and each app's rollout gated on its 5xx alarm.
    #[test]
    fn prod_watches_every_tier_and_gates_rollouts_on_5xx() {
        let out = prod();
        let alarms: Vec<&str> = out
            .iter()
            .filter(|r| r.kind() == ResourceKind::Alarm)
            .map(|r| r.id.as_str())
            .collect();
        for what in [
            "db.cpu",
            "db.connections",
            "db.memory",
            "db.replica-lag",
            "app.frontend.5xx",
            "app.admin.unhealthy",
            "redis.cache.cpu",
            "redis.session.evictions",
            "search.red",
            "search.yellow",
            "search.storage",
            "queue.depth",
            "service.frontend.running",
            "service.cron.running",
        ] {
            assert!(
                alarms.contains(&AlarmSpec::logical_id(what).as_str()),
                "{what} missing from {alarms:?}"
            );
        }
        let cpu = alarm(&out, "db.cpu");
        assert_eq!(cpu.name, "mck/prod/db.cpu");
        assert_eq!(
            (
                cpu.threshold,
                cpu.datapoints_to_alarm,
                cpu.evaluation_periods
            ),
            (70, 3, 3)
        );
        assert_eq!(cpu.actions, vec![Ref::new(TopicSpec::ID)]);
        assert_eq!(
            cpu.metrics[0].dimensions,
            vec![("DBClusterIdentifier".to_string(), Value::from("prod-db"))]
        );
        // The 5xx alarm watches the app's own target group on the ALB, by their ARN suffixes.
        let errors = alarm(&out, "app.frontend.5xx");
        assert_eq!(
            errors.metrics[0].dimensions,
            vec![
                (
                    "LoadBalancer".to_string(),
                    Ref::<kind::LoadBalancer>::new("alb").output(LoadBalancerSpec::OUT_ARN_SUFFIX)
                ),
                (
                    "TargetGroup".to_string(),
                    Ref::<kind::TargetGroup>::new("alb.tg.frontend")
                        .output(TargetGroupSpec::OUT_ARN_SUFFIX)
                ),
            ]
        );
        let running = alarm(&out, "service.frontend.running");
        assert_eq!(running.expression.as_deref(), Some("desired - running"));
        assert_eq!(running.metrics.len(), 2);
        match spec(&out, "ecs.service.frontend") {
            ResourceSpec::EcsService(s) => {
                assert_eq!(s.alarms, vec![Ref::new("alarm.app.frontend.5xx")])
            }
            other => panic!("{other:?}"),
        }
        match spec(&out, DashboardSpec::ID) {
            ResourceSpec::Dashboard(d) => {
                assert_eq!(d.name, "mck-prod");
                assert_eq!(d.alarms.len(), alarms.len());
            }
            other => panic!("{other:?}"),
        }
    }

    /// Thresholds are the stack's to set; a stack without `alarms:` has none of it.
    #[test]
    fn thresholds_are_overridable_and_alarms_are_opt_in() {
        let base = std::fs::read_to_string("../../stacks/base.yaml").unwrap();
        let with = format!(
            "{base}\nalarms:\n  email: [ops@example.com]\n  rollback_on_5xx: false\n  thresholds: {{db_cpu_percent: 85, db_freeable_memory_mb: 512}}\n"
        );
        let stack = crate::stack::parse_str("t", "t.yaml", &with).unwrap();
        let out = super::super::resources(&stack);
        assert_eq!(alarm(&out, "db.cpu").threshold, 85);
        assert_eq!(alarm(&out, "db.memory").threshold, 512 * MIB);
        assert_eq!(alarm(&out, "db.memory").comparison, BELOW);
        assert_eq!(alarm(&out, "db.connections").threshold, 500);
        match spec(&out, "alarms.email/ops@example.com") {
            ResourceSpec::Subscription(s) => assert_eq!(s.endpoint, "ops@example.com"),
            other => panic!("{other:?}"),
        }
        // Without rollback_on_5xx no rollout is gated.
        assert!(out.iter().all(|r| match &r.spec {
            ResourceSpec::EcsService(s) => s.alarms.is_empty(),
            _ => true,
        }));
        let without = crate::stack::parse_str("t", "t.yaml", &base).unwrap();
        let out = super::super::resources(&without);
        assert!(!out.iter().any(|r| matches!(
            r.kind(),
            ResourceKind::Alarm | ResourceKind::Topic | ResourceKind::Dashboard
        )));
    }
}
