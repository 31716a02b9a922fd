//! The app tier: the ECS cluster, a log group and a task definition per app, the roles the
//! tasks run with, and the load balancer (a target group per app, the listener, the path
//! rules), a service per app wired to its target group, and with `capacity: ec2` the app
//! servers (role, instance profile, launch template, Auto Scaling group, capacity provider).

use std::collections::BTreeMap;

use super::Lowered;
use crate::graph::Declared;
use crate::model::*;
use crate::stack::{CacheEngine, Capacity, ScalingConfig, Stack};

/// Where Magento keeps the shared files the EFS access points hold.
const MOUNT_ROOT: &str = "/var/www/html/pub";

/// Where an access point is mounted: `var` is Magento's `var/` (where the maintenance flag
/// lives), the others are under `pub/` (`media`, `static`).
fn mount_path(access_point: &str) -> String {
    if access_point == "var" {
        "/var/www/html/var".to_string()
    } else {
        format!("{MOUNT_ROOT}/{access_point}")
    }
}

/// The secret holding Magento's crypt key.
pub const CRYPT_KEY_ID: &str = "secret.crypt-key";

/// The crypt key is 32 letters and digits (no punctuation, [`SecretSpec::PUNCTUATION`]), which
/// Magento takes as the 32-byte key of its Sodium cipher.
/// The managed policy that lets ECS pull images and write logs for a task.
pub const TASK_EXECUTION_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

pub(super) fn lower(stack: &Stack, out: &mut Lowered) {
    let cfg = &stack.config;
    if cfg.apps.is_empty() {
        return;
    }
    let cluster = cfg.app.clone().unwrap_or_default();
    let routes = lower_alb(stack, out);
    // What a task needs before it can turn healthy: a way out of the private subnets (image
    // pulls), the shared files, the private DNS names of the database and caches.
    let needs: Vec<(ResourceKind, LogicalId)> = out
        .iter()
        .filter(|r| match r.kind() {
            ResourceKind::Route => r.id.as_str().starts_with("rt.private."),
            ResourceKind::MountTarget | ResourceKind::RecordSet => true,
            _ => false,
        })
        .map(|r| (r.kind(), r.id.clone()))
        .collect();
    let mut add = |id: LogicalId, spec: ResourceSpec, at: Declared| out.add(id, spec, at);
    add(
        LogicalId::new("ecs.cluster"),
        EcsClusterSpec {
            name: format!("{}-app", stack.name),
            container_insights: cluster.container_insights,
        }
        .into(),
        Declared::at(&["app"]),
    );
    if cluster.capacity == Capacity::Ec2 {
        lower_servers(stack, &cluster, &needs, &mut add);
    }
    for app in cfg.apps.keys() {
        add(
            LogGroupSpec::logical_id(app),
            LogGroupSpec {
                name: format!("{}{app}", LogGroupSpec::prefix(&stack.name)),
                retention_days: cluster.log_retention_days,
            }
            .into(),
            Declared::at(&["apps", app.as_str()]),
        );
    }
    // The execution role pulls images, writes logs and reads exactly the secrets the containers
    // get (as ECS secrets, never in their environment): the DB's managed secret, the crypt key
    // and the generated logins of the search domain and the broker.
    let db_secret: Option<Value> = cfg
        .database
        .as_ref()
        .map(|_| Ref::<kind::DbCluster>::new("db.cluster").output(DbClusterSpec::OUT_SECRET_ARN));
    // Magento's crypt key (`crypt.key` in env.php): generated once per stack and kept, like
    // the data it encrypts (payment settings, integration tokens); a new one cannot read them.
    add(
        LogicalId::new(CRYPT_KEY_ID),
        SecretSpec {
            name: format!("mck/{}/crypt-key", stack.name),
            description: format!(
                "mck {}: Magento's crypt key (generated; losing it loses the data it encrypts)",
                stack.name
            ),
            username: "magento".into(),
            password_length: 32,
            exclude_characters: SecretSpec::PUNCTUATION.into(),
            rotation_days: None,
        }
        .into(),
        Declared::at(&["app"]),
    );
    // The apps' own database login (lower::login), given whole (`{"username", "password"}`,
    // read at once, so a rotation can never hand a task one user's name and another's
    // password); the master user's secret only without an app build to create it with.
    let app_login = super::login::secret(stack);
    if let Some(spec) = &app_login {
        add(
            LogicalId::new(super::login::SECRET_ID),
            spec.clone().into(),
            Declared::at(&["database", "app_user"]),
        );
    }
    let db_login: Option<Value> = match &app_login {
        Some(_) => {
            Some(Ref::<kind::Secret>::new(super::login::SECRET_ID).output(SecretSpec::OUT_ARN))
        }
        None => db_secret.clone(),
    };
    let logins: Vec<(&str, &str)> = [
        Some(("MAGENTO_CRYPT_KEY", CRYPT_KEY_ID)),
        cfg.search
            .as_ref()
            .map(|_| ("SEARCH_PASSWORD", "secret.search")),
        cfg.queue.as_ref().map(|_| ("AMQP_PASSWORD", "secret.mq")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut role_secrets: Vec<Value> = db_secret.iter().chain(&db_login).cloned().collect();
    role_secrets.dedup();
    // The install's admin password.
    if super::install::job(stack).is_some() {
        role_secrets.push(
            Ref::<kind::Secret>::new(super::install::ADMIN_SECRET_ID).output(SecretSpec::OUT_ARN),
        );
    }
    role_secrets.extend(
        logins
            .iter()
            .map(|(_, secret)| Ref::<kind::Secret>::new(*secret).output(SecretSpec::OUT_ARN)),
    );
    add(
        LogicalId::new("iam.task-execution"),
        RoleSpec {
            name: format!("{}-task-execution", stack.name),
            description: format!(
                "mck {}: ECS pulls images, writes logs, reads the containers' secrets",
                stack.name
            ),
            service: "ecs-tasks.amazonaws.com".into(),
            managed_policies: vec![TASK_EXECUTION_POLICY.into()],
            secrets: role_secrets,
            exec: false,
        }
        .into(),
        Declared::at(&["app"]),
    );
    add(
        LogicalId::new("iam.task"),
        RoleSpec {
            name: format!("{}-task", stack.name),
            description: format!("mck {}: the Magento containers", stack.name),
            service: "ecs-tasks.amazonaws.com".into(),
            managed_policies: Vec::new(),
            secrets: Vec::new(),
            exec: cluster.exec,
        }
        .into(),
        Declared::at(&["app"]),
    );
    // Whatever uses the database login waits for the job that makes sure it exists.
    let mut needs_login = needs.clone();
    needs_login.extend(super::login::job(stack));
    // And on a stack's first release, for Magento's install.
    let mut needs_installed = needs_login.clone();
    needs_installed.extend(super::install::job(stack));
    for (app_name, app) in &cfg.apps {
        let tag = cfg.release.as_ref().and_then(|r| r.tag.clone());
        let mut environment = shared_environment(stack);
        environment.extend(
            app.environment
                .iter()
                .map(|(k, v)| (k.clone(), Value::Str(v.clone()))),
        );
        let volumes: Vec<VolumeSpec> = cfg
            .filesystem
            .iter()
            .flat_map(|fs| fs.access_points.iter())
            .map(|ap| VolumeSpec {
                name: ap.clone(),
                file_system: Ref::new("efs"),
                access_point: Ref::new(format!("efs.ap.{ap}")),
            })
            .collect();
        let containers = app
            .containers
            .iter()
            .map(|(name, c)| ContainerSpec {
                name: name.clone(),
                image: match &tag {
                    Some(tag) if !has_tag(&c.image) => format!("{}:{tag}", c.image),
                    _ => c.image.clone(),
                },
                port: c.port,
                memory_reservation: c.memory_reservation,
                environment: environment.clone(),
                // The whole login (JSON with username and password): never a plain
                // environment value.
                secrets: db_login
                    .iter()
                    .map(|secret| ("DB_SECRET".to_string(), secret.clone()))
                    .chain(logins.iter().map(|(var, secret)| {
                        (
                            (*var).to_string(),
                            Ref::<kind::Secret>::new(*secret).output(SecretSpec::OUT_PASSWORD_FROM),
                        )
                    }))
                    .collect(),
                mounts: volumes
                    .iter()
                    .map(|v| (v.name.clone(), mount_path(&v.name)))
                    .collect(),
                command: Vec::new(),
            })
            .collect();
        add(
            LogicalId::new(format!("ecs.taskdef.{app_name}")),
            TaskDefinitionSpec {
                family: format!("{}-{app_name}", stack.name),
                cpu: app.cpu,
                memory: app.memory,
                compatibility: match cluster.capacity {
                    Capacity::Fargate => "FARGATE".into(),
                    Capacity::Ec2 => "EC2".into(),
                },
                execution_role: Ref::new("iam.task-execution"),
                task_role: Ref::new("iam.task"),
                log_group: Ref::new(LogGroupSpec::logical_id(app_name).as_str()),
                containers,
                volumes,
                keep_revisions: usize::try_from(
                    cfg.release.as_ref().map_or(5, |r| r.keep_revisions),
                )
                .unwrap_or(5),
                cluster_name: format!("{}-app", stack.name),
            }
            .into(),
            Declared::at(&["apps", app_name.as_str()]),
        );
        let port = app.containers.iter().find_map(|(n, c)| Some((n, c.port?)));
        if let (Some((container, port)), Some(route)) = (port, routes.get(app_name)) {
            let mut after = needs_installed.clone();
            after.push(route.clone());
            if cfg.migration().is_some() {
                // No service rolls before the release's migration has succeeded.
                after.push((
                    ResourceKind::ReleaseTask,
                    LogicalId::new(ReleaseTaskSpec::MIGRATE_ID),
                ));
            }
            add(
                LogicalId::new(format!("ecs.service.{app_name}")),
                EcsServiceSpec {
                    name: app_name.clone(),
                    cluster: Ref::new("ecs.cluster"),
                    task_definition: Ref::new(format!("ecs.taskdef.{app_name}")),
                    desired_count: match &app.scaling {
                        Some(scaling) => app.count.clamp(scaling.min, scaling.max),
                        None => app.count,
                    },
                    scaled: app.scaling.is_some(),
                    exec: cluster.exec,
                    capacity: task_capacity(cluster.capacity),
                    subnets: private_subnets(stack),
                    security_groups: vec![Ref::new("sg.app")],
                    load_balancer: Some(ServiceLoadBalancer {
                        target_group: Ref::new(format!("alb.tg.{app_name}")),
                        container_name: container.clone(),
                        container_port: port,
                        health_check_grace_seconds: seconds(&app.health_check_grace_period, 60),
                    }),
                    one_at_a_time: false,
                    alarms: super::alarms::deployment_alarms(stack, app_name),
                    after,
                }
                .into(),
                Declared::at(&["apps", app_name.as_str()]),
            );
        }
    }
    for (app_name, app) in &cfg.apps {
        let service = format!("ecs.service.{app_name}");
        if let Some(scaling) = &app.scaling
            && out.iter().any(|r| r.id.as_str() == service)
        {
            lower_scaling(stack, app_name, scaling, out);
        }
    }
    super::login::lower(stack, &needs, out);
    super::install::lower(stack, &needs_login, out);
    super::workers::lower(stack, &needs_installed, out);
    lower_migration(stack, &needs_installed, out);
    // The release in effect, recorded once every service has rolled.
    let release = cfg.release.clone().unwrap_or_default();
    let after: Vec<(ResourceKind, LogicalId)> = out
        .iter()
        .filter(|r| {
            matches!(
                r.kind(),
                ResourceKind::EcsService | ResourceKind::ReleaseTask
            )
        })
        .map(|r| (r.kind(), r.id.clone()))
        .collect();
    out.add(
        LogicalId::new(ReleaseRecordSpec::ID),
        ReleaseRecordSpec {
            cluster: Ref::new("ecs.cluster"),
            tag: ReleaseValues::record_value(release.tag.as_deref()),
            revision: ReleaseValues::record_value(release.revision.as_deref()),
            file: stack.file_release.to_record(),
            after,
        }
        .into(),
        Declared::at(&["release"]),
    );
}

/// Where the apps' tasks run: Fargate, or the app servers' capacity provider.
pub(super) fn task_capacity(capacity: Capacity) -> ServiceCapacity {
    match capacity {
        Capacity::Fargate => ServiceCapacity::Fargate,
        Capacity::Ec2 => ServiceCapacity::Provider(Ref::new("ecs.capacity")),
    }
}

/// The private subnets, one per zone: where every task runs.
pub(super) fn private_subnets(stack: &Stack) -> Vec<Ref<kind::Subnet>> {
    stack
        .config
        .network
        .zones
        .iter()
        .map(|z| Ref::new(format!("subnet.private.{}", super::zone_suffix(z))))
        .collect()
}

/// What a one-off task (the login job, the install) is, besides its job and command: on
/// `task_definition`'s `container`, in the stack's cluster and private subnets with the app's
/// security group, after `needs` and every database instance. `image` is its record.
pub(super) struct OneOff<'a> {
    pub(super) job: ReleaseJob,
    pub(super) task_definition: &'a str,
    pub(super) log_group: Ref<kind::LogGroup>,
    pub(super) container: &'a str,
    pub(super) image: String,
    pub(super) command: Vec<String>,
}

impl OneOff<'_> {
    pub(super) fn task(
        self,
        stack: &Stack,
        needs: &[(ResourceKind, LogicalId)],
        out: &Lowered,
    ) -> ReleaseTaskSpec {
        let mut after = needs.to_vec();
        after.extend(
            out.iter()
                .filter(|r| r.kind() == ResourceKind::DbInstance)
                .map(|r| (ResourceKind::DbInstance, r.id.clone())),
        );
        ReleaseTaskSpec {
            job: self.job,
            cluster: Ref::new("ecs.cluster"),
            task_definition: Ref::new(self.task_definition),
            log_group: self.log_group,
            container: self.container.into(),
            image: self.image,
            command: self.command,
            capacity: task_capacity(stack.config.app.clone().unwrap_or_default().capacity),
            subnets: private_subnets(stack),
            security_groups: vec![Ref::new("sg.app")],
            after,
            pauses: Vec::new(),
        }
    }
}

/// App `app`'s task definition as lowered, and its container `container`: what the release's
/// tasks, cron and the workers run on (`None` when either is missing; validation says so).
pub(super) fn lowered_container<'a>(
    out: &'a Lowered,
    app: &str,
    container: &str,
) -> Option<(&'a TaskDefinitionSpec, &'a ContainerSpec)> {
    let taskdef = LogicalId::new(format!("ecs.taskdef.{app}"));
    let ResourceSpec::TaskDefinition(td) = &out.iter().find(|r| r.id == taskdef)?.spec else {
        return None;
    };
    let source = td.containers.iter().find(|c| c.name == container)?;
    Some((td, source))
}

/// The release's migration: a one-off task on the migrating app's new task definition.
fn lower_migration(stack: &Stack, needs: &[(ResourceKind, LogicalId)], out: &mut Lowered) {
    let cfg = &stack.config;
    let Some((app, container, migrate)) = cfg.migration() else {
        return;
    };
    let taskdef = LogicalId::new(format!("ecs.taskdef.{app}"));
    let Some((_, source)) = lowered_container(out, app, container) else {
        return;
    };
    let image = source.image.clone();
    let cluster = cfg.app.clone().unwrap_or_default();
    let mut after = needs.to_vec();
    after.extend(
        out.iter()
            .filter(|r| r.kind() == ResourceKind::DbInstance)
            .map(|r| (ResourceKind::DbInstance, r.id.clone())),
    );
    let maintenance = cfg.release.as_ref().is_some_and(|r| r.maintenance);
    let task =
        |job: ReleaseJob, script: String, after: Vec<(ResourceKind, LogicalId)>| ReleaseTaskSpec {
            job,
            cluster: Ref::new("ecs.cluster"),
            task_definition: Ref::new(taskdef.as_str()),
            log_group: Ref::new(LogGroupSpec::logical_id(app).as_str()),
            container: container.to_string(),
            image: image.clone(),
            command: vec!["sh".into(), "-c".into(), script],
            capacity: task_capacity(cluster.capacity),
            subnets: private_subnets(stack),
            security_groups: vec![Ref::new("sg.app")],
            after,
            pauses: Vec::new(),
        };
    let mut migrate_task = task(
        ReleaseJob::Migrate,
        ReleaseTaskSpec::script(&migrate.check, &migrate.upgrade, maintenance),
        after.clone(),
    );
    // Cron stops while the schema changes: it would run the old code against the new schema,
    // or the new against the old. It runs again on its new revision once the migration
    // succeeded, on the one it ran if it failed.
    if cfg.cron.is_some() {
        migrate_task.pauses.push(PausedService {
            name: super::workers::CRON_SERVICE.into(),
            task_definition: Ref::new(format!("ecs.taskdef.{}", super::workers::CRON_SERVICE)),
            count: 1,
        });
    }
    // After the migration and every service.
    let mut after_release = after.clone();
    after_release.push((
        ResourceKind::ReleaseTask,
        LogicalId::new(ReleaseTaskSpec::MIGRATE_ID),
    ));
    after_release.extend(
        out.iter()
            .filter(|r| r.kind() == ResourceKind::EcsService)
            .map(|r| (ResourceKind::EcsService, r.id.clone())),
    );
    // Adobe's order: the caches are cleaned once every service runs the new build, then the
    // shop leaves maintenance (the maintenance-off task does both, in that order).
    let cache_clean = cfg
        .release
        .as_ref()
        .map_or("bin/magento cache:clean", |r| r.cache_clean.as_str())
        .trim();
    let cache_clean = (!cache_clean.is_empty()).then_some(cache_clean);
    let clean = cache_clean
        .filter(|_| !maintenance)
        .map(|cache_clean| MaintenanceSpec {
            task: task(
                ReleaseJob::CacheClean,
                ReleaseTaskSpec::cache_clean_script(cache_clean),
                after_release.clone(),
            ),
        });
    let off = maintenance.then(|| {
        // After the migration and every service, whether they succeeded or not.
        let after_release = after_release.clone();
        MaintenanceSpec {
            task: task(
                ReleaseJob::MaintenanceOff,
                ReleaseTaskSpec::maintenance_off_script(cache_clean, &migrate.check),
                after_release,
            ),
        }
    });
    out.add(
        LogicalId::new(ReleaseTaskSpec::MIGRATE_ID),
        migrate_task.into(),
        Declared::at(&["release"]),
    );
    if let Some(clean) = clean {
        out.add(
            LogicalId::new(ReleaseJob::CacheClean.id()),
            clean.into(),
            Declared::at(&["release", "cache_clean"]),
        );
    }
    if let Some(off) = off {
        out.add(
            LogicalId::new(MaintenanceSpec::ID),
            off.into(),
            Declared::at(&["release"]),
        );
    }
}

/// The app servers for `capacity: ec2`: their role and instance profile, the launch template,
/// the Auto Scaling group over the private subnets, and the cluster's capacity provider.
fn lower_servers(
    stack: &Stack,
    cluster: &crate::stack::AppClusterConfig,
    needs: &[(ResourceKind, LogicalId)],
    add: &mut impl FnMut(LogicalId, ResourceSpec, Declared),
) {
    let mut add =
        |id: LogicalId, spec: ResourceSpec| add(id, spec, Declared::at(&["app", "servers"]));
    let servers = cluster.servers.clone().unwrap_or_default();
    let name = format!("{}-app-server", stack.name);
    add(
        LogicalId::new("iam.app-server"),
        RoleSpec {
            name: name.clone(),
            description: format!(
                "mck {}: the app servers (ECS container instances)",
                stack.name
            ),
            service: "ec2.amazonaws.com".into(),
            managed_policies: vec![
                "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role".into(),
                "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore".into(),
            ],
            secrets: Vec::new(),
            exec: false,
        }
        .into(),
    );
    add(
        LogicalId::new("iam.profile.app-server"),
        InstanceProfileSpec {
            name: name.clone(),
            role: Ref::new("iam.app-server"),
        }
        .into(),
    );
    add(
        LogicalId::new("ecs.servers.template"),
        LaunchTemplateSpec {
            name,
            instance_type: servers.instance_type.clone(),
            ami: match &servers.ami.id {
                Some(id) => AmiSelector::Id(id.clone()),
                None => AmiSelector::Lookup {
                    name_pattern: servers.ami.name.clone(),
                    owner: servers.ami.owner.clone(),
                },
            },
            security_groups: vec![Ref::new("sg.app")],
            instance_profile: Ref::new("iam.profile.app-server"),
            cluster: Ref::new("ecs.cluster"),
        }
        .into(),
    );
    add(
        LogicalId::new("ecs.servers"),
        AutoScalingGroupSpec {
            name: format!("{}-app-servers", stack.name),
            min_size: servers.min,
            max_size: servers.max,
            subnets: stack
                .config
                .network
                .zones
                .iter()
                .map(|z| Ref::new(format!("subnet.private.{}", super::zone_suffix(z))))
                .collect(),
            launch_template: Ref::new("ecs.servers.template"),
            after: needs
                .iter()
                .filter(|(kind, _)| *kind == ResourceKind::Route)
                .cloned()
                .collect(),
        }
        .into(),
    );
    add(
        LogicalId::new("ecs.capacity"),
        CapacityProviderSpec {
            name: CapacityProviderSpec::name_for(&stack.name),
            auto_scaling_group: Ref::new("ecs.servers"),
            cluster: Ref::new("ecs.cluster"),
            target_capacity: 100,
        }
        .into(),
    );
}

/// An app's service as a scalable target between `min` and `max` tasks, and its
/// target-tracking policy (requests per task at the ALB, or CPU).
fn lower_scaling(stack: &Stack, app: &str, scaling: &ScalingConfig, out: &mut Lowered) {
    let resource_id = ScalableTargetSpec::resource_id(&format!("{}-app", stack.name), app);
    let at = || Declared::at(&["apps", app, "scaling"]);
    let target = ScalableTargetSpec::logical_id(app);
    out.add(
        target.clone(),
        ScalableTargetSpec {
            resource_id: resource_id.clone(),
            min: scaling.min,
            max: scaling.max,
            service: (
                ResourceKind::EcsService,
                LogicalId::new(format!("ecs.service.{app}")),
            ),
        }
        .into(),
        at(),
    );
    let (metric, target_value) = match (scaling.requests_per_target, scaling.cpu) {
        (Some(requests), _) => (
            ScalingMetric::RequestsPerTarget {
                load_balancer: Ref::new("alb"),
                target_group: Ref::new(format!("alb.tg.{app}")),
            },
            requests,
        ),
        // Validation asks for exactly one of the two.
        (None, cpu) => (ScalingMetric::Cpu, cpu.unwrap_or(60)),
    };
    out.add(
        ScalingPolicySpec::logical_id(app),
        ScalingPolicySpec {
            name: format!("{app}-target-tracking"),
            resource_id,
            metric,
            target_value,
            scale_in_cooldown: scaling.scale_in_cooldown,
            scale_out_cooldown: scaling.scale_out_cooldown,
            target: Ref::new(target.as_str()),
        }
        .into(),
        at(),
    );
}

/// The load balancer: a target group per app, the ALB over the public subnets, the listener
/// forwarding to the default app (the one without `paths`): HTTP on 80, or HTTPS on 443 with
/// 80 redirecting to it when the stack has a certificate. Returns, per app, the listener or
/// rule that routes requests to it.
fn lower_alb(stack: &Stack, out: &mut Lowered) -> BTreeMap<String, (ResourceKind, LogicalId)> {
    let mut routes = BTreeMap::new();
    let cfg = &stack.config;
    let alb = cfg.alb.clone().unwrap_or_default();
    let mut add = |id: LogicalId, spec: ResourceSpec, at: Declared| out.add(id, spec, at);
    for (app_name, app) in &cfg.apps {
        let port = app.containers.values().find_map(|c| c.port).unwrap_or(80);
        add(
            LogicalId::new(format!("alb.tg.{app_name}")),
            TargetGroupSpec {
                name: format!("{}-{app_name}", stack.name),
                vpc: Ref::new("vpc"),
                port,
                health_check_path: app.health_check.clone(),
                deregistration_delay_seconds: seconds(&app.deregistration_delay, 30),
            }
            .into(),
            Declared::at(&["apps", app_name.as_str()]),
        );
    }
    add(
        LogicalId::new("alb"),
        LoadBalancerSpec {
            name: format!("{}-alb", stack.name),
            subnets: cfg
                .network
                .zones
                .iter()
                .map(|z| Ref::new(format!("subnet.public.{}", super::zone_suffix(z))))
                .collect(),
            security_groups: vec![Ref::new("sg.alb")],
            idle_timeout_seconds: seconds(&alb.idle_timeout, 60),
        }
        .into(),
        Declared::at(&["alb"]),
    );
    if let Some((default_app, _)) = cfg.apps.iter().find(|(_, a)| a.paths.is_empty()) {
        let forward = ListenerDefault::Forward(Ref::new(format!("alb.tg.{default_app}")));
        // With a certificate, port 80 only redirects and the apps are served on 443.
        let (port, certificate_arn) = match &alb.certificate_arn {
            Some(arn) => {
                add(
                    ListenerSpec::logical_id(80),
                    ListenerSpec {
                        load_balancer: Ref::new("alb"),
                        port: 80,
                        certificate_arn: None,
                        default_action: ListenerDefault::RedirectToHttps,
                    }
                    .into(),
                    Declared::at(&["alb"]),
                );
                (443, Some(arn.clone()))
            }
            None => (80, None),
        };
        let listener = ListenerSpec::logical_id(port);
        routes.insert(
            default_app.clone(),
            (ResourceKind::Listener, listener.clone()),
        );
        add(
            listener.clone(),
            ListenerSpec {
                load_balancer: Ref::new("alb"),
                port,
                certificate_arn,
                default_action: forward,
            }
            .into(),
            Declared::at(&["alb"]),
        );
        // Priorities 10, 20, … in app name order: stable as long as the apps are.
        for (idx, (app_name, app)) in cfg
            .apps
            .iter()
            .filter(|(_, a)| !a.paths.is_empty())
            .enumerate()
        {
            let priority = 10 * (i64::try_from(idx).unwrap_or(0) + 1);
            routes.insert(
                app_name.clone(),
                (
                    ResourceKind::ListenerRule,
                    ListenerRuleSpec::logical_id(priority),
                ),
            );
            add(
                ListenerRuleSpec::logical_id(priority),
                ListenerRuleSpec {
                    listener: Ref::new(listener.as_str()),
                    priority,
                    paths: app.paths.clone(),
                    target_group: Ref::new(format!("alb.tg.{app_name}")),
                }
                .into(),
                Declared::at(&["alb"]),
            );
        }
    }
    routes
}

/// A validated duration in whole seconds.
pub(super) fn seconds(text: &str, default: i64) -> i64 {
    crate::stack::parse_duration(text)
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(default)
}

/// Whether an image names its own tag or digest.
fn has_tag(image: &str) -> bool {
    image.contains('@')
        || image
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
}

/// What every container gets (docs/magento.md): where the database, caches, search and broker
/// are, and the release. The database and caches by their private DNS names, which stay the
/// same when an endpoint changes; the search domain and the broker by the AWS host name their
/// certificate is issued for, which a client verifying the server checks (a private CNAME
/// would fail that check).
fn shared_environment(stack: &Stack) -> BTreeMap<String, Value> {
    let cfg = &stack.config;
    let mut env: BTreeMap<String, Value> = BTreeMap::new();
    let mut set = |key: &str, value: Value| {
        env.insert(key.to_string(), value);
    };
    let zone = cfg.dns.as_ref().map(|dns| {
        dns.zone
            .clone()
            .unwrap_or_else(|| format!("{}.magecloudkit.internal", stack.name))
    });
    if let (Some(zone), Some(db)) = (&zone, &cfg.database) {
        set("DB_HOST", format!("db.{zone}").into());
        set("DB_READER_HOST", format!("db-ro.{zone}").into());
        set("DB_NAME", db.database_name.as_str().into());
    }
    for (name, cache) in &cfg.caches {
        let key = name.to_uppercase().replace('-', "_");
        match cache.engine {
            CacheEngine::Redis => {
                // Encrypted in transit (TLS on 6379); database 0 of each, and Magento's full
                // page cache in database 1 of the `cache` one. By the primary endpoint's AWS
                // name, which its certificate carries (docs/magento.md on TLS): a refused
                // update of the group does not hold back what only reads this.
                let host = Ref::<kind::ReplicationGroup>::new(format!("redis.{name}"))
                    .output(ReplicationGroupSpec::OUT_PRIMARY_ENDPOINT);
                set(&format!("REDIS_{key}_PORT"), "6379".into());
                set(&format!("REDIS_{key}_TLS"), "true".into());
                set(&format!("REDIS_{key}_DB"), "0".into());
                if name == "cache" {
                    set("REDIS_PAGE_CACHE_HOST", host.clone());
                    set("REDIS_PAGE_CACHE_DB", "1".into());
                }
                set(&format!("REDIS_{key}_HOST"), host);
            }
            CacheEngine::Memcached => {
                if let Some(zone) = &zone {
                    set(
                        &format!("MEMCACHED_{key}_HOST"),
                        format!("memcached-{name}.{zone}").into(),
                    );
                }
            }
        }
    }
    if cfg.search.is_some() {
        set("SEARCH_ENGINE", "opensearch".into());
        set(
            "SEARCH_HOST",
            Ref::<kind::SearchDomain>::new("search").output(SearchDomainSpec::OUT_ENDPOINT),
        );
        set("SEARCH_PORT", "443".into());
        set("SEARCH_USER", super::data::SERVICE_USER.into());
    }
    if cfg.queue.is_some() {
        set(
            "AMQP_HOST",
            Ref::<kind::MqBroker>::new("mq").output(MqBrokerSpec::OUT_HOST),
        );
        set("AMQP_PORT", "5671".into());
        set("AMQP_USER", super::data::SERVICE_USER.into());
        set("AMQP_VHOST", "/".into());
        set("AMQP_SSL", "true".into());
    }
    if let Some(revision) = cfg.release.as_ref().and_then(|r| r.revision.clone()) {
        set("REVISION", revision.into());
    }
    if let Some(url) = cfg.app.as_ref().and_then(|a| a.base_url.clone()) {
        set("MAGENTO_BASE_URL", url.into());
    }
    if let Some(url) = cfg.app.as_ref().and_then(|a| a.media_fallback_url.clone()) {
        set("MEDIA_FALLBACK_URL", url.into());
    }
    if cfg.release.as_ref().is_some_and(|r| r.blue_green) {
        set("MAGENTO_BLUE_GREEN", "1".into());
    }
    env
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn dev() -> Stack {
        crate::stack::load(Path::new("../../stacks"), "dev").unwrap()
    }

    use super::super::spec_of as by_id;

    /// Stage's containers get its base URL; a preview's get no base URL (its shop is at its own
    /// load balancer) and stage's media as their fallback (`preview.media: shared`).
    #[test]
    fn a_preview_reads_missing_media_from_its_source_and_keeps_its_own_address() {
        let stage = crate::stack::load(Path::new("../../stacks"), "stage").unwrap();
        let preview = super::super::preview_of_stage(false);
        let env = |stack: &Stack, name: &str| shared_environment(stack).get(name).cloned();
        assert_eq!(
            env(&stage, "MAGENTO_BASE_URL"),
            Some("https://stage.shop.example/".into())
        );
        assert_eq!(env(&stage, "MEDIA_FALLBACK_URL"), None);
        assert_eq!(env(&preview, "MAGENTO_BASE_URL"), None);
        assert_eq!(
            env(&preview, "MEDIA_FALLBACK_URL"),
            Some("https://stage.shop.example/media/".into())
        );
    }

    /// The maintenance-off task runs after a failed release too, on the new build: it cleans
    /// the caches only when the migration's check finds the database up to date for that build
    /// (a failed migration leaves it behind: exit 2), and ends maintenance either way.
    #[test]
    fn maintenance_ends_and_caches_are_cleaned_only_on_a_migrated_database() {
        let prod = crate::stack::load(Path::new("../../stacks"), "prod").unwrap();
        assert!(prod.config.release.as_ref().is_some_and(|r| r.maintenance));
        let resources = super::super::resources(&prod);
        let ResourceSpec::Maintenance(off) = by_id(&resources, MaintenanceSpec::ID) else {
            panic!("no maintenance-off task")
        };
        let script = off.task.command[2].clone();
        assert!(script.contains("bin/magento setup:db:status"), "{script}");
        let dir = std::env::temp_dir().join(format!("mck-maint-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(
            dir.join("bin/magento"),
            format!(
                "#!/bin/sh\necho \"$1\" >> {d}/ran\n[ \"$1\" = setup:db:status ] && exit $(cat {d}/status)\nexit 0\n",
                d = dir.display()
            ),
        )
        .unwrap();
        std::process::Command::new("chmod")
            .args(["+x", dir.join("bin/magento").to_str().unwrap()])
            .status()
            .unwrap();
        let run = |status: &str| {
            std::fs::write(dir.join("status"), status).unwrap();
            let _ = std::fs::remove_file(dir.join("ran"));
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .current_dir(&dir)
                .output()
                .unwrap();
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                std::fs::read_to_string(dir.join("ran")).unwrap_or_default(),
            )
        };
        let (said, ran) = run("0");
        assert_eq!(ran, "setup:db:status\ncache:clean\n", "{said}");
        assert!(said.contains("caches cleaned") && said.contains("maintenance mode off"));
        let (said, ran) = run("2");
        assert_eq!(ran, "setup:db:status\n", "{said}");
        assert!(said.contains("caches are left") && said.contains("maintenance mode off"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn without_a_certificate_port_80_forwards_and_carries_the_rules() {
        let resources = super::super::resources(&dev());
        let ResourceSpec::Listener(http) = by_id(&resources, "alb.listener.80") else {
            panic!()
        };
        assert_eq!(
            http.default_action,
            ListenerDefault::Forward(Ref::new("alb.tg.frontend"))
        );
        assert!(http.certificate_arn.is_none());
        assert!(
            resources
                .iter()
                .all(|r| r.id.as_str() != "alb.listener.443")
        );
        let ResourceSpec::ListenerRule(rule) = by_id(&resources, "alb.rule.10") else {
            panic!()
        };
        assert_eq!(rule.listener.id().as_str(), "alb.listener.80");
    }

    #[test]
    fn with_a_certificate_80_redirects_and_443_serves_with_the_tls_policy() {
        let mut stack = dev();
        let cert = "arn:aws:acm:us-east-1:123456789012:certificate/abc";
        stack.config.alb = Some(crate::stack::AlbConfig {
            certificate_arn: Some(cert.into()),
            ..Default::default()
        });
        let resources = super::super::resources(&stack);
        let ResourceSpec::Listener(http) = by_id(&resources, "alb.listener.80") else {
            panic!()
        };
        assert_eq!(http.default_action, ListenerDefault::RedirectToHttps);
        assert!(http.certificate_arn.is_none());
        let ResourceSpec::Listener(https) = by_id(&resources, "alb.listener.443") else {
            panic!()
        };
        assert_eq!(https.certificate_arn.as_deref(), Some(cert));
        assert_eq!(
            https.default_action,
            ListenerDefault::Forward(Ref::new("alb.tg.frontend"))
        );
        let fields = ResourceSpec::Listener(https).fields();
        let field = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(field("protocol"), Value::from("HTTPS"));
        assert_eq!(
            field("ssl_policy"),
            Value::from("ELBSecurityPolicy-TLS13-1-2-2021-06")
        );
        // The /backend/* rule and the services follow the HTTPS listener.
        let ResourceSpec::ListenerRule(rule) = by_id(&resources, "alb.rule.10") else {
            panic!()
        };
        assert_eq!(rule.listener.id().as_str(), "alb.listener.443");
        let ResourceSpec::EcsService(frontend) = by_id(&resources, "ecs.service.frontend") else {
            panic!()
        };
        assert!(
            frontend
                .after
                .contains(&(ResourceKind::Listener, LogicalId::new("alb.listener.443")))
        );
    }

    #[test]
    fn ec2_capacity_adds_the_app_servers_and_the_services_use_their_capacity_provider() {
        let prod = crate::stack::load(Path::new("../../stacks"), "prod").unwrap();
        let resources = super::super::resources(&prod);
        let ResourceSpec::AutoScalingGroup(group) = by_id(&resources, "ecs.servers") else {
            panic!()
        };
        assert_eq!((group.min_size, group.max_size), (2, 6));
        assert_eq!(group.launch_template.id().as_str(), "ecs.servers.template");
        // Instances need a way out to join the cluster: after the private subnets' NAT routes.
        assert!(
            group
                .after
                .iter()
                .all(|(kind, id)| *kind == ResourceKind::Route
                    && id.as_str().starts_with("rt.private."))
                && group.after.len() == 3,
            "{:?}",
            group.after
        );
        let ResourceSpec::LaunchTemplate(template) = by_id(&resources, "ecs.servers.template")
        else {
            panic!()
        };
        assert_eq!(template.instance_type, "c5.large");
        assert_eq!(
            template.ami,
            AmiSelector::Lookup {
                name_pattern: crate::stack::ECS_AMI_PATTERN.into(),
                owner: crate::stack::ECS_AMI_OWNER.into()
            }
        );
        let ResourceSpec::Role(role) = by_id(&resources, "iam.app-server") else {
            panic!()
        };
        assert_eq!(role.service, "ec2.amazonaws.com");
        assert!(
            role.managed_policies
                .iter()
                .any(|p| p.ends_with("/AmazonEC2ContainerServiceforEC2Role"))
        );
        let ResourceSpec::CapacityProvider(cp) = by_id(&resources, "ecs.capacity") else {
            panic!()
        };
        assert_eq!(cp.auto_scaling_group.id().as_str(), "ecs.servers");
        for app in ["frontend", "admin"] {
            let ResourceSpec::EcsService(service) =
                by_id(&resources, &format!("ecs.service.{app}"))
            else {
                panic!()
            };
            assert_eq!(
                service.capacity,
                ServiceCapacity::Provider(Ref::new("ecs.capacity"))
            );
        }
        // `app.servers.ami.id` fixes the image.
        let mut fixed = prod.clone();
        if let Some(servers) = fixed.config.app.as_mut().and_then(|a| a.servers.as_mut()) {
            servers.ami.id = Some("ami-0123456789abcdef0".into());
        }
        let ResourceSpec::LaunchTemplate(template) =
            by_id(&super::super::resources(&fixed), "ecs.servers.template")
        else {
            panic!()
        };
        assert_eq!(
            template.ami,
            AmiSelector::Id("ami-0123456789abcdef0".into())
        );
        // Fargate stacks have none of it.
        let dev = super::super::resources(&dev());
        assert!(dev.iter().all(|r| !matches!(
            r.kind(),
            ResourceKind::AutoScalingGroup
                | ResourceKind::LaunchTemplate
                | ResourceKind::CapacityProvider
                | ResourceKind::InstanceProfile
        )));
    }

    /// ECS refuses capacity provider names that start with `aws`, `ecs` or `fargate` (any
    /// case; CreateCapacityProvider reference) or hold other characters than letters, digits,
    /// `-` and `_`, up to 255: every valid stack name gives a valid one.
    #[test]
    fn the_capacity_provider_name_is_valid_for_every_stack_name() {
        let valid = |name: &str| {
            let lower = name.to_ascii_lowercase();
            !["aws", "ecs", "fargate"]
                .iter()
                .any(|p| lower.starts_with(p))
                && name.len() <= 255
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        let mut prod = crate::stack::load(Path::new("../../stacks"), "prod").unwrap();
        for stack in [
            "prod",
            "ecs-shop",
            "aws",
            "Fargate-eu",
            "ECS",
            "a-20-chars-long-name",
        ] {
            prod.name = stack.to_string();
            let ResourceSpec::CapacityProvider(cp) =
                by_id(&super::super::resources(&prod), "ecs.capacity")
            else {
                panic!()
            };
            assert!(valid(&cp.name), "stack {stack}: {}", cp.name);
            assert_eq!(cp.name, CapacityProviderSpec::name_for(stack));
        }
    }
}
