//! The app tier: the ECS cluster, one log group per app and the roles the tasks run with.
//! (Task definitions, services and the load balancer follow.)

use crate::model::*;
use crate::stack::Stack;

/// The managed policy that lets ECS pull images and write logs for a task.
pub const TASK_EXECUTION_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

pub(super) fn lower(stack: &Stack, out: &mut Vec<Resource>) {
    let cfg = &stack.config;
    if cfg.apps.is_empty() {
        return;
    }
    let cluster = cfg.app.clone().unwrap_or_default();
    let mut add = |id: LogicalId, spec: ResourceSpec| out.push(Resource { id, spec });
    add(
        LogicalId::new("ecs.cluster"),
        EcsClusterSpec {
            name: format!("{}-app", stack.name),
            container_insights: cluster.container_insights,
        }
        .into(),
    );
    for app in cfg.apps.keys() {
        add(
            LogGroupSpec::logical_id(app),
            LogGroupSpec {
                name: format!("{}{app}", LogGroupSpec::prefix(&stack.name)),
                retention_days: cluster.log_retention_days,
            }
            .into(),
        );
    }
    // The execution role pulls images, writes logs and reads exactly the DB's managed secret
    // (the containers get the password as an ECS secret, never in their environment).
    let db_secret = cfg
        .database
        .as_ref()
        .map(|_| Ref::<kind::DbCluster>::new("db.cluster").output(DbClusterSpec::OUT_SECRET_ARN));
    add(
        LogicalId::new("iam.task-execution"),
        RoleSpec {
            name: format!("{}-task-execution", stack.name),
            description: format!(
                "mck {}: ECS pulls images, writes logs, reads the DB secret",
                stack.name
            ),
            service: "ecs-tasks.amazonaws.com".into(),
            managed_policies: vec![TASK_EXECUTION_POLICY.into()],
            secrets: db_secret.into_iter().collect(),
        }
        .into(),
    );
    add(
        LogicalId::new("iam.task"),
        RoleSpec {
            name: format!("{}-task", stack.name),
            description: format!("mck {}: the Magento containers", stack.name),
            service: "ecs-tasks.amazonaws.com".into(),
            managed_policies: Vec::new(),
            secrets: Vec::new(),
        }
        .into(),
    );
}
