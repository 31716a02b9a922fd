//! Validation of the app tier: the ECS cluster, the apps, the release and the load balancer.

use super::errors::{Diagnostic, diag};
use super::node::Node;
use super::schema::{Capacity, StackConfig};
use super::validate::{is_name, parse_duration};

/// CloudWatch Logs' allowed retentions, in days.
const LOG_RETENTIONS: &[i64] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// Fargate's task sizes: CPU units and the memory (MiB) each allows.
pub(super) fn fargate_memory_ok(cpu: i64, memory: i64) -> Option<bool> {
    let (low, high, step) = match cpu {
        256 => return Some([512, 1024, 2048].contains(&memory)),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => return None,
    };
    Some((low..=high).contains(&memory) && memory % step == 0)
}

/// Environment variable names the containers get from mck; the stack may not set them.
const RESERVED_ENV: &[&str] = &["REVISION"];

/// The prefixes of the variables mck sets (docs/magento.md): an app's own `environment` may
/// not use them.
const RESERVED_ENV_PREFIXES: &[&str] = &[
    "DB_",
    "REDIS_",
    "MEMCACHED_",
    "SEARCH_",
    "AMQP_",
    "MAGENTO_",
];

pub(super) fn validate_app(
    name: &str,
    config: &StackConfig,
    root: &Node,
    diags: &mut Vec<Diagnostic>,
) {
    let apps = &config.apps;
    let cluster = config.app.clone().unwrap_or_default();
    if let Some(app) = &config.app {
        if !LOG_RETENTIONS.contains(&app.log_retention_days) {
            diags.push(diag(
                root,
                &["app", "log_retention_days"],
                format!("log retention of {} days", app.log_retention_days),
                "CloudWatch keeps logs 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days",
            ));
        }
        if let Some(url) = &app.base_url
            && !is_url_prefix(url)
        {
            diags.push(diag(
                root,
                &["app", "base_url"],
                format!("`{url}` is not a base URL"),
                "write it as Magento stores it: scheme, host and a trailing slash (https://shop.example.com/)",
            ));
        }
        if let Some(url) = &app.media_fallback_url
            && !is_url_prefix(url)
        {
            diags.push(diag(
                root,
                &["app", "media_fallback_url"],
                format!("`{url}` is not a URL that media paths can follow"),
                "write scheme, host and path with a trailing slash (https://stage.shop.example/media/)",
            ));
        }
        match (app.capacity, &app.servers) {
            (Capacity::Fargate, Some(_)) => diags.push(diag(
                root,
                &["app", "servers"],
                "app servers are set but the capacity is Fargate".into(),
                "write `capacity: ec2` to run the apps on servers, or remove `servers`",
            )),
            (Capacity::Ec2, Some(servers)) => {
                if !(0..=1000).contains(&servers.min)
                    || !(servers.min.max(1)..=1000).contains(&servers.max)
                {
                    diags.push(diag(
                        root,
                        &["app", "servers"],
                        format!("app servers min {} and max {}", servers.min, servers.max),
                        "use 0 ≤ min ≤ max ≤ 1000 and max ≥ 1",
                    ));
                }
                if !servers.instance_type.contains('.') {
                    diags.push(diag(
                        root,
                        &["app", "servers", "instance_type"],
                        format!("`{}` is not an EC2 instance type", servers.instance_type),
                        "write e.g. c5.large",
                    ));
                }
            }
            _ => {}
        }
    }
    if apps.is_empty() {
        return;
    }
    // The ALB is `<stack>-alb`; ELBv2 names have at most 32 characters.
    if name.len() + "-alb".len() > 32 {
        diags.push(diag(
            root,
            &["apps"],
            format!("the load balancer's name `{name}-alb` is longer than 32 characters"),
            "use a stack name of at most 28 characters",
        ));
    }
    if config.network.zones.len() < 2 {
        diags.push(diag(
            root,
            &["apps"],
            "the load balancer needs subnets in at least two zones".into(),
            "list at least two zones in network.zones",
        ));
    }
    if let Some(alb) = &config.alb {
        if let Some(arn) = &alb.certificate_arn {
            let parts: Vec<&str> = arn.split(':').collect();
            let ok = parts.len() == 6
                && parts[0] == "arn"
                && parts[2] == "acm"
                && parts[5].starts_with("certificate/");
            if !ok {
                diags.push(diag(
                    root,
                    &["alb", "certificate_arn"],
                    format!("`{arn}` is not an ACM certificate ARN"),
                    "write arn:aws:acm:<region>:<account>:certificate/<id>",
                ));
            } else if parts[3] != config.region {
                diags.push(diag(
                    root,
                    &["alb", "certificate_arn"],
                    format!(
                        "the certificate is in {}, the stack in {}",
                        parts[3], config.region
                    ),
                    "an ALB takes certificates of its own region only",
                ));
            }
        }
        match parse_duration(&alb.idle_timeout) {
            Some(d) if (1..=4000).contains(&d.as_secs()) => {}
            _ => diags.push(diag(
                root,
                &["alb", "idle_timeout"],
                format!("idle timeout `{}`", alb.idle_timeout),
                "use 1s to 4000s, e.g. 60s",
            )),
        }
    }
    if let Some(release) = &config.release {
        if let Some(tag) = &release.tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                diags.push(diag(
                    root,
                    &["release", "tag"],
                    format!("`{tag}` is not an image tag"),
                    "use up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
                ));
            }
        }
        if !(1..=100).contains(&release.keep_revisions) {
            diags.push(diag(
                root,
                &["release", "keep_revisions"],
                format!("keep_revisions {} is out of range", release.keep_revisions),
                "keep 1 to 100 revisions per app (default 5)",
            ));
        }
        if release.maintenance {
            let has_var = config
                .filesystem
                .as_ref()
                .is_some_and(|fs| fs.access_points.iter().any(|ap| ap == "var"));
            if !release.migrate.enabled || !has_var {
                diags.push(diag(
                    root,
                    &["release", "maintenance"],
                    "maintenance mode needs the migration and a shared `var` directory".into(),
                    "keep `release.migrate` enabled and add `var` to `filesystem.access_points` (mounted at Magento's var/, where the flag lives)",
                ));
            }
        }
        if release.blue_green && release.maintenance {
            diags.push(diag(
                root,
                &["release", "blue_green"],
                "blue/green deployment with maintenance mode".into(),
                "keep one: blue/green lets the old revision serve while the schema changes, maintenance mode closes the shop meanwhile",
            ));
        }
        validate_install(&release.install, root, diags);
        let migrate = &release.migrate;
        if migrate.enabled && !apps.is_empty() {
            match migrate.app.as_ref().map(|name| (name, apps.get(name))) {
                Some((name, None)) => diags.push(diag(
                    root,
                    &["release", "migrate", "app"],
                    format!("no app `{name}` to run the migration in"),
                    format!(
                        "name one of the stack's apps: {}",
                        apps.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )),
                found => {
                    let app = found
                        .and_then(|(_, app)| app)
                        .or_else(|| apps.get("admin"))
                        .or_else(|| apps.values().next());
                    if let (Some(app), Some(container)) = (app, &migrate.container)
                        && !app.containers.contains_key(container)
                    {
                        diags.push(diag(
                            root,
                            &["release", "migrate", "container"],
                            format!("the migration's app has no container `{container}`"),
                            format!(
                                "name one of its containers: {}",
                                app.containers
                                    .keys()
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                }
            }
            if migrate.upgrade.trim().is_empty() {
                diags.push(diag(
                    root,
                    &["release", "migrate", "upgrade"],
                    "the migration's upgrade command is empty".into(),
                    "write the command, or set `release.migrate.enabled: false`",
                ));
            }
        }
        if let Some(revision) = &release.revision
            && (revision.is_empty()
                || revision.len() > 64
                || revision.chars().any(char::is_whitespace))
        {
            diags.push(diag(
                root,
                &["release", "revision"],
                format!("`{revision}` is not a revision"),
                "write the git commit SHA",
            ));
        }
    }
    let defaults: Vec<&String> = apps
        .iter()
        .filter(|(_, a)| a.paths.is_empty())
        .map(|(n, _)| n)
        .collect();
    if defaults.len() != 1 {
        diags.push(diag(
            root,
            &["apps"],
            match defaults.len() {
                0 => "no app takes the load balancer's default route".to_string(),
                _ => format!(
                    "{} apps have no `paths`, but only one can take the default route: {}",
                    defaults.len(),
                    defaults
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            "give every app but one the `paths` it serves (the admin app: [/backend/*])",
        ));
    }
    let image_tagged = |image: &str| {
        image.contains('@')
            || image
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
    };
    for (app_name, app) in apps {
        // Target group names are `<stack>-<app>` and may have 32 characters.
        if !is_name(app_name) || name.len() + 1 + app_name.len() > 32 {
            diags.push(diag(
                root,
                &["apps", app_name],
                format!("app name `{app_name}` is not usable"),
                "use lowercase letters, digits and dashes; `<stack>-<app>` must fit in 32 characters",
            ));
        }
        let ports: Vec<&String> = app
            .containers
            .iter()
            .filter(|(_, c)| c.port.is_some())
            .map(|(n, _)| n)
            .collect();
        if ports.len() != 1 {
            diags.push(diag(
                root,
                &["apps", app_name, "containers"],
                format!("{} containers of app `{app_name}` have a `port`", ports.len()),
                "give exactly one container (the web server, e.g. nginx) the port the load balancer sends traffic to",
            ));
        }
        if let Some(scaling) = &app.scaling {
            validate_scaling(app_name, scaling, root, diags);
        }
        let mut reserved: i64 = 0;
        for (container_name, container) in &app.containers {
            let path = [
                "apps",
                app_name.as_str(),
                "containers",
                container_name.as_str(),
            ];
            if !is_name(container_name) {
                diags.push(diag(
                    root,
                    &path,
                    format!("container name `{container_name}` is not usable"),
                    "use lowercase letters, digits and dashes",
                ));
            }
            if container.image.is_empty() || container.image.chars().any(char::is_whitespace) {
                diags.push(diag(
                    root,
                    &[path[0], path[1], path[2], path[3], "image"],
                    format!("`{}` is not an image", container.image),
                    "write a repository such as 123456789012.dkr.ecr.us-east-1.amazonaws.com/magento",
                ));
            }
            if !image_tagged(&container.image)
                && config
                    .release
                    .as_ref()
                    .and_then(|r| r.tag.as_ref())
                    .is_none()
            {
                diags.push(diag(
                    root,
                    &[path[0], path[1], path[2], path[3], "image"],
                    format!(
                        "image `{}` has no tag and the stack sets no `release.tag`",
                        container.image
                    ),
                    "set `release.tag` (CI: `--set release.tag=$GIT_SHA`) or tag the image",
                ));
            }
            if let Some(port) = container.port
                && !(1..=65535).contains(&port)
            {
                diags.push(diag(
                    root,
                    &[path[0], path[1], path[2], path[3], "port"],
                    format!("port {port}"),
                    "use 1 to 65535",
                ));
            }
            if container.memory_reservation < 6 {
                diags.push(diag(
                    root,
                    &[path[0], path[1], path[2], path[3], "memory_reservation"],
                    format!("{} MiB of memory", container.memory_reservation),
                    "ECS needs at least 6 MiB per container",
                ));
            }
            // Saturating: a huge value in the file is an error to report, not an overflow.
            reserved = reserved.saturating_add(container.memory_reservation);
        }
        if reserved > app.memory {
            diags.push(diag(
                root,
                &["apps", app_name, "memory"],
                format!(
                    "the containers of `{app_name}` reserve {reserved} MiB, the task has {}",
                    app.memory
                ),
                "raise the task's `memory` or lower the containers' `memory_reservation`",
            ));
        }
        if cluster.capacity == Capacity::Fargate
            && fargate_memory_ok(app.cpu, app.memory) != Some(true)
        {
            diags.push(diag(
                root,
                &["apps", app_name, "cpu"],
                format!("Fargate has no task size of {} CPU units with {} MiB", app.cpu, app.memory),
                "use e.g. cpu 512 with memory 1024-4096, cpu 1024 with 2048-8192, cpu 2048 with 4096-16384 (steps of 1024)",
            ));
        }
        if !(0..=1000).contains(&app.count) {
            diags.push(diag(
                root,
                &["apps", app_name, "count"],
                format!("{} tasks", app.count),
                "use 0 to 1000",
            ));
        }
        if app.paths.len() > 5 {
            diags.push(diag(
                root,
                &["apps", app_name, "paths"],
                format!("{} path patterns", app.paths.len()),
                "an ALB rule matches at most 5 path patterns",
            ));
        }
        for (idx, pattern) in app.paths.iter().enumerate() {
            if !pattern.starts_with('/') || pattern.len() > 128 {
                let idx = idx.to_string();
                diags.push(diag(
                    root,
                    &["apps", app_name, "paths", idx.as_str()],
                    format!("`{pattern}` is not a path pattern"),
                    "start with `/`, at most 128 characters, e.g. /backend/*",
                ));
            }
        }
        if !app.health_check.starts_with('/') {
            diags.push(diag(
                root,
                &["apps", app_name, "health_check"],
                format!("`{}` is not a path", app.health_check),
                "write e.g. /health_check.php",
            ));
        }
        match parse_duration(&app.deregistration_delay) {
            Some(d) if d.as_secs() <= 3600 => {}
            _ => diags.push(diag(
                root,
                &["apps", app_name, "deregistration_delay"],
                format!("deregistration delay `{}`", app.deregistration_delay),
                "use 0s to 3600s, e.g. 30s",
            )),
        }
        // ECS takes up to 2147483647 s; more than two hours only hides a broken health check.
        match parse_duration(&app.health_check_grace_period) {
            Some(d) if d.as_secs() <= 7200 => {}
            _ => diags.push(diag(
                root,
                &["apps", app_name, "health_check_grace_period"],
                format!(
                    "health check grace period `{}`",
                    app.health_check_grace_period
                ),
                "use 0s to 2h, e.g. 60s",
            )),
        }
        for key in app.environment.keys() {
            let upper = key.to_ascii_uppercase();
            let valid = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                diags.push(diag(
                    root,
                    &["apps", app_name, "environment", key],
                    format!("`{key}` is not an environment variable name"),
                    "use letters, digits and underscores, not starting with a digit",
                ));
            } else if upper.contains("PASSWORD") || upper.contains("SECRET") {
                // The value is not echoed: it may be a secret.
                diags.push(diag(
                    root,
                    &["apps", app_name, "environment", key],
                    format!("`{key}` looks like a secret, and environment values are visible to anyone who can read the task definition"),
                    "keep secrets in Secrets Manager: the DB password reaches the containers as an ECS secret already",
                ));
            } else if RESERVED_ENV.contains(&upper.as_str())
                || RESERVED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p))
            {
                diags.push(diag(
                    root,
                    &["apps", app_name, "environment", key],
                    format!("`{key}` is set by mck"),
                    "remove it: mck points the apps at the stack's database and caches itself",
                ));
            }
        }
    }
}

/// The options mck derives for `setup:install`, which `release.install.options` may not set
/// (the passwords and the crypt key come from secrets, the rest from the stack).
const DERIVED_INSTALL_OPTIONS: &[&str] = &[
    "db-host",
    "db-name",
    "db-user",
    "db-password",
    "search-engine",
    "opensearch-host",
    "opensearch-port",
    "opensearch-enable-auth",
    "opensearch-username",
    "opensearch-password",
    "amqp-host",
    "amqp-port",
    "amqp-user",
    "amqp-password",
    "amqp-virtualhost",
    "amqp-ssl",
    "cache-backend",
    "page-cache",
    "session-save",
    "base-url",
    "key",
    "admin-user",
    "admin-password",
    "admin-email",
    "backend-frontname",
    "language",
    "currency",
    "timezone",
];

/// `release.install`: usable names, an address, a command, options that are neither derived
/// nor secret.
fn validate_install(install: &super::InstallConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    fn at(key: &str) -> [&str; 3] {
        ["release", "install", key]
    }
    if install.command.trim().is_empty() || install.command.contains('\n') {
        diags.push(diag(
            root,
            &at("command"),
            "the install command is empty or spans lines".into(),
            "write one command line, e.g. `bin/magento setup:install`",
        ));
    }
    let ok_user = !install.admin_user.is_empty()
        && install.admin_user.len() <= 40
        && install
            .admin_user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok_user {
        diags.push(diag(
            root,
            &at("admin_user"),
            format!("`{}` is not a usable admin user name", install.admin_user),
            "use up to 40 letters, digits, `.`, `_` or `-`",
        ));
    }
    if !install.admin_email.contains('@') || install.admin_email.chars().any(char::is_whitespace) {
        diags.push(diag(
            root,
            &at("admin_email"),
            format!("`{}` is not an e-mail address", install.admin_email),
            "write the admin's address, e.g. ops@shop.example",
        ));
    }
    let plain = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
    };
    for (key, value) in [
        ("backend_frontname", &install.backend_frontname),
        ("language", &install.language),
        ("currency", &install.currency),
        ("timezone", &install.timezone),
    ] {
        if !plain(value) {
            diags.push(diag(
                root,
                &at(key),
                format!("`{value}` is not a usable {key}"),
                "use letters, digits, `/`, `_` or `-` (e.g. en_US, USD, Europe/Berlin, admin)",
            ));
        }
    }
    for (name, value) in &install.options {
        let path = ["release", "install", "options", name.as_str()];
        let ok_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok_name || value.chars().any(char::is_control) {
            diags.push(diag(
                root,
                &path,
                format!("`{name}: {value}` is not a usable setup:install option"),
                "name it as setup:install does, without `--` (lowercase, digits, dashes), with a one-line value",
            ));
        } else if name == "cleanup-database" {
            diags.push(diag(
                root,
                &path,
                "`cleanup-database` would wipe the database".into(),
                "drop it: mck installs only into a database without Magento and never wipes one",
            ));
        } else if DERIVED_INSTALL_OPTIONS.contains(&name.as_str()) || name.contains("password") {
            diags.push(diag(
                root,
                &path,
                format!("`{name}` is set by mck"),
                "drop it: mck derives it from the stack (passwords and the crypt key from their secrets; see docs/magento.md); use the release.install keys for the locale and the admin user",
            ));
        }
    }
}

/// `apps.<name>.scaling`: a range of tasks ECS can run and exactly one metric to track.
fn validate_scaling(
    app: &str,
    scaling: &super::schema::ScalingConfig,
    root: &Node,
    diags: &mut Vec<Diagnostic>,
) {
    let at = |key: &str| ["apps", app, "scaling", key].map(str::to_string);
    let mut say = |key: &str, what: String, fix: &str| {
        let path = at(key);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        diags.push(diag(root, &path, what, fix));
    };
    if scaling.min < 1 || scaling.max < scaling.min || scaling.max > 1000 {
        say(
            "max",
            format!("scaling between {} and {} tasks", scaling.min, scaling.max),
            "use 1 ≤ min ≤ max ≤ 1000",
        );
    }
    match (scaling.requests_per_target, scaling.cpu) {
        (Some(_), Some(_)) | (None, None) => say(
            "min",
            format!(
                "app `{app}` scales on {} metrics",
                if scaling.cpu.is_some() { "two" } else { "no" }
            ),
            "give exactly one of `requests_per_target` (requests per task a minute) or `cpu` (percent)",
        ),
        (Some(requests), None) if requests < 1 => say(
            "requests_per_target",
            format!("{requests} requests per task"),
            "use a positive number of requests per task a minute, e.g. 1000",
        ),
        (None, Some(cpu)) if !(1..=100).contains(&cpu) => say(
            "cpu",
            format!("a CPU target of {cpu} %"),
            "use 1 to 100 percent, e.g. 60",
        ),
        _ => {}
    }
    for (key, value) in [
        ("scale_in_cooldown", scaling.scale_in_cooldown),
        ("scale_out_cooldown", scaling.scale_out_cooldown),
    ] {
        if !(0..=3600).contains(&value) {
            say(
                key,
                format!("a cooldown of {value} s"),
                "use 0 to 3600 seconds",
            );
        }
    }
}

/// An http(s) URL ending in `/`, without spaces: what a path can be appended to.
fn is_url_prefix(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.ends_with('/')
        && !url.chars().any(char::is_whitespace)
}
