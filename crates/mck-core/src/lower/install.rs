//! Magento's installation on a stack's first release (docs/magento.md, "The first release
//! installs Magento"): the admin user's secret (`mck/<stack>/admin`), the task definition
//! `<stack>-install` (the migrating app's container with the admin password added as an ECS
//! secret), and the job `release.install`, which the migration and every service wait for.
//!
//! The task's script asks the database (as the apps' login) whether Magento is installed:
//! installed, it does nothing; empty, it marks the install as started, runs `setup:install`
//! with every option derived from the stack (passwords from the ECS secrets in its
//! environment, never on the command line ECS or CloudTrail record), then marks it done;
//! marked started but never done (an install that was interrupted), it fails, saying what to
//! do. It never passes `--cleanup-database`.

use super::Lowered;
use super::app::{OneOff, lowered_container};
use crate::graph::Declared;
use crate::model::*;
use crate::stack::{CacheEngine, InstallConfig, Stack};

/// The secret holding the admin user's generated password.
pub const ADMIN_SECRET_ID: &str = "secret.admin";
/// The install's task definition.
pub const TASKDEF_ID: &str = "ecs.taskdef.install";
/// The install's container.
pub const CONTAINER: &str = "install";

/// The install job, when the stack installs Magento (a database, a migration container, and
/// `release.install.enabled`): what the migration and the services wait for.
pub(super) fn job(stack: &Stack) -> Option<(ResourceKind, LogicalId)> {
    let cfg = &stack.config;
    let install = cfg.release.as_ref().map(|r| &r.install);
    (cfg.database.is_some() && cfg.migration().is_some() && install.is_none_or(|i| i.enabled)).then(
        || {
            (
                ResourceKind::Install,
                LogicalId::new(ReleaseJob::Install.id()),
            )
        },
    )
}

/// The PHP that reads and marks the install's state in the database, as the apps' login: with
/// `state` it prints `installed`, `empty` or `interrupted`; with `start` or `done` it records
/// that. Only double quotes inside: it is passed in single quotes.
const STATE_PHP: &str = r#"$l = json_decode((string) getenv("DB_SECRET"), true); $pdo = new PDO("mysql:host=" . getenv("DB_HOST") . ";dbname=" . getenv("DB_NAME"), $l["username"], $l["password"], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]); $pdo->exec("CREATE TABLE IF NOT EXISTS mck_install (id TINYINT PRIMARY KEY, state VARCHAR(16) NOT NULL, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"); $mode = $argv[count($argv) - 1]; if ($mode !== "state") { $pdo->prepare("REPLACE INTO mck_install (id, state) VALUES (1, ?)")->execute([$mode === "start" ? "started" : "done"]); exit(0); } $state = $pdo->query("SELECT state FROM mck_install WHERE id = 1")->fetchColumn(); $tables = $pdo->prepare("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"); $tables->execute(["setup_module"]); echo $state === "started" ? "interrupted" : ((int) $tables->fetchColumn() > 0 ? "installed" : "empty");"#;

/// A value of the login in `DB_SECRET` (`username` or `password`), printed by PHP.
fn login_php(key: &str) -> String {
    format!(r#"php -r 'echo json_decode((string) getenv("DB_SECRET"), true)["{key}"];'"#)
}

/// The install options mck derives from the stack, as shell words over the container's
/// environment (docs/magento.md's contract): database, search, AMQP, caches, session, base URL,
/// crypt key, admin user, locale, and the stack's own `options`.
fn install_options(stack: &Stack, install: &InstallConfig) -> Vec<String> {
    let cfg = &stack.config;
    let mut o: Vec<String> = vec![
        r#"--db-host="$DB_HOST""#.into(),
        r#"--db-name="$DB_NAME""#.into(),
        r#"--db-user="$db_user""#.into(),
        r#"--db-password="$db_password""#.into(),
    ];
    if cfg.search.is_some() {
        o.extend(
            [
                "--search-engine=opensearch",
                r#"--opensearch-host="$SEARCH_HOST""#,
                r#"--opensearch-port="$SEARCH_PORT""#,
                "--opensearch-enable-auth=1",
                r#"--opensearch-username="$SEARCH_USER""#,
                r#"--opensearch-password="$SEARCH_PASSWORD""#,
            ]
            .map(String::from),
        );
    }
    if cfg.queue.is_some() {
        o.extend(
            [
                r#"--amqp-host="$AMQP_HOST""#,
                r#"--amqp-port="$AMQP_PORT""#,
                r#"--amqp-user="$AMQP_USER""#,
                r#"--amqp-password="$AMQP_PASSWORD""#,
                r#"--amqp-virtualhost="$AMQP_VHOST""#,
                "--amqp-ssl=true",
            ]
            .map(String::from),
        );
    }
    // Redis over TLS: Magento's Redis clients take a `tls://` host.
    let redis = |name: &str| {
        cfg.caches
            .get(name)
            .is_some_and(|c| c.engine == CacheEngine::Redis)
    };
    if redis("cache") {
        o.extend(
            [
                "--cache-backend=redis",
                r#"--cache-backend-redis-server="tls://$REDIS_CACHE_HOST""#,
                r#"--cache-backend-redis-port="$REDIS_CACHE_PORT""#,
                r#"--cache-backend-redis-db="$REDIS_CACHE_DB""#,
                "--page-cache=redis",
                r#"--page-cache-redis-server="tls://$REDIS_PAGE_CACHE_HOST""#,
                r#"--page-cache-redis-port="$REDIS_CACHE_PORT""#,
                r#"--page-cache-redis-db="$REDIS_PAGE_CACHE_DB""#,
            ]
            .map(String::from),
        );
    }
    if redis("session") {
        o.extend(
            [
                "--session-save=redis",
                r#"--session-save-redis-host="tls://$REDIS_SESSION_HOST""#,
                r#"--session-save-redis-port="$REDIS_SESSION_PORT""#,
                r#"--session-save-redis-db="$REDIS_SESSION_DB""#,
            ]
            .map(String::from),
        );
    }
    o.extend(
        [
            r#"--base-url="$base_url""#,
            r#"--key="$MAGENTO_CRYPT_KEY""#,
            r#"--admin-password="$MAGENTO_ADMIN_PASSWORD""#,
            "--use-rewrites=1",
        ]
        .map(String::from),
    );
    let quoted = |name: &str, value: &str| format!("--{name}={}", shell_quote(value));
    o.push(quoted("admin-user", &install.admin_user));
    o.push(quoted("admin-email", &install.admin_email));
    o.push(quoted("admin-firstname", "Store"));
    o.push(quoted("admin-lastname", "Admin"));
    o.push(quoted("backend-frontname", &install.backend_frontname));
    o.push(quoted("language", &install.language));
    o.push(quoted("currency", &install.currency));
    o.push(quoted("timezone", &install.timezone));
    o.extend(install.options.iter().map(|(k, v)| quoted(k, v)));
    o
}

/// `value` as one shell word (single-quoted).
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The install task's shell script.
pub fn install_script(stack: &Stack, install: &InstallConfig) -> String {
    let state = |mode: &str| format!("php -r '{STATE_PHP}' -- {mode}");
    let sample_data = if install.sample_data {
        " && bin/magento sampledata:deploy && bin/magento setup:upgrade --keep-generated"
    } else {
        ""
    };
    // A preview's clone of its source's database is installed: its `preview.scrub` runs on it
    // before anything else uses it (the migration and the services wait for this job), then
    // its base URLs become the preview's own (the source's would send visitors there).
    let scrub = stack
        .database_source()
        .and(stack.config.preview.as_ref())
        .and_then(|p| p.scrub.as_deref())
        .map(|scrub| {
            format!(
                "echo 'mck: the database is a clone of the source stack: scrubbing it'; \
                 sh -c {} || {{ echo 'mck: the scrub failed: nothing starts on unscrubbed data'; exit 4; }}; \
                 echo 'mck: scrubbed'; ",
                shell_quote(scrub)
            )
        });
    // With `MAGENTO_BASE_URL`, the image's `env.php` holds the base URL, which the database's
    // cannot override and `config:set` refuses to change.
    let installed = if stack.database_source().is_some() {
        format!(
            "installed) {scrub}if [ -n \"${{MAGENTO_BASE_URL:-}}\" ]; then \
             echo 'mck: the base URL is MAGENTO_BASE_URL, in env.php'; else \
             {base_url} echo \"mck: the base URL of the cloned database is now $base_url\"; \
             bin/magento config:set web/unsecure/base_url \"$base_url\" && \
             bin/magento config:set web/secure/base_url \"$base_url\" || \
             {{ echo 'mck: cannot set the base URL of the cloned database'; exit 5; }}; fi; exit 0;;",
            scrub = scrub.unwrap_or_default(),
            base_url = BASE_URL,
        )
    } else {
        "installed) echo 'mck: Magento is installed: nothing to install'; exit 0;;".into()
    };
    format!(
        "state=$({check}) || {{ echo 'mck: cannot read the install state from the database'; exit 1; }}; \
         case \"$state\" in \
         {installed} \
         interrupted) echo 'mck: an earlier install of this database was interrupted (marked started, never done): restore the database from a snapshot taken before it or empty it, then run up again; mck never reinstalls over it'; exit 3;; \
         empty) ;; \
         *) echo \"mck: cannot tell whether Magento is installed: $state\"; exit 1;; \
         esac; \
         {start} || exit 1; \
         db_user=$({user}); db_password=$({password}); \
         {base_url} \
         echo 'mck: installing Magento'; \
         {command} {options}{sample_data} || exit $?; \
         {done} && echo 'mck: Magento installed'",
        base_url = BASE_URL,
        check = state("state"),
        start = state("start"),
        done = state("done"),
        user = login_php("username"),
        password = login_php("password"),
        command = install.command.trim(),
        options = install_options(stack, install).join(" "),
    )
}

/// The shop's URL, in the script's `$base_url`: the stack's `app.base_url`, else its load
/// balancer's.
const BASE_URL: &str = r#"base_url="${MAGENTO_BASE_URL:-http://$MCK_ALB_DNS/}";"#;

/// The admin secret, the install's task definition and its job.
pub(super) fn lower(stack: &Stack, needs: &[(ResourceKind, LogicalId)], out: &mut Lowered) {
    let cfg = &stack.config;
    let Some((_, job_id)) = job(stack) else {
        return;
    };
    let Some((app, container, _)) = cfg.migration() else {
        return;
    };
    let Some((td, source)) = lowered_container(out, app, container) else {
        return;
    };
    let install = cfg.release.clone().unwrap_or_default().install;
    let admin = SecretSpec {
        name: format!("mck/{}/admin", stack.name),
        description: format!(
            "mck {}: the Magento admin user made by the first release's install",
            stack.name
        ),
        username: install.admin_user.clone(),
        password_length: 24,
        exclude_characters: super::data::PASSWORD_EXCLUDES.into(),
        rotation_days: None,
    };
    let mut container_spec = source.clone();
    container_spec.name = CONTAINER.into();
    container_spec.port = None;
    container_spec.secrets.push((
        "MAGENTO_ADMIN_PASSWORD".into(),
        Ref::<kind::Secret>::new(ADMIN_SECRET_ID).output(SecretSpec::OUT_PASSWORD_FROM),
    ));
    // For `mck outputs` (the admin URL) and the script's option.
    container_spec.environment.insert(
        "MCK_BACKEND_FRONTNAME".into(),
        install.backend_frontname.as_str().into(),
    );
    if out.iter().any(|r| r.id.as_str() == "alb") {
        container_spec.environment.insert(
            "MCK_ALB_DNS".into(),
            Ref::<kind::LoadBalancer>::new("alb").output(LoadBalancerSpec::OUT_DNS_NAME),
        );
    }
    let script = install_script(stack, &install);
    container_spec.command = vec!["sh".into(), "-c".into(), script.clone()];
    let taskdef = TaskDefinitionSpec {
        family: format!("{}-install", stack.name),
        containers: vec![container_spec],
        ..td.clone()
    };
    let task = OneOff {
        job: ReleaseJob::Install,
        task_definition: TASKDEF_ID,
        log_group: taskdef.log_group.clone(),
        container: CONTAINER,
        image: InstallSpec::INSTALLED.into(),
        command: vec!["sh".into(), "-c".into(), script],
    }
    .task(stack, needs, out);
    let at = Declared::at(&["release", "install"]);
    out.add(LogicalId::new(ADMIN_SECRET_ID), admin.into(), at.clone());
    out.add(LogicalId::new(TASKDEF_ID), taskdef.into(), at.clone());
    out.add(job_id, InstallSpec { task }.into(), at);
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    /// Runs the dev stack's install script in `dir` with stand-ins for `php` (the database's
    /// install state from the file `state`, the marks it writes appended to `marks`, the login
    /// from `DB_SECRET`) and `bin/magento` (its arguments appended to `magento`).
    fn run(dir: &std::path::Path, state: &str) -> (Option<i32>, String, String, String) {
        let stack = crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
        run_of(&stack, dir, state, 0)
    }

    /// [`run`] for `stack`, whose scrub command (`php bin/scrub-customers.php`, stage's) is
    /// appended to `scrubbed` and exits `scrub_exit`.
    fn run_of(
        stack: &Stack,
        dir: &std::path::Path,
        state: &str,
        scrub_exit: i32,
    ) -> (Option<i32>, String, String, String) {
        run_with(stack, dir, state, scrub_exit, None)
    }

    /// [`run_of`] with `MAGENTO_BASE_URL` set to `base_url`, if any.
    fn run_with(
        stack: &Stack,
        dir: &std::path::Path,
        state: &str,
        scrub_exit: i32,
        base_url: Option<&str>,
    ) -> (Option<i32>, String, String, String) {
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("path")).unwrap();
        std::fs::write(dir.join("state"), state).unwrap();
        let _ = std::fs::remove_file(dir.join("marks"));
        let _ = std::fs::remove_file(dir.join("magento"));
        let php = format!(
            "#!/bin/sh\nlast=\"\"; for a in \"$@\"; do last=\"$a\"; done\n\
             case \"$last\" in state) cat {d}/state; exit 0;; start|done) echo \"$last\" >> {d}/marks; exit 0;; \
             *scrub*) echo \"$last\" >> {d}/scrubbed; exit {scrub_exit};; esac\n\
             case \"$2\" in *username*) echo magento_a;; *password*) echo db-Pa55;; *) exit 1;; esac\n",
            d = dir.display()
        );
        let magento = format!(
            "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\" >> {d}/magento; done\n",
            d = dir.display()
        );
        std::fs::write(dir.join("path/php"), php).unwrap();
        std::fs::write(dir.join("bin/magento"), magento).unwrap();
        for f in ["path/php", "bin/magento"] {
            Command::new("chmod")
                .args(["+x", dir.join(f).to_str().unwrap()])
                .status()
                .unwrap();
        }
        let _ = std::fs::remove_file(dir.join("scrubbed"));
        let script = install_script(stack, &InstallConfig::default());
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    dir.join("path").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .env("DB_HOST", "db.dev.internal")
            .env("DB_NAME", "magento2")
            .env("SEARCH_HOST", "search.example")
            .env("SEARCH_PORT", "443")
            .env("SEARCH_USER", "magento")
            .env("SEARCH_PASSWORD", "se-Pa55")
            .env("AMQP_HOST", "mq.example")
            .env("AMQP_PORT", "5671")
            .env("AMQP_USER", "magento")
            .env("AMQP_PASSWORD", "mq-Pa55")
            .env("AMQP_VHOST", "/")
            .env("REDIS_CACHE_HOST", "redis-cache.internal")
            .env("REDIS_CACHE_PORT", "6379")
            .env("REDIS_CACHE_DB", "0")
            .env("REDIS_PAGE_CACHE_HOST", "redis-cache.internal")
            .env("REDIS_PAGE_CACHE_DB", "1")
            .env("REDIS_SESSION_HOST", "redis-session.internal")
            .env("REDIS_SESSION_PORT", "6379")
            .env("REDIS_SESSION_DB", "0")
            .env("MAGENTO_CRYPT_KEY", "k3y")
            .env("MAGENTO_ADMIN_PASSWORD", "ad-Pa55")
            .env("MCK_ALB_DNS", "dev-alb.example")
            .env("MAGENTO_BASE_URL", base_url.unwrap_or_default())
            .output()
            .unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            read("marks"),
            format!("{}{}", read("magento"), read("scrubbed")),
        )
    }

    fn preview(empty_db: bool) -> Stack {
        super::super::preview_of_stage(empty_db)
    }

    /// A preview's clone of stage's database is installed: stage's `preview.scrub` runs on it,
    /// and the job (which the migration and every service wait for) fails when the scrub does.
    #[test]
    fn a_cloned_database_is_scrubbed_before_anything_starts() {
        let dir = std::env::temp_dir().join(format!("mck-scrub-{}", std::process::id()));
        let (code, said, marks, ran) = run_of(&preview(false), &dir, "installed", 0);
        assert_eq!(code, Some(0), "{said}");
        assert!(
            said.contains("scrubbing it") && said.contains("mck: scrubbed"),
            "{said}"
        );
        assert_eq!(
            ran,
            "config:set\nweb/unsecure/base_url\nhttp://dev-alb.example/\n\
             config:set\nweb/secure/base_url\nhttp://dev-alb.example/\n\
             bin/scrub-customers.php\n",
            "the scrub ran once, then the base URLs became the preview's own; nothing else"
        );
        assert_eq!(marks, "", "no install mark");
        // The scrub first: a failed one stops everything, the base URL included.
        assert!(
            said.find("mck: scrubbed").unwrap() < said.find("base URL of the cloned").unwrap(),
            "{said}"
        );
        let (code, said, _, ran) = run_of(&preview(false), &dir, "installed", 3);
        assert_eq!(code, Some(4), "{said}");
        assert!(said.contains("nothing starts on unscrubbed data"), "{said}");
        assert_eq!(ran, "bin/scrub-customers.php\n", "{said}");
        // With a base URL of its own (`--set app.base_url=…`), env.php holds it: the
        // database's is left alone (`config:set` would refuse to change a value env.php sets).
        let (code, said, _, ran) = run_with(
            &preview(false),
            &dir,
            "installed",
            0,
            Some("https://pr-1.example/"),
        );
        assert_eq!(code, Some(0), "{said}");
        assert_eq!(ran, "bin/scrub-customers.php\n", "{said}");
        assert!(said.contains("MAGENTO_BASE_URL, in env.php"), "{said}");
        // An empty database of a preview is installed, and there is nothing to scrub.
        let (code, _, _, ran) = run_of(&preview(true), &dir, "installed", 0);
        assert_eq!(code, Some(0));
        assert_eq!(ran, "");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_database_is_installed_once_with_every_option_and_the_rest_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("mck-install-{}", std::process::id()));
        let (code, said, marks, magento) = run(&dir, "empty");
        assert_eq!(code, Some(0), "{said}");
        assert_eq!(marks, "start\ndone\n", "started, then done: {said}");
        let args: Vec<&str> = magento.lines().collect();
        assert_eq!(args[0], "setup:install", "{magento}");
        for expected in [
            "--db-host=db.dev.internal",
            "--db-user=magento_a",
            "--db-password=db-Pa55",
            "--search-engine=opensearch",
            "--opensearch-host=search.example",
            "--opensearch-password=se-Pa55",
            "--amqp-password=mq-Pa55",
            "--amqp-virtualhost=/",
            "--cache-backend-redis-server=tls://redis-cache.internal",
            "--page-cache-redis-db=1",
            "--session-save-redis-host=tls://redis-session.internal",
            "--base-url=http://dev-alb.example/",
            "--key=k3y",
            "--admin-user=admin",
            "--admin-password=ad-Pa55",
            "--backend-frontname=admin",
            "--language=en_US",
        ] {
            assert!(args.contains(&expected), "{expected} not in {args:?}");
        }
        assert!(
            !magento.contains("cleanup-database"),
            "never wipes a database"
        );
        // Installed: nothing runs, nothing is marked.
        let (code, said, marks, magento) = run(&dir, "installed");
        assert_eq!(
            (code, marks.as_str(), magento.as_str()),
            (Some(0), "", ""),
            "{said}"
        );
        assert!(said.contains("Magento is installed"), "{said}");
        // Interrupted: refused, saying what to do; nothing runs.
        let (code, said, marks, magento) = run(&dir, "interrupted");
        assert_eq!(
            (code, marks.as_str(), magento.as_str()),
            (Some(3), "", ""),
            "{said}"
        );
        assert!(
            said.contains("was interrupted") && said.contains("restore the database"),
            "{said}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_install_command_line_names_secrets_only_by_variable() {
        let stack = crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
        let script = install_script(&stack, &InstallConfig::default());
        for option in [
            "db-password",
            "opensearch-password",
            "amqp-password",
            "admin-password",
            "key",
        ] {
            let at = script
                .find(&format!("--{option}="))
                .unwrap_or_else(|| panic!("no --{option}: {script}"));
            assert!(
                script[at..].starts_with(&format!("--{option}=\"$")),
                "--{option} is not given from the environment: {script}"
            );
        }
    }
}
