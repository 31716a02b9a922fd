//! The apps' own database login (docs/magento.md, "The database login"): never the master
//! user, whose RDS-managed password RDS rotates under running tasks (ECS reads a secret only
//! when a task starts).
//!
//! - the secret `mck/<stack>/db-app`: the login in use, user `<name>_a` or `<name>_b` (the
//!   alternating users of AWS's rotation guide: a rotation sets the password of the user no
//!   task uses, then moves the services onto it);
//! - the task definitions `<stack>-db-admin` (the login in use, `AWSCURRENT`) and
//!   `<stack>-db-rotate` (the one a rotation staged, `AWSPENDING`), running PHP on the app's
//!   build as the master user ([`ReleaseTaskSpec::db_login_command`]);
//! - the release job `release.db-login`, which makes sure the login exists before the
//!   migration and every service use it.

use super::Lowered;
use super::app::{OneOff, lowered_container};
use crate::graph::Declared;
use crate::model::*;
use crate::stack::Stack;

/// The secret holding the apps' database login.
pub const SECRET_ID: &str = "secret.db-app";
/// The task definition of the login tasks with the login in use.
pub const ADMIN_TASKDEF_ID: &str = "ecs.taskdef.db-admin";
/// The task definition of the rotation's task, with the staged login.
pub const ROTATE_TASKDEF_ID: &str = "ecs.taskdef.db-rotate";

/// The login job, when the stack has a database and an app build to run it on: what the
/// migration and the services wait for.
pub(super) fn job(stack: &Stack) -> Option<(ResourceKind, LogicalId)> {
    let cfg = &stack.config;
    (cfg.database.is_some() && cfg.app_container(None, None).is_some()).then(|| {
        (
            ResourceKind::DbLogin,
            LogicalId::new(ReleaseJob::DbLogin.id()),
        )
    })
}

/// The login's secret: `<name>_a` at first, a rotation alternates it.
pub(super) fn secret(stack: &Stack) -> Option<SecretSpec> {
    let db = stack.config.database.as_ref()?;
    job(stack)?;
    Some(SecretSpec {
        name: format!("mck/{}/db-app", stack.name),
        description: format!(
            "mck {}: the apps' database login (rotated by `mck rotate --stack {} db`)",
            stack.name, stack.name
        ),
        username: format!("{}_a", db.app_user.name),
        password_length: 32,
        // The generated logins' rules: nothing a URI, a shell or an env.php template would
        // need to escape (RDS's own rules for passwords refuse `/`, `@`, `"`).
        exclude_characters: super::data::PASSWORD_EXCLUDES.into(),
        rotation_days: Some(db.app_user.rotation_days),
    })
}

/// The two task definitions and the job; `needs` are what any task needs before it starts.
pub(super) fn lower(stack: &Stack, needs: &[(ResourceKind, LogicalId)], out: &mut Lowered) {
    let cfg = &stack.config;
    let Some((_, job_id)) = job(stack) else {
        return;
    };
    let Some((app, container)) = cfg.app_container(None, None) else {
        return;
    };
    let Some((td, source)) = lowered_container(out, app, container) else {
        return;
    };
    let image = source.image.clone();
    let environment: std::collections::BTreeMap<String, Value> = ["DB_HOST", "DB_NAME"]
        .into_iter()
        .filter_map(|k| Some((k.to_string(), source.environment.get(k)?.clone())))
        .collect();
    let master = Ref::<kind::DbCluster>::new("db.cluster").output(DbClusterSpec::OUT_SECRET_ARN);
    let secret = Ref::<kind::Secret>::new(SECRET_ID);
    let taskdef = |family: &str, app_secret: Value| TaskDefinitionSpec {
        family: format!("{}-{family}", stack.name),
        cpu: 256,
        memory: 512,
        compatibility: td.compatibility.clone(),
        execution_role: td.execution_role.clone(),
        task_role: td.task_role.clone(),
        log_group: td.log_group.clone(),
        containers: vec![ContainerSpec {
            name: ReleaseTaskSpec::DB_ADMIN_CONTAINER.into(),
            image: image.clone(),
            port: None,
            memory_reservation: 256,
            environment: environment.clone(),
            secrets: vec![
                ("DB_MASTER_SECRET".into(), master.clone()),
                ("DB_APP_SECRET".into(), app_secret),
            ],
            mounts: Vec::new(),
            command: ReleaseTaskSpec::db_login_command(None),
        }],
        volumes: Vec::new(),
        keep_revisions: td.keep_revisions,
        cluster_name: td.cluster_name.clone(),
    };
    let admin = taskdef("db-admin", secret.output(SecretSpec::OUT_ARN));
    let rotate = taskdef("db-rotate", secret.output(SecretSpec::OUT_PENDING_FROM));
    let task = OneOff {
        job: ReleaseJob::DbLogin,
        task_definition: ADMIN_TASKDEF_ID,
        log_group: admin.log_group.clone(),
        container: ReleaseTaskSpec::DB_ADMIN_CONTAINER,
        image,
        command: ReleaseTaskSpec::db_login_command(None),
    }
    .task(stack, needs, out);
    let at = Declared::at(&["database", "app_user"]);
    out.add(LogicalId::new(ADMIN_TASKDEF_ID), admin.into(), at.clone());
    out.add(LogicalId::new(ROTATE_TASKDEF_ID), rotate.into(), at.clone());
    out.add(job_id, DbLoginSpec { task }.into(), at);
}
