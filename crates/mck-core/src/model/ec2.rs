//! EC2 kinds of the network tier: VPC, subnets, gateways, routing, security groups, the bastion.

use super::Ref;
use super::{
    Field, FieldDef, Kind, LogicalId, RepeatedCreate, ReplacePolicy, ResourceKind, Value, kind,
    minutes, refs,
};
use std::time::Duration;

/// The VPC with DNS support and hostnames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcSpec {
    /// The IPv4 block.
    pub cidr: String,
    /// The Amazon DNS server answers in the VPC.
    pub enable_dns_support: bool,
    /// Instances get DNS host names.
    pub enable_dns_hostnames: bool,
}

impl VpcSpec {
    /// Field `cidr_block`: a change replaces the resource.
    pub const CIDR_BLOCK: FieldDef = FieldDef::immutable("cidr_block");
    /// Field `enable_dns_support`: changed in place.
    pub const ENABLE_DNS_SUPPORT: FieldDef = FieldDef::mutable("enable_dns_support");
    /// Field `enable_dns_hostnames`: changed in place.
    pub const ENABLE_DNS_HOSTNAMES: FieldDef = FieldDef::mutable("enable_dns_hostnames");
    /// Output `cidr_block`.
    pub const OUT_CIDR_BLOCK: &str = "cidr_block";
}

impl Kind for VpcSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_CIDR_BLOCK];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::FoundOnceVisible;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::CIDR_BLOCK.of(self.cidr.as_str()),
            Self::ENABLE_DNS_SUPPORT.of(self.enable_dns_support),
            Self::ENABLE_DNS_HOSTNAMES.of(self.enable_dns_hostnames),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A subnet in one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetSpec {
    /// The VPC.
    pub vpc: Ref<kind::Vpc>,
    /// The IPv4 block.
    pub cidr: String,
    /// The availability zone.
    pub zone: String,
    /// Instances launched here get a public IP.
    pub map_public_ip_on_launch: bool,
}

impl SubnetSpec {
    /// Field `vpc_id`: a change replaces the resource.
    pub const VPC_ID: FieldDef = FieldDef::immutable("vpc_id");
    /// Field `cidr_block`: a change replaces the resource.
    pub const CIDR_BLOCK: FieldDef = FieldDef::immutable("cidr_block");
    /// Field `availability_zone`: a change replaces the resource.
    pub const AVAILABILITY_ZONE: FieldDef = FieldDef::immutable("availability_zone");
    /// Field `map_public_ip_on_launch`: changed in place.
    pub const MAP_PUBLIC_IP_ON_LAUNCH: FieldDef = FieldDef::mutable("map_public_ip_on_launch");
    /// Output `cidr_block`.
    pub const OUT_CIDR_BLOCK: &str = "cidr_block";
    /// Output `availability_zone`.
    pub const OUT_AVAILABILITY_ZONE: &str = "availability_zone";
}

impl Kind for SubnetSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Vpc];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_AVAILABILITY_ZONE, Self::OUT_CIDR_BLOCK];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::FoundOnceVisible;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::VPC_ID.of(self.vpc.value()),
            Self::CIDR_BLOCK.of(self.cidr.as_str()),
            Self::AVAILABILITY_ZONE.of(self.zone.as_str()),
            Self::MAP_PUBLIC_IP_ON_LAUNCH.of(self.map_public_ip_on_launch),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// An internet gateway attached to the VPC (the attachment is part of the resource).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternetGatewaySpec {
    /// The VPC.
    pub vpc: Ref<kind::Vpc>,
}

impl InternetGatewaySpec {
    /// Field `vpc_id`: changed in place.
    pub const VPC_ID: FieldDef = FieldDef::mutable("vpc_id");
}

impl Kind for InternetGatewaySpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Vpc];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::FoundOnceVisible;

    fn fields(&self) -> Vec<Field> {
        vec![Self::VPC_ID.of(self.vpc.value())]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// An Elastic IP (for a NAT gateway or the bastion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElasticIpSpec {
    /// The instance the address is associated with; `None` for NAT gateway addresses.
    pub instance: Option<Ref<kind::Instance>>,
    /// Only for ordering: an address in a VPC needs the internet gateway attached first.
    pub internet_gateway: Ref<kind::InternetGateway>,
}

impl ElasticIpSpec {
    /// Field `instance_id`: changed in place.
    pub const INSTANCE_ID: FieldDef = FieldDef::mutable("instance_id");
    /// Output `public_ip`.
    pub const OUT_PUBLIC_IP: &str = "public_ip";
}

impl Kind for ElasticIpSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::Instance, ResourceKind::InternetGateway];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_PUBLIC_IP];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::FoundOnceVisible;

    fn fields(&self) -> Vec<Field> {
        vec![Self::INSTANCE_ID.of(self.instance.as_ref().map_or(Value::Null, Ref::value))]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        vec![self.internet_gateway.dependency()]
    }
}

/// A NAT gateway in a public subnet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatGatewaySpec {
    /// The subnet it sits in.
    pub subnet: Ref<kind::Subnet>,
    /// The Elastic IP it uses.
    pub eip: Ref<kind::ElasticIp>,
}

impl NatGatewaySpec {
    /// Field `subnet_id`: a change replaces the resource.
    pub const SUBNET_ID: FieldDef = FieldDef::immutable("subnet_id");
    /// Field `allocation_id`: a change replaces the resource.
    pub const ALLOCATION_ID: FieldDef = FieldDef::immutable("allocation_id");
    /// Output `public_ip`.
    pub const OUT_PUBLIC_IP: &str = "public_ip";
}

impl Kind for NatGatewaySpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Subnet, ResourceKind::ElasticIp];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_PUBLIC_IP];
    const TIMEOUT: Duration = minutes(15);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::SUBNET_ID.of(self.subnet.value()),
            Self::ALLOCATION_ID.of(self.eip.value()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A route table of the VPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTableSpec {
    /// The VPC.
    pub vpc: Ref<kind::Vpc>,
}

impl RouteTableSpec {
    /// Field `vpc_id`: a change replaces the resource.
    pub const VPC_ID: FieldDef = FieldDef::immutable("vpc_id");
}

impl Kind for RouteTableSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Vpc];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![Self::VPC_ID.of(self.vpc.value())]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// Where a route sends traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// The internet gateway.
    InternetGateway(Ref<kind::InternetGateway>),
    /// A NAT gateway.
    NatGateway(Ref<kind::NatGateway>),
}

/// A route in a route table. Not taggable: owned by being in a table of the stack; its logical
/// id is derived from table and destination ([`RouteSpec::logical_id`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// The route table.
    pub route_table: Ref<kind::RouteTable>,
    /// The destination CIDR block.
    pub destination: String,
    /// Where the route sends traffic.
    pub target: RouteTarget,
}

impl RouteSpec {
    /// Field `route_table_id`: a change replaces the resource.
    pub const ROUTE_TABLE_ID: FieldDef = FieldDef::immutable("route_table_id");
    /// Field `destination_cidr_block`: a change replaces the resource.
    pub const DESTINATION_CIDR_BLOCK: FieldDef = FieldDef::immutable("destination_cidr_block");
    /// Field `gateway_id`: changed in place.
    pub const GATEWAY_ID: FieldDef = FieldDef::mutable("gateway_id");
    /// Field `nat_gateway_id`: changed in place.
    pub const NAT_GATEWAY_ID: FieldDef = FieldDef::mutable("nat_gateway_id");

    /// The logical id of the route to `destination` in `route_table`.
    pub fn logical_id(route_table: &LogicalId, destination: &str) -> LogicalId {
        LogicalId::new(format!("{route_table}:{destination}"))
    }
}

impl Kind for RouteSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::RouteTable,
        ResourceKind::InternetGateway,
        ResourceKind::NatGateway,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::ROUTE_TABLE_ID.of(self.route_table.value()),
            Self::DESTINATION_CIDR_BLOCK.of(self.destination.as_str()),
            match &self.target {
                RouteTarget::InternetGateway(igw) => Self::GATEWAY_ID.of(igw.value()),
                RouteTarget::NatGateway(nat) => Self::NAT_GATEWAY_ID.of(nat.value()),
            },
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The association of a subnet with a route table. A subnet has exactly one, so the identity is
/// the subnet and the table is a mutable field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTableAssociationSpec {
    /// The route table.
    pub route_table: Ref<kind::RouteTable>,
    /// The subnet it sits in.
    pub subnet: Ref<kind::Subnet>,
}

impl RouteTableAssociationSpec {
    /// Field `subnet_id`: a change replaces the resource.
    pub const SUBNET_ID: FieldDef = FieldDef::immutable("subnet_id");
    /// Field `route_table_id`: changed in place.
    pub const ROUTE_TABLE_ID: FieldDef = FieldDef::mutable("route_table_id");

    /// The logical id of the subnet's association.
    pub fn logical_id(subnet: &LogicalId) -> LogicalId {
        LogicalId::new(format!("rta.{subnet}"))
    }
}

impl Kind for RouteTableAssociationSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::RouteTable, ResourceKind::Subnet];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::SUBNET_ID.of(self.subnet.value()),
            Self::ROUTE_TABLE_ID.of(self.route_table.value()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A security group of the VPC (its rules are resources of their own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupSpec {
    /// The VPC.
    pub vpc: Ref<kind::Vpc>,
    /// The AWS group name, `<stack>-<name>`.
    pub group_name: String,
    /// The description AWS shows.
    pub description: String,
}

impl SecurityGroupSpec {
    /// Field `vpc_id`: a change replaces the resource.
    pub const VPC_ID: FieldDef = FieldDef::immutable("vpc_id");
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `description`: a change replaces the resource.
    pub const DESCRIPTION: FieldDef = FieldDef::immutable("description");
}

impl Kind for SecurityGroupSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Vpc];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::VPC_ID.of(self.vpc.value()),
            Self::NAME.of(self.group_name.as_str()),
            Self::DESCRIPTION.of(self.description.as_str()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The direction of a security group rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Inbound.
    Ingress,
    /// Outbound.
    Egress,
}

impl Direction {
    /// The name used in messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The other side of a security group rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulePeer {
    /// An IPv4 block.
    Cidr(String),
    /// Another security group of the stack.
    Group(Ref<kind::SecurityGroup>),
}

/// One security group rule. Rules are identified by their content, so every field is immutable
/// and the logical id is derived from them ([`SecurityGroupRuleSpec::logical_id`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupRuleSpec {
    /// The security group the rule belongs to.
    pub group: Ref<kind::SecurityGroup>,
    /// Ingress or egress.
    pub direction: Direction,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    /// First port of the range.
    pub from_port: i32,
    /// Last port of the range.
    pub to_port: i32,
    /// Where the traffic comes from or goes to.
    pub peer: RulePeer,
    /// The description AWS shows.
    pub description: String,
}

impl SecurityGroupRuleSpec {
    /// Field `security_group_id`: a change replaces the resource.
    pub const SECURITY_GROUP_ID: FieldDef = FieldDef::immutable("security_group_id");
    /// Field `type`: a change replaces the resource.
    pub const TYPE: FieldDef = FieldDef::immutable("type");
    /// Field `protocol`: a change replaces the resource.
    pub const PROTOCOL: FieldDef = FieldDef::immutable("protocol");
    /// Field `from_port`: a change replaces the resource.
    pub const FROM_PORT: FieldDef = FieldDef::immutable("from_port");
    /// Field `to_port`: a change replaces the resource.
    pub const TO_PORT: FieldDef = FieldDef::immutable("to_port");
    /// Field `cidr_block`: a change replaces the resource.
    pub const CIDR_BLOCK: FieldDef = FieldDef::immutable("cidr_block");
    /// Field `source_security_group_id`: a change replaces the resource.
    pub const SOURCE_SECURITY_GROUP_ID: FieldDef = FieldDef::immutable("source_security_group_id");

    /// `sg.app/ingress/tcp/80-80/sg.alb`; the peer is a logical id or a CIDR or a foreign group id.
    pub fn logical_id(
        group: &LogicalId,
        direction: Direction,
        protocol: &str,
        from_port: i32,
        to_port: i32,
        peer: &str,
    ) -> LogicalId {
        let ports = if protocol == "-1" {
            "all".to_string()
        } else {
            format!("{from_port}-{to_port}")
        };
        let protocol = if protocol == "-1" { "all" } else { protocol };
        LogicalId::new(format!(
            "{group}/{}/{protocol}/{ports}/{peer}",
            direction.as_str()
        ))
    }

    /// This rule's logical id, derived from its content.
    pub fn own_logical_id(&self) -> LogicalId {
        let peer = match &self.peer {
            RulePeer::Cidr(cidr) => cidr.clone(),
            RulePeer::Group(group) => group.id().to_string(),
        };
        SecurityGroupRuleSpec::logical_id(
            self.group.id(),
            self.direction,
            &self.protocol,
            self.from_port,
            self.to_port,
            &peer,
        )
    }
}

impl Kind for SecurityGroupRuleSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::SecurityGroup];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::SECURITY_GROUP_ID.of(self.group.value()),
            Self::TYPE.of(self.direction.as_str()),
            Self::PROTOCOL.of(self.protocol.as_str()),
            Self::FROM_PORT.of(i64::from(self.from_port)),
            Self::TO_PORT.of(i64::from(self.to_port)),
            match &self.peer {
                RulePeer::Cidr(cidr) => Self::CIDR_BLOCK.of(cidr.as_str()),
                RulePeer::Group(group) => Self::SOURCE_SECURITY_GROUP_ID.of(group.value()),
            },
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// How an instance's image is chosen. A lookup is resolved at creation only: a newer image
/// published later does not replace a running instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmiSelector {
    /// A fixed image id.
    Id(String),
    /// The newest image whose name matches, looked up at creation.
    Lookup {
        /// An image name pattern (`*` wildcards).
        name_pattern: String,
        /// The image owner's account id.
        owner: String,
    },
}

/// An EC2 instance (the bastion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The subnet it sits in.
    pub subnet: Ref<kind::Subnet>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// The EC2 instance type.
    pub instance_type: String,
    /// How the image is chosen.
    pub ami: AmiSelector,
    /// An EC2 key pair for SSH, if any.
    pub key_name: Option<String>,
    /// Size of the root volume in GiB.
    pub root_volume_gb: i64,
    /// The root volume is encrypted.
    pub root_volume_encrypted: bool,
    /// Instance metadata only through IMDSv2 (session tokens).
    pub imdsv2_required: bool,
}

impl InstanceSpec {
    /// Field `subnet_id`: a change replaces the resource.
    pub const SUBNET_ID: FieldDef = FieldDef::immutable("subnet_id");
    /// Field `instance_type`: a change replaces the resource.
    pub const INSTANCE_TYPE: FieldDef = FieldDef::immutable("instance_type");
    /// Field `vpc_security_group_ids`: changed in place.
    pub const VPC_SECURITY_GROUP_IDS: FieldDef = FieldDef::mutable("vpc_security_group_ids");
    /// Field `key_name`: a change replaces the resource.
    pub const KEY_NAME: FieldDef = FieldDef::immutable("key_name");
    /// Field `root_volume_size`: a change replaces the resource.
    pub const ROOT_VOLUME_SIZE: FieldDef = FieldDef::immutable("root_volume_size");
    /// Field `root_volume_encrypted`: a change replaces the resource.
    pub const ROOT_VOLUME_ENCRYPTED: FieldDef = FieldDef::immutable("root_volume_encrypted");
    /// Field `metadata_http_tokens`: changed in place.
    pub const METADATA_HTTP_TOKENS: FieldDef = FieldDef::mutable("metadata_http_tokens");
    /// An image id given in the stack: a change replaces the instance.
    pub const AMI: FieldDef = FieldDef::immutable("ami");
    /// An image looked up at creation (`name pattern (owner)`): never compared, so a newer
    /// image published later does not replace a running instance.
    pub const AMI_LOOKUP: FieldDef = FieldDef::create_only("ami");
    /// Output `ami`.
    pub const OUT_AMI: &str = "ami";
    /// Output `private_ip`.
    pub const OUT_PRIVATE_IP: &str = "private_ip";
    /// Output `public_ip`.
    pub const OUT_PUBLIC_IP: &str = "public_ip";
}

impl Kind for InstanceSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::Subnet, ResourceKind::SecurityGroup];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] =
        &[Self::OUT_AMI, Self::OUT_PRIVATE_IP, Self::OUT_PUBLIC_IP];
    const TIMEOUT: Duration = minutes(15);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::SUBNET_ID.of(self.subnet.value()),
            Self::INSTANCE_TYPE.of(self.instance_type.as_str()),
            Self::VPC_SECURITY_GROUP_IDS.of(refs(&self.security_groups)),
            Self::KEY_NAME.of(self.key_name.as_deref()),
            Self::ROOT_VOLUME_SIZE.of(self.root_volume_gb),
            Self::ROOT_VOLUME_ENCRYPTED.of(self.root_volume_encrypted),
            Self::METADATA_HTTP_TOKENS.of(if self.imdsv2_required {
                "required"
            } else {
                "optional"
            }),
            match &self.ami {
                AmiSelector::Id(ami) => Self::AMI.of(ami.as_str()),
                AmiSelector::Lookup {
                    name_pattern,
                    owner,
                } => Self::AMI_LOOKUP.of(format!("{name_pattern} (owner {owner})")),
            },
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The launch template of the app servers, `<stack>-app-server`: the ECS-optimised image
/// (looked up at creation), the instance type, SG `app`, the instance profile, IMDSv2, and user
/// data that joins the stack's cluster. A change makes a new version, which becomes the
/// default that the Auto Scaling group launches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchTemplateSpec {
    /// The AWS name.
    pub name: String,
    /// The EC2 instance type.
    pub instance_type: String,
    /// How the image is chosen.
    pub ami: AmiSelector,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// The instance profile its instances run with.
    pub instance_profile: Ref<kind::InstanceProfile>,
    /// The cluster it belongs to.
    pub cluster: Ref<kind::EcsCluster>,
}

impl LaunchTemplateSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `instance_type`: changed in place.
    pub const INSTANCE_TYPE: FieldDef = FieldDef::mutable("instance_type");
    /// An image id given in the stack.
    pub const AMI: FieldDef = FieldDef::mutable("ami");
    /// An image looked up at creation: never compared (a newer image does not roll servers).
    pub const AMI_LOOKUP: FieldDef = FieldDef::create_only("ami");
    /// Field `security_group_ids`: changed in place.
    pub const SECURITY_GROUPS: FieldDef = FieldDef::mutable("security_group_ids");
    /// Field `instance_profile`: changed in place.
    pub const INSTANCE_PROFILE: FieldDef = FieldDef::mutable("instance_profile");
    /// The cluster the ECS agent joins (`ECS_CLUSTER=` in the user data).
    pub const ECS_CLUSTER: FieldDef = FieldDef::mutable("ecs_cluster");
    /// Field `metadata_http_tokens`: changed in place.
    pub const METADATA_HTTP_TOKENS: FieldDef = FieldDef::mutable("metadata_http_tokens");
    /// Output `id`.
    pub const OUT_ID: &str = "id";

    /// The user data script: the ECS agent's config file, which names the cluster.
    pub fn user_data(cluster: &str) -> String {
        format!("#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n")
    }

    /// The cluster named by [`Self::user_data`].
    pub fn cluster_of(user_data: &str) -> Option<&str> {
        user_data
            .split("ECS_CLUSTER=")
            .nth(1)?
            .split_whitespace()
            .next()
    }
}

impl Kind for LaunchTemplateSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::SecurityGroup,
        ResourceKind::InstanceProfile,
        ResourceKind::EcsCluster,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ID];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::INSTANCE_TYPE.of(self.instance_type.as_str()),
            match &self.ami {
                AmiSelector::Id(ami) => Self::AMI.of(ami.as_str()),
                AmiSelector::Lookup {
                    name_pattern,
                    owner,
                } => Self::AMI_LOOKUP.of(format!("{name_pattern} (owner {owner})")),
            },
            Self::SECURITY_GROUPS.of(refs(&self.security_groups)),
            Self::INSTANCE_PROFILE.of(self
                .instance_profile
                .output(super::InstanceProfileSpec::OUT_NAME)),
            Self::ECS_CLUSTER.of(self.cluster.output(super::EcsClusterSpec::OUT_NAME)),
            Self::METADATA_HTTP_TOKENS.of("required"),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
