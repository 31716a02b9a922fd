//! The stack file schema, version 1. Every struct denies unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole stack after overlays are merged.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    /// The format version (1).
    pub version: i64,
    /// Optional; when present it must match the file name.
    #[serde(default)]
    pub stack: Option<String>,
    #[serde(default = "default_region")]
    /// The region.
    pub region: String,
    /// `mck down` refuses this stack without `--force` (prod).
    #[serde(default)]
    pub protected: bool,
    /// User tags added to every taggable resource.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The VPC and its subnets.
    pub network: NetworkConfig,
    #[serde(default)]
    /// The bastion host; absent = none.
    pub bastion: Option<BastionConfig>,
    /// Aurora MySQL; absent = no database.
    #[serde(default)]
    pub database: Option<DatabaseConfig>,
    /// Caches by name (`cache`, `session`); Redis replication groups or memcached.
    #[serde(default)]
    pub caches: BTreeMap<String, CacheConfig>,
    /// EFS for shared media; absent = no file system.
    #[serde(default)]
    pub filesystem: Option<FileSystemConfig>,
    /// The OpenSearch domain Magento's catalog search uses; absent = none.
    #[serde(default)]
    pub search: Option<SearchConfig>,
    /// The RabbitMQ broker (Amazon MQ) of Magento's queues; absent = none.
    #[serde(default)]
    pub queue: Option<QueueConfig>,
    /// The private hosted zone for service discovery; absent = no zone.
    #[serde(default)]
    pub dns: Option<DnsConfig>,
    /// The ECS cluster the apps run on; needed when `apps` is not empty.
    #[serde(default)]
    pub app: Option<AppClusterConfig>,
    /// The Magento services by name (`frontend`, `admin`), each an ECS service behind the ALB.
    #[serde(default)]
    pub apps: BTreeMap<String, AppConfig>,
    /// Magento's cron: `bin/magento cron:run` every minute in one task; absent = no cron.
    #[serde(default)]
    pub cron: Option<CronConfig>,
    /// Background workers by name (queue consumers), each an ECS service with no load balancer.
    #[serde(default)]
    pub workers: BTreeMap<String, WorkerConfig>,
    /// What build the apps run.
    #[serde(default)]
    pub release: Option<ReleaseConfig>,
    /// The Application Load Balancer in front of the apps.
    #[serde(default)]
    pub alb: Option<AlbConfig>,
    /// CloudWatch alarms on every tier, mailed through an SNS topic, and a dashboard; absent =
    /// none.
    #[serde(default)]
    pub alarms: Option<AlarmsConfig>,
    /// AWS Backup of the database and the file system; absent = none (Aurora's automated
    /// backups still run).
    #[serde(default)]
    pub backup: Option<BackupConfig>,
    /// How previews of this stack are made (`mck up --stack pr-1 --from <this>`); absent =
    /// none may be.
    #[serde(default)]
    pub preview: Option<PreviewConfig>,
    #[serde(default)]
    /// Readiness timeouts per kind.
    pub timeouts: Timeouts,
    /// What `mck drift` knowingly accepts.
    #[serde(default)]
    pub drift: DriftConfig,
}

/// `preview:`: short-lived stacks made from this one without a file of their own (`mck up
/// --stack pr-123 --from stage`). Its `overlay:` (any part of a stack, e.g. smaller sizes) is
/// merged over this stack for them, as `extends:` merges; it is taken out before this struct
/// is read.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PreviewConfig {
    /// Previews of this stack alive at once.
    #[serde(default = "default_max_previews")]
    pub max: i64,
    /// How long a preview lives unless `--ttl` says otherwise (`3d`).
    #[serde(default = "default_preview_ttl")]
    pub ttl: String,
    /// The previews' database: a copy-on-write clone of this stack's Aurora cluster, or an
    /// empty one (`--empty-db` also asks for one).
    #[serde(default)]
    pub database: PreviewDatabase,
    /// A command of the app image run as a one-off task on a cloned database before the apps
    /// start (`sh -c`), to remove customer data.
    #[serde(default)]
    pub scrub: Option<String>,
    /// The previews may see this stack's customer data unscrubbed (then no `scrub` is needed).
    #[serde(default)]
    pub customer_data: bool,
    /// The previews' media: their own empty file system, or that and this stack's media read
    /// through its storefront for every file they lack.
    #[serde(default)]
    pub media: PreviewMedia,
}

fn default_max_previews() -> i64 {
    8
}

fn default_preview_ttl() -> String {
    "3d".to_string()
}

/// `preview.database`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PreviewDatabase {
    /// A copy-on-write clone of the source's cluster at its latest restorable time.
    #[default]
    Clone,
    /// A new, empty cluster (Magento installs into it).
    Empty,
}

/// `preview.media`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PreviewMedia {
    /// The preview's own file system, empty.
    #[default]
    Empty,
    /// The preview's own file system, and this stack's media, read-only, for what it lacks:
    /// its containers get `MEDIA_FALLBACK_URL` = this stack's `app.base_url` + `media/` (or
    /// this stack's own `app.media_fallback_url`).
    Shared,
}

/// `backup:`: a backup of the Aurora cluster and the file system every `every`, each kept
/// `keep` (seed 004: every six hours).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// How often: whole hours that divide a day (`1h` … `24h`, e.g. `6h`).
    pub every: String,
    /// How long each backup is kept: whole days (`14d`).
    pub keep: String,
}

/// `alarms:`: the alarms of seed 003, a topic mailing them and a dashboard of their metrics.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlarmsConfig {
    /// Addresses the topic mails (each confirms once, from the mail AWS sends).
    #[serde(default)]
    pub email: Vec<String>,
    /// A rollout during which its app's 5xx alarm fires is rolled back (ECS deployment alarms).
    #[serde(default = "default_true")]
    pub rollback_on_5xx: bool,
    /// The thresholds, each overridable.
    #[serde(default)]
    pub thresholds: AlarmThresholds,
}

/// `alarms.thresholds`: when each alarm fires.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmThresholds {
    /// Aurora CPU, percent, for 3 of 3 minutes.
    pub db_cpu_percent: i64,
    /// Aurora connections (set it below the instance class's `max_connections`).
    pub db_connections: i64,
    /// Aurora freeable memory below this, MiB.
    pub db_freeable_memory_mb: i64,
    /// Aurora replica lag above this, milliseconds.
    pub db_replica_lag_ms: i64,
    /// 5xx answers of an app's targets per minute.
    pub http_5xx_per_minute: i64,
    /// Unhealthy targets of an app above this.
    pub unhealthy_targets: i64,
    /// Redis engine CPU, percent.
    pub redis_cpu_percent: i64,
    /// Redis evictions per minute.
    pub redis_evictions_per_minute: i64,
    /// OpenSearch free storage per node below this, MiB.
    pub search_free_storage_mb: i64,
    /// Messages waiting in the broker's queues.
    pub queue_depth: i64,
}

impl Default for AlarmThresholds {
    fn default() -> Self {
        AlarmThresholds {
            db_cpu_percent: 70,
            db_connections: 500,
            db_freeable_memory_mb: 256,
            db_replica_lag_ms: 1000,
            http_5xx_per_minute: 10,
            unhealthy_targets: 0,
            redis_cpu_percent: 75,
            redis_evictions_per_minute: 100,
            search_free_storage_mb: 5120,
            queue_depth: 10_000,
        }
    }
}

/// `drift:` settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// Known, accepted differences; each expires.
    #[serde(default)]
    pub ignore: Vec<Suppression>,
}

/// One accepted difference: `drift` still counts it, marked suppressed, until `expires`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// The logical id (`db.cluster`), or an unmanaged resource's cloud id.
    pub resource: String,
    /// One field of it; absent = every finding on the resource.
    #[serde(default)]
    pub field: Option<String>,
    /// Why it is accepted (shown in every report).
    pub reason: String,
    /// The last day it applies, `YYYY-MM-DD` (UTC); from the next day it reports again.
    pub expires: String,
}

/// `database:`: the Aurora MySQL cluster.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// e.g. `8.0.mysql_aurora.3.05.2`; the region's default when absent.
    #[serde(default)]
    pub engine_version: Option<String>,
    #[serde(default = "default_db_class")]
    /// The DB instance class.
    pub instance_class: String,
    /// Writer plus readers, spread over the zones.
    #[serde(default = "default_db_instances")]
    pub instances: i64,
    #[serde(default = "default_one")]
    /// Days of automated backups.
    pub backup_retention_days: i64,
    #[serde(default)]
    /// AWS refuses to delete it while on.
    pub deletion_protection: bool,
    /// Take a final snapshot when the cluster is deleted.
    #[serde(default)]
    pub final_snapshot: bool,
    #[serde(default = "default_magento")]
    /// The database created with the cluster.
    pub database_name: String,
    #[serde(default = "default_magento")]
    /// The master user (its password is managed by RDS in Secrets Manager).
    pub master_username: String,
    /// Cluster parameters; a cluster parameter group is created only when this is not empty.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    #[serde(default = "default_db_family")]
    /// The parameter group family.
    pub parameter_family: String,
    /// Days between rotations of the master user's RDS-managed secret (RDS's default is 7).
    #[serde(default = "default_master_rotation_days")]
    pub master_rotation_days: i64,
    /// The login the apps use (never the master user's).
    #[serde(default)]
    pub app_user: AppUserConfig,
}

/// `database.app_user`: the apps' own database login, in two alternating users (`<name>_a`,
/// `<name>_b`) so a rotation never changes the password of a login in use.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppUserConfig {
    /// The users' name before the `_a`/`_b` suffix.
    #[serde(default = "default_app_user")]
    pub name: String,
    /// Days after which `mck rotate --stack NAME db` is due (plan and drift say so).
    #[serde(default = "default_app_rotation_days")]
    pub rotation_days: i64,
}

impl Default for AppUserConfig {
    fn default() -> Self {
        AppUserConfig {
            name: default_app_user(),
            rotation_days: default_app_rotation_days(),
        }
    }
}

fn default_master_rotation_days() -> i64 {
    7
}

fn default_app_user() -> String {
    "magento".to_string()
}

fn default_app_rotation_days() -> i64 {
    30
}

fn default_db_class() -> String {
    "db.t4g.medium".to_string()
}

fn default_db_instances() -> i64 {
    2
}

fn default_one() -> i64 {
    1
}

fn default_magento() -> String {
    "magento2".to_string()
}

fn default_db_family() -> String {
    "aurora-mysql8.0".to_string()
}

/// `search:`: an Amazon OpenSearch Service domain in the VPC.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// `OpenSearch_<major>.<minor>`; the newest Magento 2.4 supports by default.
    #[serde(default = "default_search_version")]
    pub engine_version: String,
    /// The data nodes' instance type.
    #[serde(default = "default_search_type")]
    pub instance_type: String,
    /// Data nodes; with several zones they spread over up to three (zone awareness), so the
    /// count is a multiple of the zones used.
    #[serde(default = "default_one")]
    pub instances: i64,
    /// Dedicated master nodes: 3 or 5; absent = none.
    #[serde(default)]
    pub dedicated_masters: Option<i64>,
    /// The dedicated masters' instance type.
    #[serde(default = "default_search_master_type")]
    pub master_instance_type: String,
    /// EBS storage per data node, in GiB.
    #[serde(default = "default_search_volume")]
    pub volume_gb: i64,
    /// `mck` refuses to delete or replace the domain while on (prod: the catalog index takes
    /// hours to rebuild).
    #[serde(default)]
    pub deletion_protection: bool,
}

fn default_search_version() -> String {
    "OpenSearch_2.19".to_string()
}

fn default_search_type() -> String {
    "r6g.large.search".to_string()
}

fn default_search_master_type() -> String {
    "m6g.large.search".to_string()
}

fn default_search_volume() -> i64 {
    20
}

/// `queue.deployment`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QueueDeployment {
    /// One node.
    #[default]
    Single,
    /// Three nodes across zones.
    Cluster,
}

/// `queue:`: an Amazon MQ for RabbitMQ broker.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The RabbitMQ version.
    #[serde(default = "default_queue_version")]
    pub engine_version: String,
    /// The broker instance type.
    #[serde(default = "default_queue_type")]
    pub instance_type: String,
    /// `single` or `cluster`.
    #[serde(default)]
    pub deployment: QueueDeployment,
    /// `mck` refuses to delete or replace the broker while on.
    #[serde(default)]
    pub deletion_protection: bool,
}

fn default_queue_version() -> String {
    "3.13".to_string()
}

fn default_queue_type() -> String {
    "mq.m5.large".to_string()
}

/// A cache's engine.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CacheEngine {
    #[default]
    /// Redis replication group.
    Redis,
    /// Memcached cluster.
    Memcached,
}

/// One entry of `caches:`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default)]
    /// The database engine.
    pub engine: CacheEngine,
    /// Redis default `7.1`; memcached: the region's default when absent.
    #[serde(default)]
    pub engine_version: Option<String>,
    #[serde(default = "default_node_type")]
    /// The cache node type.
    pub node_type: String,
    /// Redis replicas besides the primary (automatic failover and multi-AZ need at least one).
    #[serde(default = "default_one")]
    pub replicas: i64,
    /// Memcached nodes.
    #[serde(default = "default_one")]
    pub nodes: i64,
}

fn default_node_type() -> String {
    "cache.t3.micro".to_string()
}

/// `filesystem:`: EFS.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSystemConfig {
    #[serde(default = "default_access_points")]
    /// One access point per name (`media`, `static`).
    pub access_points: Vec<String>,
    /// AWS Backup for the file system.
    #[serde(default)]
    pub backup: bool,
    #[serde(default = "default_performance_mode")]
    /// `generalPurpose` or `maxIO`.
    pub performance_mode: String,
    /// POSIX owner of the access points: the web server user (33 = www-data).
    #[serde(default = "default_web_id")]
    pub uid: i64,
    #[serde(default = "default_web_id")]
    /// POSIX group id.
    pub gid: i64,
}

fn default_access_points() -> Vec<String> {
    vec!["media".to_string(), "static".to_string()]
}

fn default_performance_mode() -> String {
    "generalPurpose".to_string()
}

fn default_web_id() -> i64 {
    33
}

/// `dns:`: the private zone.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Default `<stack>.magecloudkit.internal`.
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default = "default_ttl")]
    /// Seconds resolvers cache it.
    pub ttl: i64,
}

fn default_ttl() -> i64 {
    60
}

fn default_region() -> String {
    "us-east-1".to_string()
}

/// `network:`: the VPC, zones and NAT.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    #[serde(default = "default_vpc_cidr")]
    /// The VPC CIDR block.
    pub cidr: String,
    /// Availability zones, one subnet of each tier per zone.
    pub zones: Vec<String>,
    #[serde(default)]
    /// One NAT gateway per zone, or one for all.
    pub nat: NatMode,
    /// Explicit subnet CIDRs per tier, one per zone; derived from a /16 VPC when absent.
    #[serde(default)]
    pub subnets: Option<SubnetTiers>,
}

fn default_vpc_cidr() -> String {
    "10.0.0.0/16".to_string()
}

/// `network.subnets:`: CIDRs per tier.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubnetTiers {
    #[serde(default)]
    /// Public subnet CIDRs, one per zone.
    pub public: Option<Vec<String>>,
    #[serde(default)]
    /// Private subnet CIDRs, one per zone.
    pub private: Option<Vec<String>>,
    #[serde(default)]
    /// Data tier subnet CIDRs, one per zone.
    pub data: Option<Vec<String>>,
}

impl SubnetTiers {
    /// The CIDRs of `tier` (`public`, `private`, `data`), when set.
    pub fn get(&self, tier: &str) -> Option<&Vec<String>> {
        match tier {
            "public" => self.public.as_ref(),
            "private" => self.private.as_ref(),
            "data" => self.data.as_ref(),
            _ => None,
        }
    }
}

/// How private subnets reach the internet.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NatMode {
    /// One NAT gateway per zone (high availability).
    #[default]
    PerZone,
    /// One NAT gateway in the first zone, shared by all (cheaper, for dev).
    Single,
    /// No NAT gateway: private subnets have no internet route.
    None,
}

/// `bastion:`: the SSH bastion.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BastionConfig {
    #[serde(default = "default_true")]
    /// On or off.
    pub enabled: bool,
    #[serde(default = "default_bastion_type")]
    /// The EC2 instance type.
    pub instance_type: String,
    /// CIDR blocks allowed to SSH to the bastion.
    #[serde(default)]
    pub ssh_cidrs: Vec<String>,
    /// Required to list 0.0.0.0/0 in `ssh_cidrs`.
    #[serde(default)]
    pub allow_ssh_from_anywhere: bool,
    #[serde(default)]
    /// An EC2 key pair for SSH, if any.
    pub key_name: Option<String>,
    #[serde(default)]
    /// How the bastion's image is chosen.
    pub ami: AmiConfig,
    #[serde(default = "default_root_gb")]
    /// Size of the root volume in GiB.
    pub root_volume_gb: i64,
}

fn default_true() -> bool {
    true
}

fn default_bastion_type() -> String {
    "t3.micro".to_string()
}

fn default_root_gb() -> i64 {
    8
}

/// Either a fixed image id or a lookup by name pattern and owner (newest match wins).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AmiConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default = "default_ami_name")]
    pub name: String,
    #[serde(default = "default_ami_owner")]
    pub owner: String,
}

impl Default for AmiConfig {
    fn default() -> Self {
        AmiConfig {
            id: None,
            name: default_ami_name(),
            owner: default_ami_owner(),
        }
    }
}

fn default_ami_name() -> String {
    "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*".to_string()
}

fn default_ami_owner() -> String {
    // Canonical.
    "099720109477".to_string()
}

/// Per-kind readiness timeouts (`90s`, `10m`, `1h`); defaults are sized to real AWS.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default)]
    /// For the kinds no other key names.
    pub default: Option<String>,
    #[serde(default)]
    /// NAT gateways.
    pub nat_gateway: Option<String>,
    #[serde(default)]
    /// EC2 instances.
    pub instance: Option<String>,
    /// Aurora cluster and instances (real AWS: 10 to 40 minutes).
    #[serde(default)]
    pub database: Option<String>,
    /// ElastiCache replication groups and clusters (real AWS: 10 to 60 minutes).
    #[serde(default)]
    pub cache: Option<String>,
    #[serde(default)]
    /// EFS mount targets.
    pub mount_target: Option<String>,
    /// Route53 changes reaching INSYNC.
    #[serde(default)]
    pub dns: Option<String>,
    /// The release's database migration task, from start to stop (default 30m).
    #[serde(default)]
    pub migration: Option<String>,
    /// The OpenSearch domain (real AWS: 15 to 30 minutes to create, longer for a blue/green
    /// change of a large domain; default 90m).
    #[serde(default)]
    pub search: Option<String>,
    /// The Amazon MQ broker (real AWS: about 20 minutes; default 60m).
    #[serde(default)]
    pub queue: Option<String>,
}

impl Timeouts {
    /// Every key with its value.
    pub fn entries(&self) -> [(&'static str, &Option<String>); 10] {
        [
            ("default", &self.default),
            ("nat_gateway", &self.nat_gateway),
            ("instance", &self.instance),
            ("database", &self.database),
            ("cache", &self.cache),
            ("mount_target", &self.mount_target),
            ("dns", &self.dns),
            ("migration", &self.migration),
            ("search", &self.search),
            ("queue", &self.queue),
        ]
    }
}

/// Where the apps' tasks run.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Capacity {
    /// Fargate: no servers to manage (small stacks, dev).
    #[default]
    Fargate,
    /// "App servers": ECS-optimised instances in an Auto Scaling group (prod).
    Ec2,
}

/// `app:`: the ECS cluster.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppClusterConfig {
    #[serde(default)]
    /// Where its tasks run.
    pub capacity: Capacity,
    /// The app servers; only with `capacity: ec2`.
    #[serde(default)]
    pub servers: Option<ServersConfig>,
    /// CloudWatch Container Insights on the cluster.
    #[serde(default)]
    pub container_insights: bool,
    /// ECS Exec into the apps', cron's and workers' tasks (`mck exec`, `mck tunnel`): the
    /// services' `enableExecuteCommand` and the task role's Session Manager channels.
    #[serde(default = "default_true")]
    pub exec: bool,
    /// Retention of the apps' log groups, in days (one of CloudWatch's values).
    #[serde(default = "default_log_retention")]
    pub log_retention_days: i64,
    /// The shop's base URL (`https://shop.example.com/`), given to the containers as
    /// `MAGENTO_BASE_URL`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Where media files this stack lacks are read from (`https://stage.shop.example/media/`),
    /// given to the containers as `MEDIA_FALLBACK_URL` for the web server to fetch them
    /// read-only. A preview with `preview.media: shared` gets its source's.
    #[serde(default)]
    pub media_fallback_url: Option<String>,
}

fn default_log_retention() -> i64 {
    14
}

impl Default for AppClusterConfig {
    fn default() -> Self {
        AppClusterConfig {
            capacity: Capacity::default(),
            servers: None,
            container_insights: false,
            exec: true,
            log_retention_days: default_log_retention(),
            base_url: None,
            media_fallback_url: None,
        }
    }
}

/// `app.servers:`: the EC2 app servers.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServersConfig {
    #[serde(default = "default_server_type")]
    /// The EC2 instance type.
    pub instance_type: String,
    #[serde(default = "default_servers_min")]
    /// Fewest app servers.
    pub min: i64,
    #[serde(default = "default_servers_max")]
    /// Most app servers.
    pub max: i64,
    #[serde(default)]
    /// How the app servers' image is chosen (default: the newest ECS-optimised Amazon Linux
    /// 2023 image).
    pub ami: ServersAmiConfig,
}

impl Default for ServersConfig {
    fn default() -> Self {
        ServersConfig {
            instance_type: default_server_type(),
            min: default_servers_min(),
            max: default_servers_max(),
            ami: ServersAmiConfig::default(),
        }
    }
}

/// `app.servers.ami:`: a fixed image id, or a lookup by name pattern and owner (newest match
/// wins); by default Amazon's ECS-optimised Amazon Linux 2023 image.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServersAmiConfig {
    #[serde(default)]
    /// A fixed image id; when set, no lookup is made.
    pub id: Option<String>,
    #[serde(default = "default_servers_ami_name")]
    /// An image name pattern (`*` wildcards).
    pub name: String,
    #[serde(default = "default_servers_ami_owner")]
    /// The image owner's account id.
    pub owner: String,
}

impl Default for ServersAmiConfig {
    fn default() -> Self {
        ServersAmiConfig {
            id: None,
            name: default_servers_ami_name(),
            owner: default_servers_ami_owner(),
        }
    }
}

/// The ECS-optimised Amazon Linux 2023 image, found by name among Amazon's images.
pub const ECS_AMI_PATTERN: &str = "al2023-ami-ecs-hvm-*-kernel-6.1-x86_64";
/// The account that publishes the ECS-optimised images.
pub const ECS_AMI_OWNER: &str = "591542846629";

fn default_servers_ami_name() -> String {
    ECS_AMI_PATTERN.to_string()
}

fn default_servers_ami_owner() -> String {
    ECS_AMI_OWNER.to_string()
}

fn default_server_type() -> String {
    "c5.large".to_string()
}

fn default_servers_min() -> i64 {
    2
}

fn default_servers_max() -> i64 {
    6
}

/// One entry of `apps:`: a Magento service.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The task's containers by name (`nginx`, `php-fpm`, `blackfire`).
    pub containers: BTreeMap<String, ContainerConfig>,
    /// Task CPU units (1024 = one vCPU).
    #[serde(default = "default_task_cpu")]
    pub cpu: i64,
    /// Task memory in MiB.
    #[serde(default = "default_task_memory")]
    pub memory: i64,
    /// Desired number of tasks.
    #[serde(default = "default_one_count")]
    pub count: i64,
    /// ALB path patterns routed to this app (`/backend/*`); empty = the default route.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Extra environment for every container. Never secrets: the DB password reaches the
    /// containers as an ECS secret from Secrets Manager.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default = "default_health_check")]
    /// Health check path.
    pub health_check: String,
    /// How long the ALB drains a task before it stops (`30s`, `5m`).
    #[serde(default = "default_deregistration_delay")]
    pub deregistration_delay: String,
    /// How long ECS ignores failing ALB health checks of a new task (`60s`, `5m`): the time
    /// Magento needs to warm up.
    #[serde(default = "default_grace_period")]
    pub health_check_grace_period: String,
    /// Application Auto Scaling of the service's task count; absent = `count` tasks, always.
    #[serde(default)]
    pub scaling: Option<ScalingConfig>,
}

/// `apps.<name>.scaling`: target tracking between `min` and `max` tasks, on ALB requests per
/// task or on CPU (exactly one).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScalingConfig {
    /// Fewest tasks.
    pub min: i64,
    /// Most tasks.
    pub max: i64,
    /// Requests per task a minute to hold (ALBRequestCountPerTarget).
    #[serde(default)]
    pub requests_per_target: Option<i64>,
    /// Average CPU percent to hold (ECSServiceAverageCPUUtilization).
    #[serde(default)]
    pub cpu: Option<i64>,
    /// Seconds after a scale-in before the next (AWS's default for ECS is 300).
    #[serde(default = "default_scale_in_cooldown")]
    pub scale_in_cooldown: i64,
    /// Seconds after a scale-out before the next.
    #[serde(default = "default_scale_out_cooldown")]
    pub scale_out_cooldown: i64,
}

fn default_scale_in_cooldown() -> i64 {
    300
}

fn default_scale_out_cooldown() -> i64 {
    60
}

fn default_grace_period() -> String {
    "60s".to_string()
}

/// `cron:`: Magento's cron as an ECS service of exactly one task, which runs `command` at the
/// start of every interval (never two at once, even during a deployment).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CronConfig {
    /// The app whose build, environment, secrets and shared files the task gets (default as
    /// the migration's: `admin`, else the first app).
    #[serde(default)]
    pub app: Option<String>,
    /// Its container whose image runs the command (default `php-fpm`, else the app's first
    /// container without a port).
    #[serde(default)]
    pub container: Option<String>,
    /// The command run every interval.
    #[serde(default = "default_cron_command")]
    pub command: String,
    /// Time between the starts of two runs (`1m`): Magento schedules its jobs by the minute.
    #[serde(default = "default_cron_interval")]
    pub interval: String,
    /// Task CPU units.
    #[serde(default = "default_worker_cpu")]
    pub cpu: i64,
    /// Task memory in MiB.
    #[serde(default = "default_worker_memory")]
    pub memory: i64,
}

fn default_cron_command() -> String {
    "bin/magento cron:run".into()
}

fn default_cron_interval() -> String {
    "1m".into()
}

fn default_worker_cpu() -> i64 {
    512
}

fn default_worker_memory() -> i64 {
    1024
}

/// `workers.NAME`: a background worker, an ECS service with no load balancer: Magento's queue
/// consumers (`consumers`), or any command.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Queue consumers run by each task, each `bin/magento queue:consumers:start NAME
    /// --single-thread --max-messages=N`, started again when it ends.
    #[serde(default)]
    pub consumers: Vec<String>,
    /// Messages a consumer handles before it ends and is started again (Magento's
    /// `max_messages`; bounds a PHP process's memory).
    #[serde(default = "default_max_messages")]
    pub max_messages: i64,
    /// A shell command instead of `consumers`.
    #[serde(default)]
    pub command: Option<String>,
    /// Tasks to run.
    #[serde(default = "default_one_count")]
    pub count: i64,
    /// The app whose build, environment, secrets and shared files the tasks get (as `cron.app`).
    #[serde(default)]
    pub app: Option<String>,
    /// Its container whose image runs the workers (as `cron.container`).
    #[serde(default)]
    pub container: Option<String>,
    /// Task CPU units.
    #[serde(default = "default_worker_cpu")]
    pub cpu: i64,
    /// Task memory in MiB.
    #[serde(default = "default_worker_memory")]
    pub memory: i64,
}

fn default_max_messages() -> i64 {
    10_000
}

fn default_task_cpu() -> i64 {
    1024
}

fn default_task_memory() -> i64 {
    2048
}

fn default_one_count() -> i64 {
    1
}

fn default_health_check() -> String {
    "/health_check.php".to_string()
}

fn default_deregistration_delay() -> String {
    "30s".to_string()
}

/// One container of an app.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContainerConfig {
    /// The image without its tag (`release.tag` is appended), or with a tag or digest of its
    /// own, which wins.
    pub image: String,
    /// The port the ALB sends traffic to; exactly one container of an app has one.
    #[serde(default)]
    pub port: Option<i64>,
    /// Soft memory limit in MiB (`memoryReservation`).
    #[serde(default = "default_memory_reservation")]
    pub memory_reservation: i64,
}

fn default_memory_reservation() -> i64 {
    256
}

/// `release:`: the build the apps run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// The image tag of the build to run (a version or a git SHA).
    #[serde(default)]
    pub tag: Option<String>,
    /// The source revision (git SHA), passed to the containers as `REVISION`.
    #[serde(default)]
    pub revision: Option<String>,
    /// The database migration run before the services roll.
    #[serde(default)]
    pub migrate: MigrateConfig,
    /// Task definition revisions kept registered per app (the newest ones, for rollback);
    /// older ones are deregistered after a successful rollout, never one in use.
    #[serde(default = "default_keep_revisions")]
    pub keep_revisions: i64,
    /// Magento's maintenance mode during a release: the migration sets the flag
    /// (`var/.maintenance.flag` on the shared `var` access point) first, and a task removes it
    /// once the services are healthy, or the release failed.
    #[serde(default)]
    pub maintenance: bool,
    /// Run after every service runs the new build (a one-off task on the migration's app and
    /// container, before maintenance ends); empty: none.
    #[serde(default = "default_cache_clean")]
    pub cache_clean: String,
    /// Magento's blue/green deployment (`deployment/blue_green/enabled`, 2.4.4+): the old
    /// revision keeps serving while `setup:upgrade` changes the schema (no maintenance mode).
    #[serde(default)]
    pub blue_green: bool,
    /// Magento's installation, on the first release of a stack whose database holds no
    /// Magento (docs/magento.md, "The first release installs Magento").
    #[serde(default)]
    pub install: InstallConfig,
}

/// `release.install:`: `bin/magento setup:install` as a one-off task on the new build, once per
/// stack, every connection option derived from the stack (passwords only as ECS secrets).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstallConfig {
    /// Off: a new stack's database must be installed by hand before its first release.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The install command, before the options mck derives.
    #[serde(default = "default_install_command")]
    pub command: String,
    /// The admin user made by the install; its generated password is kept in
    /// `mck/<stack>/admin`.
    #[serde(default = "default_admin_user")]
    pub admin_user: String,
    /// The admin user's e-mail address.
    #[serde(default = "default_admin_email")]
    pub admin_email: String,
    /// The admin panel's path (`--backend-frontname`).
    #[serde(default = "default_backend_frontname")]
    pub backend_frontname: String,
    /// `--language`.
    #[serde(default = "default_language")]
    pub language: String,
    /// `--currency`.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// `--timezone`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Deploy Magento's sample data after the install (off by default).
    #[serde(default)]
    pub sample_data: bool,
    /// Further `setup:install` options, `name: value` (`--name=value`); no password or key.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Default for InstallConfig {
    fn default() -> Self {
        InstallConfig {
            enabled: true,
            command: default_install_command(),
            admin_user: default_admin_user(),
            admin_email: default_admin_email(),
            backend_frontname: default_backend_frontname(),
            language: default_language(),
            currency: default_currency(),
            timezone: default_timezone(),
            sample_data: false,
            options: BTreeMap::new(),
        }
    }
}

fn default_install_command() -> String {
    "bin/magento setup:install".into()
}

fn default_admin_user() -> String {
    "admin".into()
}

fn default_admin_email() -> String {
    "admin@example.com".into()
}

fn default_backend_frontname() -> String {
    "admin".into()
}

fn default_language() -> String {
    "en_US".into()
}

fn default_currency() -> String {
    "USD".into()
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_keep_revisions() -> i64 {
    5
}

fn default_cache_clean() -> String {
    "bin/magento cache:clean".into()
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        ReleaseConfig {
            tag: None,
            revision: None,
            migrate: MigrateConfig::default(),
            keep_revisions: default_keep_revisions(),
            maintenance: false,
            cache_clean: default_cache_clean(),
            blue_green: false,
            install: InstallConfig::default(),
        }
    }
}

/// `release.migrate:`: a one-off ECS task on the new build, in the private subnets, before any
/// service is updated. By default `bin/magento setup:db:status` decides (exit 2: an upgrade is
/// needed) whether `bin/magento setup:upgrade --keep-generated` runs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MigrateConfig {
    /// Off: releases roll the services without a migration.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The app whose new task definition runs it (default `admin`, else the first app).
    #[serde(default)]
    pub app: Option<String>,
    /// The container whose command is overridden (default `php-fpm`, else the app's first
    /// container without a port).
    #[serde(default)]
    pub container: Option<String>,
    /// Shell command that exits 0 when the database is up to date, 2 when it needs the upgrade,
    /// anything else on error. Empty: always run `upgrade`.
    #[serde(default = "default_migrate_check")]
    pub check: String,
    /// Shell command that upgrades the database.
    #[serde(default = "default_migrate_upgrade")]
    pub upgrade: String,
}

fn default_migrate_check() -> String {
    "bin/magento setup:db:status".into()
}

fn default_migrate_upgrade() -> String {
    "bin/magento setup:upgrade --keep-generated".into()
}

impl StackConfig {
    /// The release's migration when the stack has apps and it is enabled: the app and the
    /// container it runs in (defaults applied; validation reports names that do not exist).
    pub fn migration(&self) -> Option<(&str, &str, MigrateConfig)> {
        let migrate = self.release.clone().unwrap_or_default().migrate;
        if !migrate.enabled || self.apps.is_empty() {
            return None;
        }
        let (app, container) =
            self.app_container(migrate.app.as_deref(), migrate.container.as_deref())?;
        Some((app, container, migrate))
    }

    /// The app and container whose build runs Magento's own commands (the migration, cron,
    /// workers): `app` (default `admin`, else the first app) and `container` (default
    /// `php-fpm`, else the app's first container without a port). `None` when a name given
    /// does not exist (validation reports it).
    pub fn app_container(
        &self,
        app: Option<&str>,
        container: Option<&str>,
    ) -> Option<(&str, &str)> {
        let (app_name, app) = match app {
            Some(name) => self.apps.get_key_value(name)?,
            None => self
                .apps
                .get_key_value("admin")
                .or_else(|| self.apps.iter().next())?,
        };
        let container = match container {
            Some(name) => app.containers.get_key_value(name)?.0,
            None => {
                app.containers
                    .get_key_value("php-fpm")
                    .or_else(|| app.containers.iter().find(|(_, c)| c.port.is_none()))
                    .or_else(|| app.containers.iter().next())?
                    .0
            }
        };
        Some((app_name.as_str(), container.as_str()))
    }
}

impl Default for MigrateConfig {
    fn default() -> Self {
        MigrateConfig {
            enabled: true,
            app: None,
            container: None,
            check: default_migrate_check(),
            upgrade: default_migrate_upgrade(),
        }
    }
}

/// `alb:`: the load balancer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlbConfig {
    /// An ACM certificate: then port 80 redirects to 443 (policy
    /// ELBSecurityPolicy-TLS13-1-2-2021-06).
    #[serde(default)]
    pub certificate_arn: Option<String>,
    #[serde(default = "default_idle_timeout")]
    /// Idle timeout (`60s`).
    pub idle_timeout: String,
}

fn default_idle_timeout() -> String {
    "60s".to_string()
}

impl Default for AlbConfig {
    fn default() -> Self {
        AlbConfig {
            certificate_arn: None,
            idle_timeout: default_idle_timeout(),
        }
    }
}
