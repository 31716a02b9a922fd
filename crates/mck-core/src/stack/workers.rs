//! Validation of Magento's background work: `cron` and `workers`.

use super::app::fargate_memory_ok;
use super::errors::{Diagnostic, diag};
use super::node::Node;
use super::schema::{Capacity, StackConfig};
use super::validate::{is_name, parse_duration};

/// One background service to check: where it is, its app and container, cpu and memory.
struct Task<'a> {
    path: Vec<&'a str>,
    app: Option<&'a str>,
    container: Option<&'a str>,
    cpu: i64,
    memory: i64,
}

/// Checks `cron` and `workers`: an app and container to take the build from, sizes, counts,
/// commands, consumer names that are safe in a shell, service names that clash with no app.
pub(super) fn validate_workers(config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let capacity = config.app.clone().unwrap_or_default().capacity;
    let mut background: Vec<Task<'_>> = Vec::new();
    if let Some(cron) = &config.cron {
        background.push(Task {
            path: vec!["cron"],
            app: cron.app.as_deref(),
            container: cron.container.as_deref(),
            cpu: cron.cpu,
            memory: cron.memory,
        });
        if parse_duration(&cron.interval).is_none_or(|d| d.as_secs() == 0) {
            diags.push(diag(
                root,
                &["cron", "interval"],
                format!("`{}` is not an interval", cron.interval),
                "write 1m (Magento schedules its jobs by the minute)",
            ));
        }
        if cron.command.trim().is_empty() {
            diags.push(diag(
                root,
                &["cron", "command"],
                "cron's command is empty".into(),
                "write bin/magento cron:run, or remove `cron`",
            ));
        }
        // cron's ECS service is `cron` (`lower::CRON_SERVICE`).
        if config.apps.contains_key("cron") {
            diags.push(diag(
                root,
                &["apps", "cron"],
                "an app named `cron` clashes with cron's ECS service".into(),
                "rename the app",
            ));
        }
    }
    for (name, worker) in &config.workers {
        let at = |key: &'static str| -> Vec<&str> { vec!["workers", name.as_str(), key] };
        if !is_name(name) || name.len() > 40 {
            diags.push(diag(
                root,
                &["workers", name],
                format!("`{name}` is not a worker name"),
                "use lowercase letters, digits and dashes, at most 40, starting with a letter",
            ));
        }
        if config.apps.contains_key(&format!("worker-{name}")) {
            diags.push(diag(
                root,
                &["workers", name],
                format!("worker `{name}` clashes with the app `worker-{name}`"),
                "rename the worker or the app",
            ));
        }
        match (&worker.command, worker.consumers.is_empty()) {
            (None, true) => diags.push(diag(
                root,
                &["workers", name],
                format!("worker `{name}` runs nothing"),
                "list its `consumers` (bin/magento queue:consumers:list shows them) or give a `command`",
            )),
            (Some(_), false) => diags.push(diag(
                root,
                &at("command"),
                format!("worker `{name}` has both `command` and `consumers`"),
                "keep one: the consumers are run by a command of mck's",
            )),
            (Some(command), true) if command.trim().is_empty() => diags.push(diag(
                root,
                &at("command"),
                format!("worker `{name}`'s command is empty"),
                "write the command, or list `consumers`",
            )),
            _ => {}
        }
        for (idx, consumer) in worker.consumers.iter().enumerate() {
            // They go into a shell command: names as Magento writes them, nothing else.
            let safe = !consumer.is_empty()
                && consumer
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !safe {
                let idx = idx.to_string();
                diags.push(diag(
                    root,
                    &["workers", name, "consumers", idx.as_str()],
                    format!("`{consumer}` is not a consumer name"),
                    "write a name as bin/magento queue:consumers:list prints it (letters, digits, . _ -)",
                ));
            }
        }
        if worker.max_messages < 1 {
            diags.push(diag(
                root,
                &at("max_messages"),
                format!("{} messages", worker.max_messages),
                "use 1 or more (Magento's default is 10000)",
            ));
        }
        if !(0..=100).contains(&worker.count) {
            diags.push(diag(
                root,
                &at("count"),
                format!("{} tasks", worker.count),
                "use 0 to 100",
            ));
        }
        background.push(Task {
            path: vec!["workers", name.as_str()],
            app: worker.app.as_deref(),
            container: worker.container.as_deref(),
            cpu: worker.cpu,
            memory: worker.memory,
        });
    }
    for Task {
        path,
        app,
        container,
        cpu,
        memory,
    } in background
    {
        let key = |k: &'static str| -> Vec<&str> {
            let mut p = path.clone();
            p.push(k);
            p
        };
        if config.apps.is_empty() {
            diags.push(diag(
                root,
                &path,
                "no app to take the build from".into(),
                "add the Magento app under `apps` (its image, environment and secrets are used)",
            ));
            continue;
        }
        if let Some(app) = app
            && !config.apps.contains_key(app)
        {
            diags.push(diag(
                root,
                &key("app"),
                format!("no app `{app}`"),
                format!(
                    "name one of the stack's apps: {}",
                    config.apps.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
            continue;
        }
        if config.app_container(app, container).is_none() {
            diags.push(diag(
                root,
                &key("container"),
                format!("the app has no container `{}`", container.unwrap_or("")),
                "name one of its containers (the one with Magento, php-fpm)",
            ));
            continue;
        }
        if capacity == Capacity::Fargate && fargate_memory_ok(cpu, memory) != Some(true) {
            diags.push(diag(
                root,
                &key("cpu"),
                format!("Fargate has no task size of {cpu} CPU units with {memory} MiB"),
                "use e.g. cpu 512 with memory 1024-4096, cpu 1024 with 2048-8192",
            ));
        }
        let reserved = config
            .app_container(app, container)
            .and_then(|(a, c)| config.apps.get(a)?.containers.get(c))
            .map_or(0, |c| c.memory_reservation);
        if reserved > memory {
            diags.push(diag(
                root,
                &key("memory"),
                format!(
                    "a task memory of {memory} MiB, less than the {reserved} MiB its container reserves"
                ),
                "raise `memory` (default 1024)",
            ));
        }
    }
}
