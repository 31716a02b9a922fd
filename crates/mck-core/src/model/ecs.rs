//! ECS kinds of the app tier: the cluster, the apps' task definitions and services.

use std::fmt;
use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, RoleSpec,
    Value, kind, minutes,
};

/// The ECS cluster `<stack>-app`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsClusterSpec {
    /// The name.
    pub name: String,
    /// CloudWatch Container Insights on.
    pub container_insights: bool,
}

impl EcsClusterSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `container_insights`: changed in place.
    pub const CONTAINER_INSIGHTS: FieldDef = FieldDef::mutable("container_insights");
    /// Output `name`.
    pub const OUT_NAME: &str = "name";
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
}

impl Kind for EcsClusterSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME, Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::CONTAINER_INSIGHTS.of(self.container_insights),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// One container of a task definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The name.
    pub name: String,
    /// With its tag or digest.
    pub image: String,
    /// The port.
    pub port: Option<i64>,
    /// Soft memory limit in MiB.
    pub memory_reservation: i64,
    /// Plain values only: secrets go in `secrets`.
    pub environment: std::collections::BTreeMap<String, Value>,
    /// Variables whose value ECS reads from Secrets Manager: (name, secret ARN and JSON key).
    pub secrets: Vec<(String, Value)>,
    /// (volume name, path in the container).
    pub mounts: Vec<(String, String)>,
    /// The command, replacing the image's (empty: the image's own).
    pub command: Vec<String>,
}

/// An EFS volume of a task, through an access point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSpec {
    /// The name.
    pub name: String,
    /// The EFS file system.
    pub file_system: Ref<kind::FileSystem>,
    /// The EFS access point mounted.
    pub access_point: Ref<kind::AccessPoint>,
}

/// A task definition `<stack>-<app>`. Revisioned: any change registers a new revision, which
/// the service moves to before the old one is deregistered (create-first replacement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDefinitionSpec {
    /// The task definition family.
    pub family: String,
    /// CPU units (1024 = one vCPU).
    pub cpu: i64,
    /// Memory in MiB.
    pub memory: i64,
    /// `FARGATE` or `EC2`.
    pub compatibility: String,
    /// The role ECS uses to pull images, write logs and read secrets.
    pub execution_role: Ref<kind::Role>,
    /// The role its containers run as.
    pub task_role: Ref<kind::Role>,
    /// The log group its containers write to.
    pub log_group: Ref<kind::LogGroup>,
    /// Its containers, in order.
    pub containers: Vec<ContainerSpec>,
    /// Volumes its containers mount.
    pub volumes: Vec<VolumeSpec>,
    /// Not compared: revisions kept registered after a rollout (the newest ones, for
    /// `mck rollback`); see [`TaskDefinitionSpec::revisions_to_prune`].
    pub keep_revisions: usize,
    /// Not compared: the cluster whose services may run a revision (never pruned while used).
    pub cluster_name: String,
}

impl TaskDefinitionSpec {
    /// Field `family`: a change replaces the resource.
    pub const FAMILY: FieldDef = FieldDef::immutable("family");
    /// Field `cpu`: a change replaces the resource.
    pub const CPU: FieldDef = FieldDef::immutable("cpu");
    /// Field `memory`: a change replaces the resource.
    pub const MEMORY: FieldDef = FieldDef::immutable("memory");
    /// Field `requires_compatibilities`: a change replaces the resource.
    pub const REQUIRES_COMPATIBILITIES: FieldDef = FieldDef::immutable("requires_compatibilities");
    /// Field `execution_role_arn`: a change replaces the resource.
    pub const EXECUTION_ROLE_ARN: FieldDef = FieldDef::immutable("execution_role_arn");
    /// Field `task_role_arn`: a change replaces the resource.
    pub const TASK_ROLE_ARN: FieldDef = FieldDef::immutable("task_role_arn");
    /// One `[container, setting, value]` per setting, sorted: a plan names what changed.
    pub const CONTAINERS: FieldDef = FieldDef::immutable("containers");
    /// One `[volume, file system, access point]` per EFS volume.
    pub const VOLUMES: FieldDef = FieldDef::immutable("volumes");
    /// Field `log_group`: a change replaces the resource.
    pub const LOG_GROUP: FieldDef = FieldDef::immutable("log_group");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// Output `revision`.
    pub const OUT_REVISION: &str = "revision";

    /// The revisions of a family to deregister after a rollout: all but the newest `keep`,
    /// never one in `in_use` (a service's or a running deployment's). `active` holds
    /// `(revision number, ARN)` in any order; the result is oldest first.
    pub fn revisions_to_prune(
        active: &[(i64, String)],
        in_use: &std::collections::BTreeSet<String>,
        keep: usize,
    ) -> Vec<String> {
        let mut newest_first: Vec<&(i64, String)> = active.iter().collect();
        newest_first.sort_by_key(|r| std::cmp::Reverse(r.0));
        let mut out: Vec<String> = newest_first
            .into_iter()
            .skip(keep)
            .filter(|(_, arn)| !in_use.contains(arn))
            .map(|(_, arn)| arn.clone())
            .collect();
        out.reverse();
        out
    }

    /// A container's command as [`Self::CONTAINERS`] holds it (in order).
    pub fn command_value(command: &[String]) -> Value {
        Value::List(command.iter().cloned().map(Value::Str).collect())
    }

    /// The canonical settings of `containers`, as [`Self::CONTAINERS`] holds them.
    pub fn container_settings(containers: &[ContainerSpec]) -> Value {
        let mut out = Vec::new();
        let row = |c: &str, k: String, v: Value| {
            Value::List(vec![Value::Str(c.into()), Value::Str(k), v])
        };
        for c in containers {
            out.push(row(&c.name, "image".into(), Value::Str(c.image.clone())));
            if let Some(port) = c.port {
                out.push(row(&c.name, "port".into(), Value::Int(port)));
            }
            out.push(row(
                &c.name,
                "memory_reservation".into(),
                Value::Int(c.memory_reservation),
            ));
            for (k, v) in &c.environment {
                out.push(row(&c.name, format!("environment.{k}"), v.clone()));
            }
            for (k, v) in &c.secrets {
                out.push(row(&c.name, format!("secret.{k}"), v.clone()));
            }
            for (volume, path) in &c.mounts {
                out.push(row(
                    &c.name,
                    format!("mount.{volume}"),
                    Value::Str(path.clone()),
                ));
            }
            if !c.command.is_empty() {
                out.push(row(
                    &c.name,
                    "command".into(),
                    Self::command_value(&c.command),
                ));
            }
        }
        out.sort();
        Value::List(out)
    }
}

impl Kind for TaskDefinitionSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::FileSystem,
        ResourceKind::AccessPoint,
        ResourceKind::DbCluster,
        ResourceKind::SearchDomain,
        ResourceKind::MqBroker,
        // The Redis hosts are the groups' primary endpoints.
        ResourceKind::ReplicationGroup,
        ResourceKind::Secret,
        ResourceKind::LogGroup,
        ResourceKind::Role,
        // The install's task finds the storefront on the load balancer's name.
        ResourceKind::LoadBalancer,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN, Self::OUT_REVISION];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::CreateFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::MakesAnother;

    fn fields(&self) -> Vec<Field> {
        let mut volumes: Vec<Value> = self
            .volumes
            .iter()
            .map(|v| {
                Value::List(vec![
                    Value::Str(v.name.clone()),
                    v.file_system.value(),
                    v.access_point.value(),
                ])
            })
            .collect();
        volumes.sort();
        vec![
            Self::FAMILY.of(self.family.as_str()),
            Self::CPU.of(self.cpu),
            Self::MEMORY.of(self.memory),
            Self::REQUIRES_COMPATIBILITIES.of(self.compatibility.as_str()),
            Self::EXECUTION_ROLE_ARN.of(self.execution_role.output(RoleSpec::OUT_ARN)),
            Self::TASK_ROLE_ARN.of(self.task_role.output(RoleSpec::OUT_ARN)),
            Self::LOG_GROUP.of(self.log_group.value()),
            Self::CONTAINERS.of(Self::container_settings(&self.containers)),
            Self::VOLUMES.of(Value::List(volumes)),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// What a release's one-off task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseJob {
    /// The database migration (and, with `release.maintenance`, setting the maintenance flag
    /// first).
    Migrate,
    /// Removing the maintenance flag once the services are healthy, or the release failed.
    MaintenanceOff,
    /// Cleaning Magento's caches once every service runs the new build (Adobe's order:
    /// upgrade, roll out, clean the caches, then end maintenance).
    CacheClean,
    /// Making sure the app's database login exists with its password and privileges (as the
    /// master user), before the migration and the services use it.
    DbLogin,
    /// Installing Magento (`setup:install`) when the database holds none: once per stack, after
    /// the login and before the migration and the services.
    Install,
}

impl ReleaseJob {
    /// Its logical id.
    pub fn id(self) -> &'static str {
        match self {
            ReleaseJob::Migrate => "release.migrate",
            ReleaseJob::MaintenanceOff => "release.maintenance.off",
            ReleaseJob::CacheClean => "release.cache-clean",
            ReleaseJob::DbLogin => "release.db-login",
            ReleaseJob::Install => "release.install",
        }
    }

    /// The cluster tag recording the build it last ran for.
    pub fn record_tag(self) -> &'static str {
        match self {
            ReleaseJob::Migrate => "mck:migrated",
            ReleaseJob::MaintenanceOff => "mck:maintenance-off",
            ReleaseJob::CacheClean => "mck:cache-cleaned",
            ReleaseJob::DbLogin => "mck:db-login",
            ReleaseJob::Install => "mck:installed",
        }
    }

    /// `startedBy` of its tasks: finds one a killed run left running.
    pub fn started_by(self) -> &'static str {
        match self {
            ReleaseJob::Migrate => "mck-migrate",
            ReleaseJob::MaintenanceOff => "mck-maintenance",
            ReleaseJob::CacheClean => "mck-cache-clean",
            ReleaseJob::DbLogin => "mck-db-login",
            ReleaseJob::Install => "mck-install",
        }
    }

    /// In words, for messages.
    pub fn what(self) -> &'static str {
        match self {
            ReleaseJob::Migrate => "migration",
            ReleaseJob::MaintenanceOff => "maintenance-off task",
            ReleaseJob::CacheClean => "cache clean",
            ReleaseJob::DbLogin => "database login task",
            ReleaseJob::Install => "Magento install",
        }
    }
}

/// The PHP of [`ReleaseTaskSpec::db_login_command`]. User names are checked against
/// `[a-z0-9_]` before they reach SQL; passwords and the database name are quoted by PDO.
const DB_LOGIN_SCRIPT: &str = r#"$args = array_values(array_filter(array_slice($argv, 1), fn($a) => $a !== "--"));
$mode = $args[0] ?? "ensure";
$master = json_decode((string) getenv("DB_MASTER_SECRET"), true);
$app = json_decode((string) getenv("DB_APP_SECRET"), true);
if (!is_array($master) || !is_array($app) || !isset($master["username"], $master["password"], $app["username"], $app["password"])) {
    fwrite(STDERR, "mck: DB_MASTER_SECRET and DB_APP_SECRET must hold JSON logins\n");
    exit(1);
}
$user = $mode === "retire" ? (string) ($args[1] ?? "") : $app["username"];
if (!preg_match('/^[a-z][a-z0-9_]{0,31}$/', $user)) {
    fwrite(STDERR, "mck: not a user name mck makes: " . $user . "\n");
    exit(1);
}
$pdo = new PDO("mysql:host=" . getenv("DB_HOST") . ";port=3306", $master["username"], $master["password"], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$account = $pdo->quote($user) . "@'%'";
if ($mode === "retire") {
    if ($user === $app["username"]) {
        fwrite(STDERR, "mck: " . $user . " is the login in use; not locked\n");
        exit(1);
    }
    $pdo->exec("ALTER USER IF EXISTS " . $account . " ACCOUNT LOCK");
    echo "mck: database login " . $user . " locked\n";
    exit(0);
}
$password = $pdo->quote($app["password"]);
$pdo->exec("CREATE USER IF NOT EXISTS " . $account . " IDENTIFIED BY " . $password);
$pdo->exec("ALTER USER " . $account . " IDENTIFIED BY " . $password . " ACCOUNT UNLOCK");
$pdo->exec("GRANT ALL PRIVILEGES ON `" . str_replace("`", "``", (string) getenv("DB_NAME")) . "`.* TO " . $account);
echo "mck: database login " . $user . " ready\n";
"#;

/// The `Kind` methods of a job of a kind of its own (the login, the install, the maintenance
/// jobs): those of the release task it wraps (`task`).
macro_rules! wraps_a_release_task {
    () => {
        fn fields(&self) -> Vec<Field> {
            self.task.fields()
        }

        fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
            self.task.ordering()
        }

        fn dereferences(&self) -> Vec<LogicalId> {
            self.task.dereferences()
        }
    };
}

/// Magento's installation ([`ReleaseJob::Install`]): a one-off task on `<stack>-install` that
/// runs `setup:install` when the database holds no Magento, does nothing when it does, and
/// fails, naming what to do, when an earlier install was interrupted. Recorded once
/// ([`InstallSpec::INSTALLED`]), so it runs on a stack's first release only; the migration and
/// every service wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallSpec {
    /// The one-off task; its `image` is the record, [`InstallSpec::INSTALLED`].
    pub task: ReleaseTaskSpec,
}

impl InstallSpec {
    /// The record of a stack whose install task succeeded (not a build: it runs once).
    pub const INSTALLED: &str = "installed";
}

impl Kind for InstallSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
        ResourceKind::Route,
        ResourceKind::DbInstance,
        ResourceKind::MountTarget,
        ResourceKind::RecordSet,
        ResourceKind::LogGroup,
        ResourceKind::EcsCluster,
        ResourceKind::CapacityProvider,
        ResourceKind::TaskDefinition,
        ResourceKind::DbLogin,
        ResourceKind::SearchDomain,
        ResourceKind::MqBroker,
        ResourceKind::ReplicationGroup,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] =
        &[ReleaseTaskSpec::OUT_TASK, ReleaseTaskSpec::OUT_NOTE];
    // A full `setup:install` with its schema and data patches: ten to twenty minutes.
    const TIMEOUT: Duration = minutes(60);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::FoundOnceVisible;

    wraps_a_release_task!();
}

/// The job that makes sure the apps' database login exists ([`ReleaseJob::DbLogin`]), before
/// the migration and every service that uses it: a release task of its own kind, ordered
/// before them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbLoginSpec {
    /// The one-off task, on the `<stack>-db-admin` task definition.
    pub task: ReleaseTaskSpec,
}

impl Kind for DbLoginSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
        ResourceKind::Route,
        ResourceKind::DbInstance,
        ResourceKind::MountTarget,
        ResourceKind::RecordSet,
        ResourceKind::LogGroup,
        ResourceKind::EcsCluster,
        ResourceKind::CapacityProvider,
        ResourceKind::TaskDefinition,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] =
        &[ReleaseTaskSpec::OUT_TASK, ReleaseTaskSpec::OUT_NOTE];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::FoundOnceVisible;

    wraps_a_release_task!();
}

/// A release's one-off ECS task on the migrating app's *new* task definition (its container's
/// command overridden), in the private subnets. The migration runs before any service rolls
/// (services are ordered after it); it is ready when the task has stopped with exit code 0, and
/// any other exit fails the step, so no service is touched. Not a resource AWS keeps: the build
/// a job last ran for is recorded on the cluster (tag [`ReleaseJob::record_tag`]), so it runs
/// again only when the build (`image`) changes, and a no-op `up` runs nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseTaskSpec {
    /// What it does.
    pub job: ReleaseJob,
    /// The cluster it runs in; records the build it ran for.
    pub cluster: Ref<kind::EcsCluster>,
    /// The new task definition it runs.
    pub task_definition: Ref<kind::TaskDefinition>,
    /// The log group its container writes to (stream `<container>/<container>/<task id>`).
    pub log_group: Ref<kind::LogGroup>,
    /// The container whose command is overridden.
    pub container: String,
    /// What the job's record keeps: the build being released (that container's image), so
    /// the job runs again for a new build; for the install, which runs once per stack, the
    /// constant [`InstallSpec::INSTALLED`].
    pub image: String,
    /// The command (`sh -c SCRIPT`).
    pub command: Vec<String>,
    /// Where the task runs.
    pub capacity: ServiceCapacity,
    /// The private subnets.
    pub subnets: Vec<Ref<kind::Subnet>>,
    /// The app's security groups (reach the database).
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// Ordering only: what the task needs (routes out, EFS, DNS records, database instances).
    pub after: Vec<(ResourceKind, LogicalId)>,
    /// Services stopped while the task runs (cron, while the migration changes the schema):
    /// scaled to 0 before it starts; once it succeeds they run again on their new task
    /// definition, and if it fails on the one they ran.
    pub pauses: Vec<PausedService>,
}

/// A service a release task stops while it runs ([`ReleaseTaskSpec::pauses`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PausedService {
    /// The ECS service's name (`cron`).
    pub name: String,
    /// Its task definition in the stack: what it runs once the task succeeded.
    pub task_definition: Ref<kind::TaskDefinition>,
    /// Its task count, restored afterwards.
    pub count: i64,
}

impl ReleaseTaskSpec {
    /// The logical id of a stack's migration.
    pub const MIGRATE_ID: &str = "release.migrate";
    /// The build it last ran for: changed in place (a new build runs it again).
    pub const IMAGE: FieldDef = FieldDef::mutable("image");
    /// Output `task`: the ARN of the task that ran.
    pub const OUT_TASK: &str = "task";
    /// Output `note`: what the task printed last (shown under the step).
    pub const OUT_NOTE: &str = super::NOTE;
    /// Magento's maintenance flag, on the shared `var` access point.
    pub const MAINTENANCE_FLAG: &str = "/var/www/html/var/.maintenance.flag";

    /// The migration's shell script: `check`, and `upgrade` when it exits 2 (or always,
    /// without `check`); with `maintenance`, the flag is set first.
    pub fn script(check: &str, upgrade: &str, maintenance: bool) -> String {
        let flag = if maintenance {
            format!(
                "touch {} && echo 'mck: maintenance mode on'; ",
                Self::MAINTENANCE_FLAG
            )
        } else {
            String::new()
        };
        if check.trim().is_empty() {
            return format!("{flag}exec {upgrade}");
        }
        format!(
            "{flag}{check}; rc=$?; if [ \"$rc\" -eq 2 ]; then echo 'mck: the database needs an upgrade'; \
             exec {upgrade}; fi; exit \"$rc\""
        )
    }

    /// The container of the database login tasks (task definitions `<stack>-db-admin` and
    /// `<stack>-db-rotate`).
    pub const DB_ADMIN_CONTAINER: &str = "db-admin";

    /// The command of a database login task: PHP (every Magento image has it, with PDO MySQL)
    /// connecting as the master user (`DB_MASTER_SECRET`) to `DB_HOST`.
    ///
    /// Without `retire`, it makes sure the login in `DB_APP_SECRET` exists, has that password,
    /// is unlocked and holds every privilege on `DB_NAME` (Magento's documented grant):
    /// `CREATE USER IF NOT EXISTS`, `ALTER USER`, `GRANT`, each idempotent. With `retire`, it
    /// locks that user, refusing when it is the login in `DB_APP_SECRET`. Passwords reach it
    /// only as ECS secrets (environment), never on the command line; the user name is no
    /// secret.
    pub fn db_login_command(retire: Option<&str>) -> Vec<String> {
        let mut command = vec![
            "php".to_string(),
            "-r".to_string(),
            DB_LOGIN_SCRIPT.to_string(),
            "--".to_string(),
        ];
        match retire {
            None => command.push("ensure".into()),
            Some(user) => command.extend(["retire".to_string(), user.to_string()]),
        }
        command
    }

    /// The cache clean's script: `command` (Magento's `bin/magento cache:clean`).
    pub fn cache_clean_script(command: &str) -> String {
        format!("{command} && echo 'mck: caches cleaned'")
    }

    /// The maintenance-off task's script: the cache clean first when there is one (Adobe's
    /// order: clean the caches, then end maintenance), whose failure does not keep the flag.
    /// It runs after a failed release too, on the new build: when the migration's `check`
    /// says the database is behind that build (exit 2: the migration did not finish), the
    /// caches, which the old build still serves, are left alone.
    pub fn maintenance_off_script(cache_clean: Option<&str>, check: &str) -> String {
        let clean = cache_clean.map_or(String::new(), |c| {
            let clean =
                format!("{c} && echo 'mck: caches cleaned' || echo 'mck: the cache clean failed'; ");
            if check.trim().is_empty() {
                return clean;
            }
            format!(
                "{check} >/dev/null 2>&1; if [ \"$?\" -eq 2 ]; then \
                 echo 'mck: the database is behind this build (the migration did not finish): the caches are left as they are'; \
                 else {clean}fi; "
            )
        });
        format!(
            "{clean}rm -f {} && echo 'mck: maintenance mode off'",
            Self::MAINTENANCE_FLAG
        )
    }
}

impl Kind for ReleaseTaskSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
        ResourceKind::Route,
        ResourceKind::DbInstance,
        ResourceKind::MountTarget,
        ResourceKind::RecordSet,
        ResourceKind::LogGroup,
        ResourceKind::EcsCluster,
        ResourceKind::CapacityProvider,
        ResourceKind::TaskDefinition,
        // The migration waits for the database login job and the install.
        ResourceKind::DbLogin,
        ResourceKind::Install,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_TASK, Self::OUT_NOTE];
    const TIMEOUT: Duration = minutes(30);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::FoundOnceVisible;

    fn fields(&self) -> Vec<Field> {
        vec![Self::IMAGE.of(self.image.as_str())]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        let mut after = self.after.clone();
        after.extend(
            self.subnets
                .iter()
                .map(|s| (ResourceKind::Subnet, s.id().clone())),
        );
        after.extend(
            self.security_groups
                .iter()
                .map(|s| (ResourceKind::SecurityGroup, s.id().clone())),
        );
        after.push((ResourceKind::EcsCluster, self.cluster.id().clone()));
        after.push((ResourceKind::LogGroup, self.log_group.id().clone()));
        after.push((
            ResourceKind::TaskDefinition,
            self.task_definition.id().clone(),
        ));
        if let ServiceCapacity::Provider(cp) = &self.capacity {
            after.push((ResourceKind::CapacityProvider, cp.id().clone()));
        }
        after.extend(
            self.pauses
                .iter()
                .map(|p| (ResourceKind::TaskDefinition, p.task_definition.id().clone())),
        );
        after
    }

    /// What `RunTask` is given: the cluster, the task definition, the log group (for the log
    /// tail), the subnets, the security groups and the capacity provider.
    fn dereferences(&self) -> Vec<LogicalId> {
        let mut out = vec![
            self.cluster.id().clone(),
            self.task_definition.id().clone(),
            self.log_group.id().clone(),
        ];
        out.extend(self.subnets.iter().map(|s| s.id().clone()));
        out.extend(self.security_groups.iter().map(|s| s.id().clone()));
        if let ServiceCapacity::Provider(cp) = &self.capacity {
            out.push(cp.id().clone());
        }
        out.extend(self.pauses.iter().map(|p| p.task_definition.id().clone()));
        out
    }
}

/// The ECS service of one app, `<app>` in the stack's cluster: awsvpc tasks in the private
/// subnets with SG `app`, registered in the app's target group. Rolling deployments keep 100 %
/// of the tasks and start up to 200 %; the deployment circuit breaker rolls a failing
/// deployment back. Ready only when the deployment of its task definition has COMPLETED *and*
/// its target group reports at least the desired count of healthy targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsServiceSpec {
    /// The name.
    pub name: String,
    /// The cluster it belongs to.
    pub cluster: Ref<kind::EcsCluster>,
    /// The task definition it runs.
    pub task_definition: Ref<kind::TaskDefinition>,
    /// Tasks to run.
    pub desired_count: i64,
    /// Where its tasks run.
    pub capacity: ServiceCapacity,
    /// The subnets it spans.
    pub subnets: Vec<Ref<kind::Subnet>>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// Where the load balancer sends requests to its tasks; none for a worker (cron, queue
    /// consumers), whose rollout is gated on the deployment alone.
    pub load_balancer: Option<ServiceLoadBalancer>,
    /// Never two tasks at once, even during a deployment (the old task stops before the new
    /// one starts: 0%–100%): Magento's cron, whose runs must not overlap.
    pub one_at_a_time: bool,
    /// Application Auto Scaling sets the desired count (`apps.<name>.scaling`): it is sent only
    /// when the service is created, never compared (plan and drift ignore the live count) and
    /// never sent by an update, so a rollout keeps the count the scaling set.
    pub scaled: bool,
    /// ECS Exec into its tasks (`enableExecuteCommand`; tasks started before it was on have
    /// no exec agent until they are replaced).
    pub exec: bool,
    /// Deployment alarms: a rollout during which one of them fires is rolled back by ECS (and
    /// reported as a failed release naming it).
    pub alarms: Vec<Ref<kind::Alarm>>,
    /// Ordering only: what tasks need before they can turn healthy (the listener or rule that
    /// routes to the target group, the private subnets' routes out, the EFS mount targets, the
    /// private DNS records).
    pub after: Vec<(ResourceKind, LogicalId)>,
}

/// A service's place behind the load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceLoadBalancer {
    /// The target group.
    pub target_group: Ref<kind::TargetGroup>,
    /// The container the target group sends requests to.
    pub container_name: String,
    /// Its port.
    pub container_port: i64,
    /// Seconds ECS ignores failing load balancer health checks of a new task.
    pub health_check_grace_seconds: i64,
}

impl EcsServiceSpec {
    /// The deployment's (minimum healthy, maximum) percent: 100–200 (a new task starts
    /// before an old one stops), or 0–100 for a service run [one at a time](Self::one_at_a_time).
    pub fn deployment_percents(&self) -> (i32, i32) {
        if self.one_at_a_time {
            (0, 100)
        } else {
            (Self::MIN_HEALTHY_PERCENT, Self::MAX_PERCENT)
        }
    }

    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `cluster`: a change replaces the resource.
    pub const CLUSTER: FieldDef = FieldDef::immutable("cluster");
    /// Field `task_definition`: changed in place.
    pub const TASK_DEFINITION: FieldDef = FieldDef::mutable("task_definition");
    /// Field `desired_count`: changed in place.
    pub const DESIRED_COUNT: FieldDef = FieldDef::mutable("desired_count");
    /// Field `desired_count` of a [scaled](Self::scaled) service: set at create only.
    pub const DESIRED_COUNT_SCALED: FieldDef = FieldDef::create_only("desired_count");
    /// `FARGATE`, or the capacity provider of the app servers.
    pub const CAPACITY: FieldDef = FieldDef::immutable("capacity");
    /// Field `subnets`: changed in place.
    pub const SUBNETS: FieldDef = FieldDef::mutable("subnets");
    /// Field `security_groups`: changed in place.
    pub const SECURITY_GROUPS: FieldDef = FieldDef::mutable("security_groups");
    /// `[target group, container, port]`.
    pub const LOAD_BALANCER: FieldDef = FieldDef::immutable("load_balancer");
    /// Field `deployment`: changed in place.
    pub const DEPLOYMENT: FieldDef = FieldDef::mutable("deployment");
    /// Field `health_check_grace_period`: changed in place.
    pub const HEALTH_CHECK_GRACE_PERIOD: FieldDef = FieldDef::mutable("health_check_grace_period");
    /// Field `enable_execute_command`: changed in place (for tasks started after).
    pub const ENABLE_EXECUTE_COMMAND: FieldDef = FieldDef::mutable("enable_execute_command");
    /// Field `deployment_alarms`: the alarms that roll a deployment back; changed in place.
    pub const DEPLOYMENT_ALARMS: FieldDef = FieldDef::mutable("deployment_alarms");
    /// Output `name`.
    pub const OUT_NAME: &str = "name";
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// Minimum healthy percent of a rolling deployment.
    pub const MIN_HEALTHY_PERCENT: i32 = 100;
    /// Maximum percent of a rolling deployment.
    pub const MAX_PERCENT: i32 = 200;

    /// The deployment settings as [`Self::DEPLOYMENT`] holds them.
    pub fn deployment(min_healthy: i32, max: i32, rollback: bool) -> String {
        format!(
            "{min_healthy}%-{max}%, circuit breaker{}",
            if rollback { " with rollback" } else { "" }
        )
    }
}

impl Kind for EcsServiceSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
        ResourceKind::Route,
        ResourceKind::MountTarget,
        ResourceKind::RecordSet,
        ResourceKind::EcsCluster,
        ResourceKind::CapacityProvider,
        ResourceKind::TaskDefinition,
        ResourceKind::DbLogin,
        ResourceKind::Install,
        ResourceKind::ReleaseTask,
        ResourceKind::TargetGroup,
        ResourceKind::Listener,
        ResourceKind::ListenerRule,
        ResourceKind::Alarm,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME, Self::OUT_ARN];
    // A rollout with ALB health checks takes 3 to 5 minutes; the circuit breaker needs longer
    // to give up on tasks that never turn healthy.
    const TIMEOUT: Duration = minutes(20);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::CLUSTER.of(self.cluster.value()),
            Self::TASK_DEFINITION.of(self.task_definition.value()),
            if self.scaled {
                Self::DESIRED_COUNT_SCALED.of(self.desired_count)
            } else {
                Self::DESIRED_COUNT.of(self.desired_count)
            },
            Self::CAPACITY.of(match &self.capacity {
                ServiceCapacity::Fargate => Value::from("FARGATE"),
                ServiceCapacity::Provider(cp) => cp.value(),
            }),
            Self::SUBNETS.of(super::refs(&self.subnets)),
            Self::SECURITY_GROUPS.of(super::refs(&self.security_groups)),
            Self::LOAD_BALANCER.of(self.load_balancer.as_ref().map_or(Value::Null, |lb| {
                Value::List(vec![
                    lb.target_group.value(),
                    Value::Str(lb.container_name.clone()),
                    Value::Int(lb.container_port),
                ])
            })),
            Self::DEPLOYMENT.of({
                let (min_healthy, max) = self.deployment_percents();
                Self::deployment(min_healthy, max, true)
            }),
            Self::HEALTH_CHECK_GRACE_PERIOD.of(self
                .load_balancer
                .as_ref()
                .map_or(0, |lb| lb.health_check_grace_seconds)),
            Self::DEPLOYMENT_ALARMS.of(super::refs(&self.alarms)),
            Self::ENABLE_EXECUTE_COMMAND.of(self.exec),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        self.after.clone()
    }
}

/// A release task run once the services have rolled. With `release.maintenance`, the task that
/// cleans the caches and removes Magento's maintenance flag, which runs after the services
/// *whether or not they succeeded* (and after a failed migration), so a failed release never
/// leaves the shop in maintenance mode; without, the cache clean
/// ([`ReleaseJob::CacheClean`], `release.cache_clean`), after they all succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceSpec {
    /// The one-off task ([`ReleaseJob::MaintenanceOff`] or [`ReleaseJob::CacheClean`]).
    pub task: ReleaseTaskSpec,
}

impl MaintenanceSpec {
    /// The logical id.
    pub const ID: &str = "release.maintenance.off";
}

impl Kind for MaintenanceSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
        ResourceKind::Route,
        ResourceKind::DbInstance,
        ResourceKind::MountTarget,
        ResourceKind::RecordSet,
        ResourceKind::LogGroup,
        ResourceKind::EcsCluster,
        ResourceKind::CapacityProvider,
        ResourceKind::TaskDefinition,
        ResourceKind::DbLogin,
        ResourceKind::Install,
        ResourceKind::ReleaseTask,
        ResourceKind::EcsService,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] =
        &[ReleaseTaskSpec::OUT_TASK, ReleaseTaskSpec::OUT_NOTE];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    wraps_a_release_task!();

    fn runs_after_failure(&self) -> bool {
        self.task.job == ReleaseJob::MaintenanceOff
    }
}

/// `release.tag` and `release.revision`, each `None` where nothing sets it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReleaseValues {
    /// `release.tag`.
    pub tag: Option<String>,
    /// `release.revision`.
    pub revision: Option<String>,
}

impl ReleaseValues {
    /// One value as the release record keeps it (a cluster tag value): `-` for none.
    pub fn record_value(value: Option<&str>) -> String {
        value.unwrap_or("-").to_string()
    }

    /// A value the release record kept ([`ReleaseValues::record_value`]).
    pub fn from_record_value(text: &str) -> Option<String> {
        (text != "-" && !text.is_empty()).then(|| text.to_string())
    }

    /// Both, as the release record keeps them: `"<tag> <revision>"`.
    pub fn to_record(&self) -> String {
        format!(
            "{} {}",
            Self::record_value(self.tag.as_deref()),
            Self::record_value(self.revision.as_deref())
        )
    }

    /// What [`ReleaseValues::to_record`] wrote.
    pub fn from_record(text: &str) -> ReleaseValues {
        let (tag, revision) = text.split_once(' ').unwrap_or((text, "-"));
        ReleaseValues {
            tag: Self::from_record_value(tag),
            revision: Self::from_record_value(revision),
        }
    }
}

impl fmt::Display for ReleaseValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "release.tag {}, release.revision {}",
            self.tag.as_deref().unwrap_or("(none)"),
            self.revision.as_deref().unwrap_or("(none)")
        )
    }
}

/// The release recorded beside a stack after its last successful `up`
/// ([`ReleaseRecordSpec`]): `release.tag` and `release.revision` in effect, and the files'
/// values they were released over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveRelease {
    /// What the services run with.
    pub in_effect: ReleaseValues,
    /// What the stack files said when it was released (the command line overrode them).
    pub file: ReleaseValues,
}

impl LiveRelease {
    /// From the record's fields as read; a missing field is none.
    pub fn from_record(
        tag: Option<&str>,
        revision: Option<&str>,
        file: Option<&str>,
    ) -> LiveRelease {
        LiveRelease {
            in_effect: ReleaseValues {
                tag: tag.and_then(ReleaseValues::from_record_value),
                revision: revision.and_then(ReleaseValues::from_record_value),
            },
            file: ReleaseValues::from_record(file.unwrap_or("- -")),
        }
    }
}

/// The release in effect after the last successful `up`: the `release.tag` and
/// `release.revision` it ran with, and the file's values they overrode (`--set` from CI).
/// Recorded on the cluster (tags `mck:release-*`) once every service has rolled, so a later run
/// without `--set` keeps the build CI released instead of deploying the file's tag again,
/// while an edit of the file's `release.tag` (a newer decision) still wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRecordSpec {
    /// The cluster that carries the record.
    pub cluster: Ref<kind::EcsCluster>,
    /// `release.tag` in effect (`-` for none).
    pub tag: String,
    /// `release.revision` in effect (`-` for none).
    pub revision: String,
    /// The file's `release.tag` and `release.revision` it was released over.
    pub file: String,
    /// Ordering only: the services (recorded once they have rolled).
    pub after: Vec<(ResourceKind, LogicalId)>,
}

impl ReleaseRecordSpec {
    /// The logical id.
    pub const ID: &str = "release.record";
    /// Field `tag`: changed in place.
    pub const TAG: FieldDef = FieldDef::mutable("tag");
    /// Field `revision`: changed in place.
    pub const REVISION: FieldDef = FieldDef::mutable("revision");
    /// Field `file`: changed in place.
    pub const FILE: FieldDef = FieldDef::mutable("file");
    /// Cluster tag of `tag`.
    pub const TAG_TAG: &str = "mck:release-tag";
    /// Cluster tag of `revision`.
    pub const TAG_REVISION: &str = "mck:release-revision";
    /// Cluster tag of `file`.
    pub const TAG_FILE: &str = "mck:release-file";
}

impl Kind for ReleaseRecordSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::EcsCluster,
        ResourceKind::ReleaseTask,
        ResourceKind::EcsService,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::TAG.of(self.tag.as_str()),
            Self::REVISION.of(self.revision.as_str()),
            Self::FILE.of(self.file.as_str()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        let mut after = self.after.clone();
        after.push((ResourceKind::EcsCluster, self.cluster.id().clone()));
        after
    }
}

/// The ECS capacity provider `mck-<stack>-app-servers` ([`CapacityProviderSpec::name_for`]) over
/// the app servers' Auto Scaling group, with managed scaling, associated with the stack's
/// cluster as its default capacity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapacityProviderSpec {
    /// The name.
    pub name: String,
    /// The Auto Scaling group whose instances it manages.
    pub auto_scaling_group: Ref<kind::AutoScalingGroup>,
    /// The cluster it belongs to.
    pub cluster: Ref<kind::EcsCluster>,
    /// Managed scaling's target utilisation, in percent.
    pub target_capacity: i64,
}

impl CapacityProviderSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `auto_scaling_group_arn`: a change replaces the resource.
    pub const AUTO_SCALING_GROUP_ARN: FieldDef = FieldDef::immutable("auto_scaling_group_arn");
    /// Field `managed_scaling`: changed in place.
    pub const MANAGED_SCALING: FieldDef = FieldDef::mutable("managed_scaling");
    /// The cluster it is associated with (null when it is not).
    pub const CLUSTER: FieldDef = FieldDef::mutable("cluster");
    /// Output `name`.
    pub const OUT_NAME: &str = "name";

    /// The name of `stack`'s capacity provider: `mck-<stack>-app-servers`. ECS refuses names
    /// that start with `aws`, `ecs` or `fargate` (CreateCapacityProvider reference), which
    /// `<stack>-…` would give a stack called `ecs-shop`; the `mck-` prefix makes every stack
    /// name valid (stack names are 1 to 20 letters, digits or dashes).
    pub fn name_for(stack: &str) -> String {
        format!("mck-{stack}-app-servers")
    }

    /// Managed scaling as [`Self::MANAGED_SCALING`] holds it.
    pub fn managed_scaling(target: i64) -> String {
        format!("enabled, target {target}%")
    }
}

impl Kind for CapacityProviderSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::EcsCluster, ResourceKind::AutoScalingGroup];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::AUTO_SCALING_GROUP_ARN.of(self
                .auto_scaling_group
                .output(super::AutoScalingGroupSpec::OUT_ARN)),
            Self::MANAGED_SCALING.of(Self::managed_scaling(self.target_capacity)),
            Self::CLUSTER.of(self.cluster.value()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// Where a service's tasks run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceCapacity {
    /// AWS Fargate.
    Fargate,
    /// On the app servers, through the capacity provider.
    Provider(Ref<kind::CapacityProvider>),
}
