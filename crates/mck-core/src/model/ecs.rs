//! ECS kinds of the app tier: the cluster.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, ReplacePolicy, ResourceKind, RoleSpec, Value, kind,
    minutes,
};

/// The ECS cluster `<stack>-app`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsClusterSpec {
    pub name: String,
    pub container_insights: bool,
}

impl EcsClusterSpec {
    pub const NAME: FieldDef = FieldDef::immutable("name");
    pub const CONTAINER_INSIGHTS: FieldDef = FieldDef::mutable("container_insights");
    pub const OUT_NAME: &str = "name";
    pub const OUT_ARN: &str = "arn";
}

impl Kind for EcsClusterSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_NAME, Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;

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
    pub name: String,
    /// With its tag or digest.
    pub image: String,
    pub port: Option<i64>,
    pub memory_reservation: i64,
    /// Plain values only: secrets go in `secrets`.
    pub environment: std::collections::BTreeMap<String, String>,
    /// Variables whose value ECS reads from Secrets Manager: (name, secret ARN and JSON key).
    pub secrets: Vec<(String, Value)>,
    /// (volume name, path in the container).
    pub mounts: Vec<(String, String)>,
}

/// An EFS volume of a task, through an access point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub file_system: Ref<kind::FileSystem>,
    pub access_point: Ref<kind::AccessPoint>,
}

/// A task definition `<stack>-<app>`. Revisioned: any change registers a new revision, which
/// the service moves to before the old one is deregistered (create-first replacement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskDefinitionSpec {
    pub family: String,
    pub cpu: i64,
    pub memory: i64,
    /// `FARGATE` or `EC2`.
    pub compatibility: String,
    pub execution_role: Ref<kind::Role>,
    pub task_role: Ref<kind::Role>,
    pub log_group: Ref<kind::LogGroup>,
    pub containers: Vec<ContainerSpec>,
    pub volumes: Vec<VolumeSpec>,
}

impl TaskDefinitionSpec {
    pub const FAMILY: FieldDef = FieldDef::immutable("family");
    pub const CPU: FieldDef = FieldDef::immutable("cpu");
    pub const MEMORY: FieldDef = FieldDef::immutable("memory");
    pub const REQUIRES_COMPATIBILITIES: FieldDef = FieldDef::immutable("requires_compatibilities");
    pub const EXECUTION_ROLE_ARN: FieldDef = FieldDef::immutable("execution_role_arn");
    pub const TASK_ROLE_ARN: FieldDef = FieldDef::immutable("task_role_arn");
    /// One `[container, setting, value]` per setting, sorted: a plan names what changed.
    pub const CONTAINERS: FieldDef = FieldDef::immutable("containers");
    /// One `[volume, file system, access point]` per EFS volume.
    pub const VOLUMES: FieldDef = FieldDef::immutable("volumes");
    pub const LOG_GROUP: FieldDef = FieldDef::immutable("log_group");
    pub const OUT_ARN: &str = "arn";
    pub const OUT_REVISION: &str = "revision";

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
                out.push(row(
                    &c.name,
                    format!("environment.{k}"),
                    Value::Str(v.clone()),
                ));
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
        ResourceKind::LogGroup,
        ResourceKind::Role,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN, Self::OUT_REVISION];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::CreateFirst;

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
