//! Amazon OpenSearch Service: the catalog search engine Magento 2.4 needs, a domain in the VPC.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, kind,
    minutes, refs,
};

/// An OpenSearch domain in the data subnets: encrypted at rest and between nodes, HTTPS only
/// with a modern TLS policy, fine-grained access control with a master user whose password is
/// in a [`SecretSpec`](super::SecretSpec), reachable only through its security groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchDomainSpec {
    /// The domain name (3–28 characters, lowercase, starting with a letter).
    pub name: String,
    /// `OpenSearch_2.19`.
    pub engine_version: String,
    /// The data nodes' instance type (`r6g.large.search`).
    pub instance_type: String,
    /// How many data nodes.
    pub instance_count: i64,
    /// How many zones the nodes spread over (1: zone awareness off).
    pub zone_count: i64,
    /// Dedicated master nodes (0: none; else 3 or 5).
    pub dedicated_masters: i64,
    /// The master nodes' instance type.
    pub master_instance_type: String,
    /// The EBS volume per data node, in GiB (gp3).
    pub volume_gb: i64,
    /// One data subnet per zone used.
    pub subnets: Vec<Ref<kind::Subnet>>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// The TLS policy HTTPS endpoints enforce.
    pub tls_policy: String,
    /// The secret with the master user's name and password.
    pub master_user: Ref<kind::Secret>,
    /// Deleting or replacing it is refused while on (kept in the tag
    /// [`TAG_DELETION_PROTECTION`](super::TAG_DELETION_PROTECTION): AWS has no such setting).
    pub deletion_protection: bool,
}

impl SearchDomainSpec {
    /// The domain name of a stack's domain: `<stack>-search` (stack names have at most 20
    /// characters, so it fits in 28; stack validation checks the rest with
    /// [`Self::is_valid_name`]).
    pub fn name_for(stack: &str) -> String {
        format!("{stack}-search")
    }

    /// The TLS policy of the HTTPS endpoint: TLS 1.2 at least, with perfect forward secrecy.
    pub const TLS_POLICY: &str = "Policy-Min-TLS-1-2-PFS-2023-10";

    /// Whether AWS accepts `name` as a domain name: 3–28 lowercase letters, digits or dashes,
    /// starting with a letter.
    pub fn is_valid_name(name: &str) -> bool {
        (3..=28).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    /// How many zones `instances` data nodes spread over in a network of `n_zones`: up to three
    /// (OpenSearch's zone awareness), never more than the nodes.
    pub fn zone_count_for(instances: i64, n_zones: usize) -> i64 {
        let zones = i64::try_from(n_zones.min(3)).unwrap_or(3).max(1);
        instances.clamp(1, zones)
    }

    /// Field `domain_name`: a change replaces the resource.
    pub const DOMAIN_NAME: FieldDef = FieldDef::immutable("domain_name");
    /// Field `engine_version`: changed in place (an upgrade, blue/green).
    pub const ENGINE_VERSION: FieldDef = FieldDef::mutable("engine_version");
    /// Field `instance_type`: changed in place (blue/green).
    pub const INSTANCE_TYPE: FieldDef = FieldDef::mutable("instance_type");
    /// Field `instance_count`: changed in place (blue/green).
    pub const INSTANCE_COUNT: FieldDef = FieldDef::mutable("instance_count");
    /// Field `zone_count`: changed in place (blue/green).
    pub const ZONE_COUNT: FieldDef = FieldDef::mutable("zone_count");
    /// Field `dedicated_master_count`: changed in place (blue/green).
    pub const DEDICATED_MASTER_COUNT: FieldDef = FieldDef::mutable("dedicated_master_count");
    /// Field `dedicated_master_type`: changed in place (blue/green).
    pub const DEDICATED_MASTER_TYPE: FieldDef = FieldDef::mutable("dedicated_master_type");
    /// Field `volume_size`: changed in place.
    pub const VOLUME_SIZE: FieldDef = FieldDef::mutable("volume_size");
    /// Field `subnet_ids`: changed in place.
    pub const SUBNET_IDS: FieldDef = FieldDef::mutable("subnet_ids");
    /// Field `security_group_ids`: changed in place.
    pub const SECURITY_GROUP_IDS: FieldDef = FieldDef::mutable("security_group_ids");
    /// Field `encrypt_at_rest`: a change replaces the resource.
    pub const ENCRYPT_AT_REST: FieldDef = FieldDef::immutable("encrypt_at_rest");
    /// Field `node_to_node_encryption`: a change replaces the resource.
    pub const NODE_TO_NODE_ENCRYPTION: FieldDef = FieldDef::immutable("node_to_node_encryption");
    /// Field `enforce_https`: changed in place.
    pub const ENFORCE_HTTPS: FieldDef = FieldDef::mutable("enforce_https");
    /// Field `tls_security_policy`: changed in place.
    pub const TLS_SECURITY_POLICY: FieldDef = FieldDef::mutable("tls_security_policy");
    /// Field `fine_grained_access_control`: a change replaces the resource.
    pub const FINE_GRAINED_ACCESS_CONTROL: FieldDef =
        FieldDef::immutable("fine_grained_access_control");
    /// Field `master_user_secret`: set at creation only, never compared (AWS does not say who
    /// the master user is).
    pub const MASTER_USER_SECRET: FieldDef = FieldDef::create_only("master_user_secret");
    /// Field `deletion_protection` (the tag): changed in place; read by the plan's refusals.
    pub const DELETION_PROTECTION: FieldDef = super::DELETION_PROTECTION;
    /// Output `endpoint`: the VPC endpoint's host name.
    pub const OUT_ENDPOINT: &str = "endpoint";
    /// Output `arn`.
    pub const OUT_ARN: &str = "arn";
    /// Output `account`: the account id, the `ClientId` dimension of the domain's metrics.
    pub const OUT_ACCOUNT: &str = "account";

    /// The account of an ARN (`arn:aws:es:<region>:<account>:domain/<name>`).
    pub fn account_of(arn: &str) -> &str {
        arn.split(':').nth(4).unwrap_or_default()
    }
}

impl Kind for SearchDomainSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::Subnet,
        ResourceKind::SecurityGroup,
        ResourceKind::Secret,
    ];
    // The catalog index (rebuilt by a reindex, but a store without it serves no search).
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] =
        &[Self::OUT_ENDPOINT, Self::OUT_ARN, Self::OUT_ACCOUNT];
    // 15–30 minutes to create; a blue/green change of a large domain takes longer.
    const TIMEOUT: Duration = minutes(90);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    // The name is unique. CreateDomain of a name in use may replace that domain rather than
    // fail, so the driver reads the name first; a domain found there (or answering "already
    // exists") is adopted when its tags say it is ours.
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::DOMAIN_NAME.of(self.name.as_str()),
            Self::ENGINE_VERSION.of(self.engine_version.as_str()),
            Self::INSTANCE_TYPE.of(self.instance_type.as_str()),
            Self::INSTANCE_COUNT.of(self.instance_count),
            Self::ZONE_COUNT.of(self.zone_count),
            Self::DEDICATED_MASTER_COUNT.of(self.dedicated_masters),
            Self::DEDICATED_MASTER_TYPE.of(if self.dedicated_masters > 0 {
                self.master_instance_type.as_str()
            } else {
                ""
            }),
            Self::VOLUME_SIZE.of(self.volume_gb),
            Self::SUBNET_IDS.of(refs(&self.subnets)),
            Self::SECURITY_GROUP_IDS.of(refs(&self.security_groups)),
            Self::ENCRYPT_AT_REST.of(true),
            Self::NODE_TO_NODE_ENCRYPTION.of(true),
            Self::ENFORCE_HTTPS.of(true),
            Self::TLS_SECURITY_POLICY.of(self.tls_policy.as_str()),
            Self::FINE_GRAINED_ACCESS_CONTROL.of(true),
            Self::MASTER_USER_SECRET.of(self.master_user.value()),
            Self::DELETION_PROTECTION.of(self.deletion_protection),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_of_lowercase_stacks_are_valid_and_the_others_are_refused() {
        for stack in ["a", "dev", "pr-123", "abcdefghijklmnopqrst"] {
            assert!(
                SearchDomainSpec::is_valid_name(&SearchDomainSpec::name_for(stack)),
                "{stack}"
            );
        }
        for stack in ["Prod", "1shop"] {
            assert!(
                !SearchDomainSpec::is_valid_name(&SearchDomainSpec::name_for(stack)),
                "{stack}"
            );
        }
    }

    #[test]
    fn nodes_spread_over_at_most_three_zones_and_never_more_than_the_nodes() {
        assert_eq!(SearchDomainSpec::zone_count_for(1, 3), 1);
        assert_eq!(SearchDomainSpec::zone_count_for(2, 3), 2);
        assert_eq!(SearchDomainSpec::zone_count_for(6, 3), 3);
        assert_eq!(SearchDomainSpec::zone_count_for(6, 4), 3);
        assert_eq!(SearchDomainSpec::zone_count_for(3, 1), 1);
    }
}
