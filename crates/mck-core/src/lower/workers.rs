//! Magento's background work: cron (one task that runs `bin/magento cron:run` every minute,
//! never two at once) and the workers (queue consumers), each an ECS service with no load
//! balancer, its own task definition and log group, on the build, environment, secrets and
//! shared files of an app's container (the one the migration runs in by default).
//!
//! Why a service and not an EventBridge schedule starting a task every minute: a Fargate task
//! takes 30 to 60 seconds to start and pull a Magento image, so one-minute tasks would run late
//! and overlap (a schedule starts the next whether or not the last has ended:
//! aws/containers-roadmap#232), and each start is billed for a minute at least. A single task
//! that loops keeps the minute, and a deployment of it stops the old task before starting the
//! new one (0%–100%), so two never run at once. A run cut short by that stop is what Magento's
//! own bookkeeping covers: its jobs' `cron_schedule` rows left `running` are marked missed or
//! cleaned up by the next run (docs/magento.md).

use super::Lowered;
use super::app::{lowered_container, private_subnets, seconds, task_capacity};
use crate::graph::Declared;
use crate::model::*;
use crate::stack::Stack;

/// The ECS service (and task family suffix) of cron.
pub const CRON_SERVICE: &str = "cron";

/// The ECS service of worker `name`: `worker-<name>`.
pub fn worker_service(name: &str) -> String {
    format!("worker-{name}")
}

/// The shell script of cron: `command` at the start of every `interval_secs`, in step with the
/// clock (a run that overruns delays the next, never overlaps it). On SIGTERM (ECS stopping the
/// task, a deployment) it ends at once while it waits, or after the run under way: a
/// deployment's new task (which starts only once this one has stopped) starts promptly and no
/// run is cut short unless it outlasts ECS's stop timeout.
pub fn cron_script(command: &str, interval_secs: i64) -> String {
    format!(
        "trap 'stop=1; kill $! 2>/dev/null' TERM INT; while [ -z \"$stop\" ]; do {command}; [ -n \"$stop\" ] && break; \
         sleep $(( {interval_secs} - $(date +%s) % {interval_secs} )) & wait $!; done; exit 0"
    )
}

/// The shell script of a worker running `consumers`: each in a loop of its own, started again
/// when it ends (after `max_messages`, or on an error, a second later); the task ends only if
/// the shell does. On SIGTERM (ECS stopping the task, a deployment) each loop passes the signal
/// to its consumer, waits for it to finish (Magento's consumers stop after the message in hand)
/// and ends, and the shell exits 0 once they all have: no restart after the signal, no
/// message cut short unless it outlasts ECS's stop timeout.
pub fn consumers_script(consumers: &[String], max_messages: i64) -> String {
    let loops: Vec<String> = consumers
        .iter()
        .map(|c| {
            format!(
                "(trap 'kill $c 2>/dev/null; wait $c; exit 0' TERM; \
                 while true; do bin/magento queue:consumers:start {c} --single-thread --max-messages={max_messages} & c=$!; \
                 wait $c; sleep 1 & wait $!; done) & pids=\"$pids $!\";"
            )
        })
        .collect();
    format!(
        "trap 'kill $pids 2>/dev/null' TERM INT; pids=; {} wait; wait; exit 0",
        loops.join(" ")
    )
}

/// One background service to lower.
struct Background<'a> {
    /// `cron` or `worker-<name>`.
    service: String,
    /// Where its settings are in the stack.
    at: Vec<&'a str>,
    app: Option<&'a str>,
    container: Option<&'a str>,
    script: String,
    count: i64,
    cpu: i64,
    memory: i64,
    one_at_a_time: bool,
}

pub(super) fn lower(stack: &Stack, needs: &[(ResourceKind, LogicalId)], out: &mut Lowered) {
    let cfg = &stack.config;
    let mut background: Vec<Background<'_>> = Vec::new();
    if let Some(cron) = &cfg.cron {
        background.push(Background {
            service: CRON_SERVICE.into(),
            at: vec!["cron"],
            app: cron.app.as_deref(),
            container: cron.container.as_deref(),
            script: cron_script(&cron.command, seconds(&cron.interval, 60).max(1)),
            count: 1,
            cpu: cron.cpu,
            memory: cron.memory,
            one_at_a_time: true,
        });
    }
    for (name, worker) in &cfg.workers {
        background.push(Background {
            service: worker_service(name),
            at: vec!["workers", name.as_str()],
            app: worker.app.as_deref(),
            container: worker.container.as_deref(),
            script: match &worker.command {
                Some(command) => command.clone(),
                None => consumers_script(&worker.consumers, worker.max_messages),
            },
            count: worker.count,
            cpu: worker.cpu,
            memory: worker.memory,
            one_at_a_time: false,
        });
    }
    let cluster = cfg.app.clone().unwrap_or_default();
    for b in background {
        let Some((app, container)) = cfg.app_container(b.app, b.container) else {
            continue;
        };
        // The app's container as lowered: its image, environment, secrets and mounts.
        let Some((td, source)) = lowered_container(out, app, container) else {
            continue;
        };
        let volumes = td.volumes.clone();
        let execution_role = td.execution_role.clone();
        let task_role = td.task_role.clone();
        let compatibility = td.compatibility.clone();
        let keep_revisions = td.keep_revisions;
        let worker = ContainerSpec {
            port: None,
            command: vec!["sh".into(), "-c".into(), b.script],
            ..source.clone()
        };
        let declared = || Declared::at(&b.at);
        let log_group = LogGroupSpec::logical_id(&b.service);
        out.add(
            log_group.clone(),
            LogGroupSpec {
                name: format!("{}{}", LogGroupSpec::prefix(&stack.name), b.service),
                retention_days: cluster.log_retention_days,
            }
            .into(),
            declared(),
        );
        let taskdef_id = LogicalId::new(format!("ecs.taskdef.{}", b.service));
        out.add(
            taskdef_id.clone(),
            TaskDefinitionSpec {
                family: format!("{}-{}", stack.name, b.service),
                cpu: b.cpu,
                memory: b.memory,
                compatibility,
                execution_role,
                task_role,
                log_group: Ref::new(log_group.as_str()),
                containers: vec![worker],
                volumes,
                keep_revisions,
                cluster_name: format!("{}-app", stack.name),
            }
            .into(),
            declared(),
        );
        let mut after = needs.to_vec();
        if cfg.migration().is_some() {
            // On the new build only once the database is migrated to it.
            after.push((
                ResourceKind::ReleaseTask,
                LogicalId::new(ReleaseTaskSpec::MIGRATE_ID),
            ));
        }
        out.add(
            LogicalId::new(format!("ecs.service.{}", b.service)),
            EcsServiceSpec {
                name: b.service.clone(),
                cluster: Ref::new("ecs.cluster"),
                task_definition: Ref::new(taskdef_id.as_str()),
                desired_count: b.count,
                scaled: false,
                exec: cluster.exec,
                capacity: task_capacity(cluster.capacity),
                subnets: private_subnets(stack),
                security_groups: vec![Ref::new("sg.app")],
                load_balancer: None,
                one_at_a_time: b.one_at_a_time,
                alarms: Vec::new(),
                after,
            }
            .into(),
            declared(),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    use super::super::spec_of as spec;

    /// Prod's cron and workers: services with no load balancer on the admin's build, with its
    /// environment, secrets and shared files, their own command and log group; cron alone, one
    /// task at a time; all after the migration.
    #[test]
    fn prod_runs_cron_and_each_worker_group_as_a_service_on_the_admins_build() {
        let stack = crate::stack::load(Path::new("../../stacks"), "prod").unwrap();
        let resources = super::super::resources(&stack);
        let ResourceSpec::TaskDefinition(admin) = spec(&resources, "ecs.taskdef.admin") else {
            panic!()
        };
        let php = admin
            .containers
            .iter()
            .find(|c| c.name == "php-fpm")
            .unwrap();
        let services: Vec<&str> = resources
            .iter()
            .filter(|r| r.kind() == ResourceKind::EcsService)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(
            services,
            [
                "ecs.service.admin",
                "ecs.service.frontend",
                "ecs.service.cron",
                "ecs.service.worker-consumers",
                "ecs.service.worker-inventory",
                "ecs.service.worker-media",
                "ecs.service.worker-sales",
            ]
        );
        for (service, one_at_a_time, count) in [
            ("cron", true, 1),
            ("worker-consumers", false, 2),
            ("worker-inventory", false, 1),
        ] {
            let ResourceSpec::EcsService(s) = spec(&resources, &format!("ecs.service.{service}"))
            else {
                panic!()
            };
            assert_eq!(s.load_balancer, None, "{service}");
            assert_eq!(s.one_at_a_time, one_at_a_time, "{service}");
            assert_eq!(s.desired_count, count, "{service}");
            assert!(
                s.after.contains(&(
                    ResourceKind::ReleaseTask,
                    LogicalId::new(ReleaseTaskSpec::MIGRATE_ID)
                )),
                "{service} waits for the migration"
            );
            let ResourceSpec::TaskDefinition(td) =
                spec(&resources, &format!("ecs.taskdef.{service}"))
            else {
                panic!()
            };
            assert_eq!(td.family, format!("prod-{service}"));
            assert_eq!(td.log_group.id().as_str(), format!("logs.{service}"));
            let [worker] = td.containers.as_slice() else {
                panic!("{service}: one container")
            };
            assert_eq!(worker.image, php.image);
            assert_eq!(worker.environment, php.environment);
            assert_eq!(worker.secrets, php.secrets);
            assert_eq!(worker.mounts, php.mounts);
            assert_eq!(worker.port, None);
            assert_eq!(worker.command[..2], ["sh", "-c"]);
        }
        let ResourceSpec::TaskDefinition(cron) = spec(&resources, "ecs.taskdef.cron") else {
            panic!()
        };
        assert!(
            cron.containers[0].command[2].contains("bin/magento cron:run"),
            "{:?}",
            cron.containers[0].command
        );
        let ResourceSpec::TaskDefinition(inventory) =
            spec(&resources, "ecs.taskdef.worker-inventory")
        else {
            panic!()
        };
        assert!(
            inventory.containers[0].command[2]
                .contains("queue:consumers:start inventory.reservations.update --single-thread --max-messages=10000"),
            "{:?}",
            inventory.containers[0].command
        );
    }

    #[test]
    fn cron_runs_at_the_start_of_each_interval() {
        assert!(
            cron_script("bin/magento cron:run", 60).contains(
                "do bin/magento cron:run; [ -n \"$stop\" ] && break; sleep $(( 60 - $(date +%s) % 60 )) & wait $!; done"
            ),
            "{}",
            cron_script("bin/magento cron:run", 60)
        );
    }
}

/// Cron's script run by `sh` with a stand-in for `bin/magento`: it runs the command, waits for
/// the next interval, and a SIGTERM while it waits ends it at once with status 0.
#[cfg(all(test, unix))]
mod script_tests {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{consumers_script, cron_script};

    /// Sends SIGTERM to `child` as ECS does and waits up to 20 s for it to end.
    fn terminate(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let stopping = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if stopping.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The consumers' script with a stand-in for `bin/magento`: consumer `quick` ends at once
    /// (as after `--max-messages`), `slow` runs until SIGTERM, which it logs before it ends.
    #[test]
    fn consumers_restart_when_they_end_and_stop_on_sigterm() {
        let dir = std::env::temp_dir().join(format!("mck-consumers-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let log = dir.join("log");
        let magento = dir.join("bin/magento");
        std::fs::write(
            &magento,
            format!(
                "#!/bin/sh\necho \"start $2\" >> {log}\n[ \"$2\" = quick ] && exit 0\n\
                 trap 'echo \"stop $2\" >> {log}; exit 0' TERM\nwhile true; do sleep 0.05; done\n",
                log = log.display()
            ),
        )
        .unwrap();
        Command::new("chmod")
            .args(["+x", magento.to_str().unwrap()])
            .status()
            .unwrap();
        let script = consumers_script(&["quick".into(), "slow".into()], 100);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = || std::fs::read_to_string(&log).unwrap_or_default();
        let count = |text: &str, what: &str| text.lines().filter(|l| *l == what).count();
        let waited = Instant::now();
        while count(&lines(), "start quick") < 2 && waited.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let before = lines();
        assert!(
            count(&before, "start quick") >= 2,
            "quick was not restarted: {before}"
        );
        assert_eq!(count(&before, "start slow"), 1, "{before}");
        let status = terminate(&mut child);
        // Past any restart that was due (a second after quick's last run).
        std::thread::sleep(Duration::from_millis(1500));
        let after = lines();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            status.map(|s| s.code()),
            Some(Some(0)),
            "the worker did not end on SIGTERM: {after}"
        );
        assert_eq!(
            count(&after, "stop slow"),
            1,
            "slow was not told to stop: {after}"
        );
        assert!(
            count(&after, "start quick") <= count(&before, "start quick") + 1
                && count(&after, "start slow") == 1,
            "consumers started again after the signal: {after}"
        );
    }

    #[test]
    fn cron_runs_the_command_and_stops_on_sigterm_while_it_waits() {
        let dir = std::env::temp_dir().join(format!("mck-cron-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ran = dir.join("ran");
        // An interval of an hour: after its first run the script waits, whatever the clock.
        let script = cron_script(&format!("echo run >> {}", ran.display()), 3600);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let waited = Instant::now();
        while !ran.exists() && waited.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(ran.exists(), "the command never ran");
        // Let the shell reach its wait, then stop it as ECS does.
        std::thread::sleep(Duration::from_millis(300));
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let stopping = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if stopping.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let runs = std::fs::read_to_string(&ran).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            status.map(|s| s.code()),
            Some(Some(0)),
            "cron did not end on SIGTERM while it waited"
        );
        assert_eq!(runs, "run\n", "one run, and none after the signal");
    }
}
