//! The semantic rules a stack must follow beyond its schema (version, name, region, tags,
//! network CIDRs and zones, bastion, data tier, durations; the app tier's rules are in `app`),
//! and the subnet CIDRs derived from the network.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use super::app;
use super::errors::{Diagnostic, diag};
use super::node::Node;
use super::schema::{NetworkConfig, PreviewDatabase, PreviewMedia, StackConfig};
use crate::model::SearchDomainSpec;

/// The supported stack file format version.
pub const FORMAT_VERSION: i64 = 1;

pub(super) fn validate(name: &str, config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    if config.version != FORMAT_VERSION {
        diags.push(diag(
            root,
            &["version"],
            format!("unsupported stack format version {}", config.version),
            format!("this mck reads version {FORMAT_VERSION}"),
        ));
    }
    if let Some(stack) = &config.stack
        && stack != name
    {
        diags.push(diag(
            root,
            &["stack"],
            format!("`stack: {stack}` does not match the file name `{name}.yaml`"),
            format!("write `stack: {name}` or remove the key"),
        ));
    }
    if !is_region(&config.region) {
        diags.push(diag(
            root,
            &["region"],
            format!("`{}` is not an AWS region name", config.region),
            "write a region such as us-east-1",
        ));
    }
    for (key, value) in &config.tags {
        if key.starts_with("mck:") || key.starts_with("aws:") {
            diags.push(diag(
                root,
                &["tags", key],
                format!("tag key `{key}` is reserved"),
                "mck sets mck:* tags itself; AWS reserves aws:*",
            ));
        }
        if key.len() > 128 || value.len() > 256 {
            diags.push(diag(
                root,
                &["tags", key],
                format!("tag `{key}` is too long"),
                "keys ≤ 128, values ≤ 256 characters",
            ));
        }
    }
    validate_network(config, root, diags);
    app::validate_app(name, config, root, diags);
    if let Some(bastion) = &config.bastion {
        for (idx, cidr) in bastion.ssh_cidrs.iter().enumerate() {
            let idx_s = idx.to_string();
            let path = ["bastion", "ssh_cidrs", idx_s.as_str()];
            match cidr.parse::<Ipv4Net>() {
                Err(_) => diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` is not an IPv4 CIDR block"),
                    "write e.g. 203.0.113.0/24",
                )),
                Ok(net) if net.prefix_len() == 0 && !bastion.allow_ssh_from_anywhere => diags.push(diag(
                    root,
                    &path,
                    "SSH open to the whole internet (0.0.0.0/0)".to_string(),
                    "list your office or VPN ranges, or set `bastion.allow_ssh_from_anywhere: true`",
                )),
                Ok(net) if net.trunc() != net => diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` has host bits set"),
                    format!("write {}", net.trunc()),
                )),
                Ok(_) => {}
            }
        }
        if !config.network.zones.is_empty() && bastion.instance_type.is_empty() {
            diags.push(diag(
                root,
                &["bastion", "instance_type"],
                "empty instance type".into(),
                "write e.g. t3.micro",
            ));
        }
        // gp3 volumes: 1 GiB to 16 TiB; the images need 8.
        if !(8..=16_384).contains(&bastion.root_volume_gb) {
            diags.push(diag(
                root,
                &["bastion", "root_volume_gb"],
                format!("a root volume of {} GiB", bastion.root_volume_gb),
                "use 8 to 16384 GiB",
            ));
        }
    }
    validate_data(name, config, root, diags);
    validate_search_and_queue(name, config, root, diags);
    super::workers::validate_workers(config, root, diags);
    validate_alarms(config, root, diags);
    validate_backup(config, root, diags);
    validate_preview(config, root, diags);
    for (key, value) in config.timeouts.entries() {
        if let Some(text) = value
            && parse_duration(text).is_none()
        {
            diags.push(diag(
                root,
                &["timeouts", key],
                format!("`{text}` is not a duration"),
                "write a number followed by s, m, h or d, e.g. 10m",
            ));
        }
    }
}

/// `alarms:`: addresses that look like addresses (AWS mails each a confirmation), thresholds
/// that mean something.
fn validate_alarms(config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(alarms) = &config.alarms else {
        return;
    };
    for (idx, address) in alarms.email.iter().enumerate() {
        let idx_s = idx.to_string();
        let valid = address.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.starts_with('.')
        }) && !address.chars().any(|c| c.is_whitespace() || c == ',');
        if !valid {
            diags.push(diag(
                root,
                &["alarms", "email", idx_s.as_str()],
                format!("`{address}` is not an e-mail address"),
                "write one address per list item, e.g. ops@shop.example",
            ));
        }
    }
    let t = &alarms.thresholds;
    for (key, value, range) in [
        ("db_cpu_percent", t.db_cpu_percent, 1..=100),
        ("redis_cpu_percent", t.redis_cpu_percent, 1..=100),
        ("db_connections", t.db_connections, 1..=100_000),
        (
            "db_freeable_memory_mb",
            t.db_freeable_memory_mb,
            1..=1_048_576,
        ),
        ("db_replica_lag_ms", t.db_replica_lag_ms, 1..=3_600_000),
        ("http_5xx_per_minute", t.http_5xx_per_minute, 0..=1_000_000),
        ("unhealthy_targets", t.unhealthy_targets, 0..=1000),
        (
            "redis_evictions_per_minute",
            t.redis_evictions_per_minute,
            0..=100_000_000,
        ),
        (
            "search_free_storage_mb",
            t.search_free_storage_mb,
            1..=16_777_216,
        ),
        ("queue_depth", t.queue_depth, 1..=100_000_000),
    ] {
        if !range.contains(&value) {
            diags.push(diag(
                root,
                &["alarms", "thresholds", key],
                format!("a threshold of {value}"),
                format!("use {} to {}", range.start(), range.end()),
            ));
        }
    }
}

/// `backup:`: a schedule AWS Backup can run (hourly at most, on a cron of whole hours), a
/// retention in whole days, and something to back up.
fn validate_backup(config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(backup) = &config.backup else {
        return;
    };
    if backup_hours(&backup.every).is_none() {
        diags.push(diag(
            root,
            &["backup", "every"],
            format!("a backup every `{}`", backup.every),
            "use whole hours that divide a day: 1h, 2h, 3h, 4h, 6h, 8h, 12h or 24h",
        ));
    }
    if backup_days(&backup.keep).is_none() {
        diags.push(diag(
            root,
            &["backup", "keep"],
            format!("keeping backups `{}`", backup.keep),
            "use whole days from 1d to 36500d, e.g. 14d",
        ));
    }
    if config.database.is_none() && config.filesystem.is_none() {
        diags.push(diag(
            root,
            &["backup"],
            "a backup with nothing to back up (no `database`, no `filesystem`)".into(),
            "remove `backup:` or add the database or file system it should cover",
        ));
    }
}

/// `preview:`: a cap that means something, a TTL, and no customer data in a clone unless the
/// stack scrubs it or says previews may see it.
fn validate_preview(config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(preview) = &config.preview else {
        return;
    };
    if !(1..=50).contains(&preview.max) {
        diags.push(diag(
            root,
            &["preview", "max"],
            format!("at most {} previews at once", preview.max),
            "use 1 to 50 (each preview is a whole stack, with its own NAT gateway and database)",
        ));
    }
    if parse_duration(&preview.ttl).is_none_or(|d| d.as_secs() < 3600) {
        diags.push(diag(
            root,
            &["preview", "ttl"],
            format!("a preview lifetime of `{}`", preview.ttl),
            "use at least 1h, e.g. 3d or 12h",
        ));
    }
    if preview.database == PreviewDatabase::Clone {
        // "You can create up to 15 clones with copy-on-write protocol. After you have 15
        // clones, the next clone that you create is a full copy" (Aurora User Guide, cloning).
        if preview.max > 15 {
            diags.push(diag(
                root,
                &["preview", "max"],
                format!("{} cloned previews at once", preview.max),
                "use at most 15: Aurora makes 15 copy-on-write clones of a cluster, and a 16th would be a slow, full copy (or set `preview.database: empty`)",
            ));
        }
        if config.database.is_none() {
            diags.push(diag(
                root,
                &["preview", "database"],
                "previews clone a database this stack does not have".into(),
                "add `database:`, or set `preview.database: empty`",
            ));
        } else if preview.scrub.is_none() && !preview.customer_data {
            diags.push(diag(
                root,
                &["preview"],
                "previews would get a clone of this stack's database, customer data included".into(),
                "give `preview.scrub` (a command that removes it, run before the apps start), or say `preview.customer_data: true`, or use `preview.database: empty`",
            ));
        }
    }
    let app = config.app.as_ref();
    if preview.media == PreviewMedia::Shared
        && app.is_none_or(|a| a.base_url.is_none() && a.media_fallback_url.is_none())
    {
        diags.push(diag(
            root,
            &["preview", "media"],
            "previews would share media this stack serves from no known URL".into(),
            "set `app.base_url` (previews read its `media/`), or `app.media_fallback_url`, or use `preview.media: empty`",
        ));
    }
    if preview
        .scrub
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        diags.push(diag(
            root,
            &["preview", "scrub"],
            "an empty scrub command".into(),
            "write the command, e.g. php bin/scrub-customers.php",
        ));
    }
}

/// `backup.every` in hours, when valid: whole hours dividing 24.
pub fn backup_hours(every: &str) -> Option<u64> {
    let secs = parse_duration(every)?.as_secs();
    let hours = secs / 3600;
    (secs % 3600 == 0 && (1..=24).contains(&hours) && 24 % hours == 0).then_some(hours)
}

/// `backup.keep` in days, when valid: 1 to 36500 whole days.
pub fn backup_days(keep: &str) -> Option<i64> {
    let secs = parse_duration(keep)?.as_secs();
    let days = secs / 86_400;
    (secs % 86_400 == 0 && (1..=36_500).contains(&days)).then_some(days as i64)
}

pub(super) fn is_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn validate_search_and_queue(
    name: &str,
    config: &StackConfig,
    root: &Node,
    diags: &mut Vec<Diagnostic>,
) {
    let n_zones = config.network.zones.len();
    if let Some(search) = &config.search {
        let domain = SearchDomainSpec::name_for(name);
        if !SearchDomainSpec::is_valid_name(&domain) {
            diags.push(diag(
                root,
                &["search"],
                format!("the OpenSearch domain name `{domain}` is not one AWS accepts"),
                "domain names (`<stack>-search`) are lowercase letters, digits and dashes starting with a letter: rename the stack in lowercase, starting with a letter",
            ));
        }
        let version_ok = search
            .engine_version
            .strip_prefix("OpenSearch_")
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(major, minor)| {
                major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok()
            });
        if !version_ok {
            diags.push(diag(
                root,
                &["search", "engine_version"],
                format!("`{}` is not an OpenSearch engine version", search.engine_version),
                "write OpenSearch_<major>.<minor>, e.g. OpenSearch_2.19 (Magento 2.4.8 is tested on it)",
            ));
        }
        if !search.instance_type.ends_with(".search") {
            diags.push(diag(
                root,
                &["search", "instance_type"],
                format!(
                    "`{}` is not an OpenSearch instance type",
                    search.instance_type
                ),
                "write e.g. r6g.large.search",
            ));
        }
        if !(1..=80).contains(&search.instances) {
            diags.push(diag(
                root,
                &["search", "instances"],
                format!("{} search instances", search.instances),
                "use 1 to 80 data nodes",
            ));
        } else {
            let zones = SearchDomainSpec::zone_count_for(search.instances, n_zones);
            if search.instances % zones != 0 {
                diags.push(diag(
                    root,
                    &["search", "instances"],
                    format!(
                        "{} search instances cannot spread evenly over {zones} zones",
                        search.instances
                    ),
                    format!(
                        "OpenSearch zone awareness needs a multiple of the zones: use {} or {}",
                        search.instances - search.instances % zones,
                        search.instances + zones - search.instances % zones
                    ),
                ));
            }
        }
        if let Some(masters) = search.dedicated_masters
            && masters != 3
            && masters != 5
        {
            diags.push(diag(
                root,
                &["search", "dedicated_masters"],
                format!("{masters} dedicated master nodes"),
                "OpenSearch takes 3 or 5 dedicated masters (an odd number for a quorum); remove the key for none",
            ));
        }
        if search.dedicated_masters.is_some() && !search.master_instance_type.ends_with(".search") {
            diags.push(diag(
                root,
                &["search", "master_instance_type"],
                format!(
                    "`{}` is not an OpenSearch instance type",
                    search.master_instance_type
                ),
                "write e.g. m6g.large.search",
            ));
        }
        // gp3: 10 GiB at least; the largest instance types take 24 TiB per node.
        if !(10..=24_576).contains(&search.volume_gb) {
            diags.push(diag(
                root,
                &["search", "volume_gb"],
                format!("{} GiB of search storage per node", search.volume_gb),
                "use 10 to 24576 GiB (the instance type may allow less; see the OpenSearch Service quotas)",
            ));
        }
    }
    if let Some(queue) = &config.queue {
        if !queue.instance_type.starts_with("mq.") {
            diags.push(diag(
                root,
                &["queue", "instance_type"],
                format!(
                    "`{}` is not an Amazon MQ instance type",
                    queue.instance_type
                ),
                "write e.g. mq.m5.large (or mq.t3.micro for a single-node dev broker)",
            ));
        }
        if queue.deployment == super::schema::QueueDeployment::Cluster {
            if n_zones < 3 {
                diags.push(diag(
                    root,
                    &["queue", "deployment"],
                    format!(
                        "a RabbitMQ cluster spreads over three zones; the network has {n_zones}"
                    ),
                    "list three zones in network.zones, or use `deployment: single`",
                ));
            }
            if queue.instance_type.starts_with("mq.t3.") {
                diags.push(diag(
                    root,
                    &["queue", "instance_type"],
                    format!("{} brokers cannot form a cluster", queue.instance_type),
                    "use mq.m5.large or larger for `deployment: cluster`",
                ));
            }
        }
        if queue.engine_version.split('.').count() < 2
            || !queue
                .engine_version
                .split('.')
                .all(|p| p.parse::<u32>().is_ok())
        {
            diags.push(diag(
                root,
                &["queue", "engine_version"],
                format!("`{}` is not a RabbitMQ version", queue.engine_version),
                "write e.g. 3.13",
            ));
        }
    }
}

fn validate_data(name: &str, config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let n_zones = config.network.zones.len();
    if let Some(db) = &config.database {
        if n_zones < 2 {
            diags.push(diag(
                root,
                &["database"],
                "Aurora needs subnets in at least two zones".into(),
                "list at least two zones in network.zones",
            ));
        }
        if !(1..=16).contains(&db.instances) {
            diags.push(diag(
                root,
                &["database", "instances"],
                format!("{} database instances", db.instances),
                "use 1 (writer only) to 16",
            ));
        }
        if !db.instance_class.starts_with("db.") {
            diags.push(diag(
                root,
                &["database", "instance_class"],
                format!("`{}` is not an RDS instance class", db.instance_class),
                "write e.g. db.t4g.medium or db.r6g.large",
            ));
        }
        if !(1..=35).contains(&db.backup_retention_days) {
            diags.push(diag(
                root,
                &["database", "backup_retention_days"],
                format!("backup retention of {} days", db.backup_retention_days),
                "Aurora keeps automated backups 1 to 35 days",
            ));
        }
        for (key, value) in [
            ("database_name", &db.database_name),
            ("master_username", &db.master_username),
        ] {
            let ok = value.len() <= 16
                && value
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                diags.push(diag(
                    root,
                    &["database", key],
                    format!("`{value}` is not a valid MySQL {key}"),
                    "use 1 to 16 letters, digits or underscores, starting with a letter",
                ));
            }
        }
        let user = &db.app_user.name;
        let ok = user.len() <= 14
            && user.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && user
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            diags.push(diag(
                root,
                &["database", "app_user", "name"],
                format!("`{user}` is not a usable app user name"),
                "use 1 to 14 lowercase letters, digits or underscores, starting with a letter (mck adds `_a` and `_b`)",
            ));
        } else if [format!("{user}_a"), format!("{user}_b")].contains(&db.master_username) {
            diags.push(diag(
                root,
                &["database", "app_user", "name"],
                format!("the app users `{user}_a`/`{user}_b` include the master user"),
                "give the app user another name than the master user",
            ));
        }
        if !(1..=365).contains(&db.app_user.rotation_days) {
            diags.push(diag(
                root,
                &["database", "app_user", "rotation_days"],
                format!("a rotation every {} days", db.app_user.rotation_days),
                "use 1 to 365 days",
            ));
        }
        if !(1..=1000).contains(&db.master_rotation_days) {
            diags.push(diag(
                root,
                &["database", "master_rotation_days"],
                format!(
                    "a master password rotation every {} days",
                    db.master_rotation_days
                ),
                "Secrets Manager rotates every 1 to 1000 days",
            ));
        }
    }
    for (cache_name, cache) in &config.caches {
        let path = ["caches", cache_name.as_str()];
        if !is_name(cache_name) || name.len() + 1 + cache_name.len() > 40 {
            diags.push(diag(
                root,
                &path,
                format!("cache name `{cache_name}` is not usable"),
                "use lowercase letters, digits and dashes; `<stack>-<name>` must fit in 40 characters",
            ));
        }
        if !cache.node_type.starts_with("cache.") {
            diags.push(diag(
                root,
                &["caches", cache_name, "node_type"],
                format!("`{}` is not an ElastiCache node type", cache.node_type),
                "write e.g. cache.t3.medium",
            ));
        }
        if !(0..=5).contains(&cache.replicas) {
            diags.push(diag(
                root,
                &["caches", cache_name, "replicas"],
                format!("{} replicas", cache.replicas),
                "use 0 to 5",
            ));
        }
        if !(1..=40).contains(&cache.nodes) {
            diags.push(diag(
                root,
                &["caches", cache_name, "nodes"],
                format!("{} nodes", cache.nodes),
                "use 1 to 40",
            ));
        }
    }
    if let Some(fs) = &config.filesystem {
        for (idx, ap) in fs.access_points.iter().enumerate() {
            let idx_s = idx.to_string();
            if !is_name(ap) {
                diags.push(diag(
                    root,
                    &["filesystem", "access_points", &idx_s],
                    format!("access point name `{ap}` is not usable"),
                    "use lowercase letters, digits and dashes",
                ));
            }
            if fs.access_points[..idx].contains(ap) {
                diags.push(diag(
                    root,
                    &["filesystem", "access_points", &idx_s],
                    format!("access point `{ap}` listed twice"),
                    "list each once",
                ));
            }
        }
        if !["generalPurpose", "maxIO"].contains(&fs.performance_mode.as_str()) {
            diags.push(diag(
                root,
                &["filesystem", "performance_mode"],
                format!("unknown performance mode `{}`", fs.performance_mode),
                "use generalPurpose or maxIO",
            ));
        }
    }
    if let Some(dns) = &config.dns {
        if let Some(zone) = &dns.zone {
            let ok = zone.len() <= 253
                && zone.split('.').count() >= 2
                && zone
                    .split('.')
                    .all(|label| !label.is_empty() && label.len() <= 63 && is_name(label));
            if !ok {
                diags.push(diag(
                    root,
                    &["dns", "zone"],
                    format!("`{zone}` is not a usable zone name"),
                    "write a lowercase domain such as prod.magecloudkit.internal, without a trailing dot",
                ));
            }
        }
        if !(0..=86_400).contains(&dns.ttl) {
            diags.push(diag(
                root,
                &["dns", "ttl"],
                format!("TTL of {} seconds", dns.ttl),
                "use 0 to 86400",
            ));
        }
    }
}

/// Whether `region` is shaped like an AWS region name (`us-east-1`, `ap-southeast-2`).
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn validate_network(config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let net = &config.network;
    if net.zones.is_empty() {
        diags.push(diag(
            root,
            &["network", "zones"],
            "no availability zones".into(),
            "list 1 to 6 zones of the region",
        ));
    }
    let mut seen_zones = Vec::new();
    for (idx, zone) in net.zones.iter().enumerate() {
        let idx_s = idx.to_string();
        let suffix = zone.strip_prefix(config.region.as_str());
        let valid =
            suffix.is_some_and(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase()));
        if !valid {
            diags.push(diag(
                root,
                &["network", "zones", &idx_s],
                format!("zone `{zone}` is not in region {}", config.region),
                format!("write zones such as {}a, {}b", config.region, config.region),
            ));
        }
        if seen_zones.contains(zone) {
            diags.push(diag(
                root,
                &["network", "zones", &idx_s],
                format!("zone `{zone}` listed twice"),
                "list each zone once",
            ));
        }
        seen_zones.push(zone.clone());
    }
    let vpc = match net.cidr.parse::<Ipv4Net>() {
        Ok(vpc) if vpc.trunc() != vpc => {
            diags.push(diag(
                root,
                &["network", "cidr"],
                format!("`{}` has host bits set", net.cidr),
                format!("write {}", vpc.trunc()),
            ));
            return;
        }
        Ok(vpc) if !(16..=28).contains(&vpc.prefix_len()) => {
            diags.push(diag(
                root,
                &["network", "cidr"],
                format!(
                    "VPC CIDR `{}` must have a prefix between /16 and /28",
                    net.cidr
                ),
                "AWS allows VPC blocks from /16 to /28",
            ));
            return;
        }
        Ok(vpc) => vpc,
        Err(_) => {
            diags.push(diag(
                root,
                &["network", "cidr"],
                format!("`{}` is not an IPv4 CIDR block", net.cidr),
                "write e.g. 10.0.0.0/16",
            ));
            return;
        }
    };
    let mut taken: Vec<(Ipv4Net, String)> = Vec::new();
    for (tier, cidrs) in net.subnet_cidrs(vpc) {
        let explicit = net.subnets.as_ref().is_some_and(|s| s.get(tier).is_some());
        let tier_path: Vec<&str> = if explicit {
            vec!["network", "subnets", tier]
        } else {
            vec!["network", "cidr"]
        };
        if cidrs.len() != net.zones.len() {
            diags.push(diag(
                root,
                &tier_path,
                format!(
                    "{} {tier} subnet CIDRs for {} zones",
                    cidrs.len(),
                    net.zones.len()
                ),
                "give one CIDR per zone, in the order of network.zones",
            ));
        }
        for (idx, cidr) in cidrs.iter().enumerate() {
            let idx_s = idx.to_string();
            let mut path = tier_path.clone();
            if explicit {
                path.push(&idx_s);
            }
            let label = format!("network.subnets.{tier}[{idx}]");
            let Ok(subnet) = cidr.parse::<Ipv4Net>() else {
                diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` ({label}) is not an IPv4 CIDR block"),
                    "write e.g. 10.0.1.0/24",
                ));
                continue;
            };
            if subnet.trunc() != subnet {
                diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` ({label}) has host bits set"),
                    format!("write {}", subnet.trunc()),
                ));
                continue;
            }
            if !vpc.contains(&subnet) {
                diags.push(diag(
                    root,
                    &path,
                    format!("subnet `{cidr}` ({label}) is outside the VPC CIDR {vpc}"),
                    format!("choose a block inside {vpc}, or change network.cidr"),
                ));
                continue;
            }
            if subnet.prefix_len() > 28 {
                diags.push(diag(
                    root,
                    &path,
                    format!("subnet `{cidr}` ({label}) is smaller than /28"),
                    "AWS subnets are /16 to /28",
                ));
            }
            if let Some((_, other)) = taken
                .iter()
                .find(|(net, _)| net.contains(&subnet) || subnet.contains(net))
            {
                diags.push(diag(
                    root,
                    &path,
                    format!("subnet `{cidr}` ({label}) overlaps {other}"),
                    "give every subnet its own block",
                ));
                continue;
            }
            taken.push((subnet, format!("{label} ({cidr})")));
        }
    }
}

/// Parses `90s`, `10m`, `1h`, `3d` (or a bare number of seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (num, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((idx, _)) => text.split_at(idx),
        None => (text, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Default subnet CIDRs of a /16 VPC: public x.y.{1,2,3}.0/24, private x.y.{101..}, data x.y.{201..}.
fn default_tier(vpc: Ipv4Net, base: u8, n_zones: usize) -> Vec<String> {
    let octets = vpc.network().octets();
    (0..n_zones)
        .map(|idx| {
            let third = base.saturating_add(u8::try_from(idx).unwrap_or(u8::MAX));
            format!("{}/24", Ipv4Addr::new(octets[0], octets[1], third, 0))
        })
        .collect()
}

impl NetworkConfig {
    /// The subnet CIDRs per tier (`public`, `private`, `data`), explicit or derived from a /16.
    pub fn subnet_cidrs(&self, vpc: Ipv4Net) -> Vec<(&'static str, Vec<String>)> {
        let explicit = self.subnets.clone().unwrap_or_default();
        let n = self.zones.len();
        [
            ("public", explicit.public, 1u8),
            ("private", explicit.private, 101),
            ("data", explicit.data, 201),
        ]
        .into_iter()
        .map(|(tier, given, base)| (tier, given.unwrap_or_else(|| default_tier(vpc, base, n))))
        .collect()
    }

    /// The subnet CIDRs of the validated config.
    pub fn tiers(&self) -> BTreeMap<&'static str, Vec<String>> {
        let vpc: Ipv4Net = self.cidr.parse().expect("validated");
        self.subnet_cidrs(vpc).into_iter().collect()
    }
}
