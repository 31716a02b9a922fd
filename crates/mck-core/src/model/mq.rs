//! Amazon MQ for RabbitMQ: the message broker of Magento's queues.

use std::time::Duration;

use serde::Serialize;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, kind,
    minutes, refs,
};

/// How the broker's nodes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BrokerDeployment {
    /// One node (`SINGLE_INSTANCE`).
    Single,
    /// Three nodes across zones (`CLUSTER_MULTI_AZ`).
    Cluster,
}

impl BrokerDeployment {
    /// The API's deployment mode.
    pub fn api_name(self) -> &'static str {
        match self {
            BrokerDeployment::Single => "SINGLE_INSTANCE",
            BrokerDeployment::Cluster => "CLUSTER_MULTI_AZ",
        }
    }
}

/// A RabbitMQ broker in the data subnets, not publicly accessible, reachable only through its
/// security groups (AMQPS, 5671); its user's password is in a [`SecretSpec`](super::SecretSpec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqBrokerSpec {
    /// The broker name (1–50 characters: letters, digits, `-`, `_`).
    pub name: String,
    /// The RabbitMQ version, `major.minor` (`3.13`; `4.2` runs only on `mq.m7g` types).
    pub engine_version: String,
    /// The instance type (`mq.m5.large`).
    pub instance_type: String,
    /// Single node or cluster.
    pub deployment: BrokerDeployment,
    /// The data subnets it sits in, each in another zone (one for a single node).
    pub subnets: Vec<Ref<kind::Subnet>>,
    /// Its security groups (1 to 5); fixed at creation.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// The secret with the broker user's name and password. Amazon MQ takes one user at
    /// creation and never shows it again: the name 2–100 of letters, digits, `-`, `.`, `_`
    /// (not `guest`); the password at least 12 characters (Terraform also caps it at 250), at
    /// least 4 of them different, none of `,` `:` `=`.
    pub user: Ref<kind::Secret>,
    /// Deleting or replacing it is refused while on (kept in the tag
    /// [`TAG_DELETION_PROTECTION`](super::TAG_DELETION_PROTECTION): AWS has no such setting).
    pub deletion_protection: bool,
}

impl MqBrokerSpec {
    /// The broker name of a stack's broker: `<stack>-mq` (broker names are 1–50 characters).
    pub fn name_for(stack: &str) -> String {
        format!("{stack}-mq")
    }

    /// Field `broker_name`: a change replaces the resource.
    pub const BROKER_NAME: FieldDef = FieldDef::immutable("broker_name");
    /// Field `engine_type`: a change replaces the resource.
    pub const ENGINE_TYPE: FieldDef = FieldDef::immutable("engine_type");
    /// Field `engine_version`: changed in place (applied by a reboot). Read back as
    /// `major.minor`: AWS reports the patch it runs (`3.13.7`) and upgrades patches itself
    /// when auto minor version upgrade is on, which RabbitMQ 3.13 and later require.
    pub const ENGINE_VERSION: FieldDef = FieldDef::mutable("engine_version");
    /// Field `host_instance_type`: changed in place (applied by a reboot).
    pub const HOST_INSTANCE_TYPE: FieldDef = FieldDef::mutable("host_instance_type");
    /// Field `deployment_mode`: a change replaces the resource.
    pub const DEPLOYMENT_MODE: FieldDef = FieldDef::immutable("deployment_mode");
    /// Field `subnet_ids`: a change replaces the resource.
    pub const SUBNET_IDS: FieldDef = FieldDef::immutable("subnet_ids");
    /// Field `security_groups`: a change replaces the resource (AWS refuses to change a
    /// RabbitMQ broker's security groups: "Changing security groups is not supported for
    /// RabbitMQ brokers").
    pub const SECURITY_GROUPS: FieldDef = FieldDef::immutable("security_groups");
    /// Field `publicly_accessible`: a change replaces the resource.
    pub const PUBLICLY_ACCESSIBLE: FieldDef = FieldDef::immutable("publicly_accessible");
    /// Field `auto_minor_version_upgrade`: changed in place (no reboot needed). Always on:
    /// RabbitMQ 3.13 and later refuse it off.
    pub const AUTO_MINOR_VERSION_UPGRADE: FieldDef =
        FieldDef::mutable("auto_minor_version_upgrade");
    /// Field `user_secret`: set at creation only, never compared (AWS never shows passwords).
    pub const USER_SECRET: FieldDef = FieldDef::create_only("user_secret");
    /// Field `deletion_protection` (the tag): changed in place; read by the plan's refusals.
    pub const DELETION_PROTECTION: FieldDef = super::DELETION_PROTECTION;
    /// Output `endpoint`: `amqps://<host>:5671`.
    pub const OUT_ENDPOINT: &str = "endpoint";
    /// Output `host`: the AMQPS endpoint's host name.
    pub const OUT_HOST: &str = "host";
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
}

impl Kind for MqBrokerSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
        ResourceKind::Secret,
    ];
    // Messages not yet consumed.
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ENDPOINT, Self::OUT_HOST, Self::OUT_ARN];
    // About 20 minutes to create; a reboot after a change about 15.
    const TIMEOUT: Duration = minutes(60);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // CreateBroker takes a creator request id (a client token), and the name is unique.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::BROKER_NAME.of(self.name.as_str()),
            Self::ENGINE_TYPE.of("RABBITMQ"),
            Self::ENGINE_VERSION.of(self.engine_version.as_str()),
            Self::HOST_INSTANCE_TYPE.of(self.instance_type.as_str()),
            Self::DEPLOYMENT_MODE.of(self.deployment.api_name()),
            Self::SUBNET_IDS.of(refs(&self.subnets)),
            Self::SECURITY_GROUPS.of(refs(&self.security_groups)),
            Self::PUBLICLY_ACCESSIBLE.of(false),
            Self::AUTO_MINOR_VERSION_UPGRADE.of(true),
            Self::USER_SECRET.of(self.user.value()),
            Self::DELETION_PROTECTION.of(self.deletion_protection),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
