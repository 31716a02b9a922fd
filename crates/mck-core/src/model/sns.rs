//! SNS kinds of the alarms: the stack's topic and its e-mail subscriptions.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, kind,
    minutes,
};

/// The topic the stack's alarms notify, `<stack>-alarms`. `CreateTopic` returns the existing
/// topic of the name, so the name is the identity; the tags say it is the stack's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    /// The AWS name.
    pub name: String,
}

impl TopicSpec {
    /// The logical id.
    pub const ID: &str = "alarms.topic";
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";

    /// `<stack>-alarms`.
    pub fn name(stack: &str) -> String {
        format!("{stack}-alarms")
    }
}

impl Kind for TopicSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ARN];
    const TIMEOUT: Duration = minutes(2);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // CreateTopic is idempotent by name.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![Self::NAME.of(self.name.as_str())]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// One address the topic mails. AWS sends it a confirmation first; until someone follows the
/// link the subscription is *pending confirmation*, which is not drift: mck cannot confirm it,
/// and AWS lets nobody remove a pending subscription (it expires unconfirmed after three days,
/// or goes with its topic). Owned through its topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// The topic.
    pub topic: Ref<kind::Topic>,
    /// `email`.
    pub protocol: String,
    /// The address.
    pub endpoint: String,
}

impl SubscriptionSpec {
    /// Field `topic`: a change replaces the resource.
    pub const TOPIC: FieldDef = FieldDef::immutable("topic");
    /// Field `protocol`: a change replaces the resource.
    pub const PROTOCOL: FieldDef = FieldDef::immutable("protocol");
    /// Field `endpoint`: a change replaces the resource.
    pub const ENDPOINT: FieldDef = FieldDef::immutable("endpoint");
    /// Output `pending`: `true` until the address confirms (never compared).
    pub const OUT_PENDING: &str = "pending";
    /// The subscription ARN AWS lists for a subscription pending confirmation.
    pub const PENDING_ARN: &str = "PendingConfirmation";

    /// `alarms.<protocol>/<endpoint>`.
    pub fn logical_id(protocol: &str, endpoint: &str) -> LogicalId {
        LogicalId::new(format!("alarms.{protocol}/{endpoint}"))
    }
}

impl Kind for SubscriptionSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Topic];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_PENDING];
    const TIMEOUT: Duration = minutes(2);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // Subscribe returns the existing subscription of the same topic, protocol and endpoint.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::TOPIC.of(self.topic.value()),
            Self::PROTOCOL.of(self.protocol.as_str()),
            Self::ENDPOINT.of(self.endpoint.as_str()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
