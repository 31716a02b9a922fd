use super::security_group::describe;
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{IpPermission, IpRange, SecurityGroup, UserIdGroupPair};
use mck_core::model::{Direction, LogicalId, ResourceKind, RulePeer, SecurityGroupRuleSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

/// A rule as AWS stores it, one peer per rule.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rule {
    pub(super) group: String,
    pub(super) direction: Direction,
    pub(super) protocol: String,
    pub(super) from_port: i32,
    pub(super) to_port: i32,
    pub(super) peer: Peer,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Peer {
    Cidr(String),
    Group(String),
}

impl Rule {
    pub(super) fn cloud_id(&self) -> String {
        let peer = match &self.peer {
            Peer::Cidr(c) => format!("cidr:{c}"),
            Peer::Group(g) => format!("sg:{g}"),
        };
        format!(
            "{}|{}|{}|{}|{}|{peer}",
            self.group,
            self.direction.as_str(),
            self.protocol,
            self.from_port,
            self.to_port
        )
    }

    pub(super) fn parse(cloud_id: &str) -> Result<Rule, ProviderError> {
        let bad =
            || ProviderError::invalid(format!("internal error: malformed rule id {cloud_id}"));
        let parts: Vec<&str> = cloud_id.split('|').collect();
        let [group, direction, protocol, from, to, peer] = parts[..] else {
            return Err(bad());
        };
        Ok(Rule {
            group: group.to_string(),
            direction: if direction == "egress" {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            protocol: protocol.to_string(),
            from_port: from.parse().map_err(|_| bad())?,
            to_port: to.parse().map_err(|_| bad())?,
            peer: match peer.split_once(':') {
                Some(("cidr", c)) => Peer::Cidr(c.to_string()),
                Some(("sg", g)) => Peer::Group(g.to_string()),
                _ => return Err(bad()),
            },
        })
    }

    fn permission(&self, description: Option<&str>) -> IpPermission {
        let mut perm = IpPermission::builder().ip_protocol(&self.protocol);
        if self.protocol != "-1" {
            perm = perm.from_port(self.from_port).to_port(self.to_port);
        }
        match &self.peer {
            Peer::Cidr(cidr) => {
                let mut range = IpRange::builder().cidr_ip(cidr);
                if let Some(d) = description.filter(|d| !d.is_empty()) {
                    range = range.description(d);
                }
                perm.ip_ranges(range.build()).build()
            }
            Peer::Group(group) => {
                let mut pair = UserIdGroupPair::builder().group_id(group);
                if let Some(d) = description.filter(|d| !d.is_empty()) {
                    pair = pair.description(d);
                }
                perm.user_id_group_pairs(pair.build()).build()
            }
        }
    }

    pub(super) fn observe(&self, id: LogicalId) -> Observed {
        let o = Observed::new(id, ResourceKind::SecurityGroupRule, self.cloud_id())
            .with(
                SecurityGroupRuleSpec::SECURITY_GROUP_ID,
                Value::CloudId(self.group.clone()),
            )
            .with(SecurityGroupRuleSpec::TYPE, self.direction.as_str())
            .with(SecurityGroupRuleSpec::PROTOCOL, self.protocol.as_str())
            .with(SecurityGroupRuleSpec::FROM_PORT, i64::from(self.from_port))
            .with(SecurityGroupRuleSpec::TO_PORT, i64::from(self.to_port));
        match &self.peer {
            Peer::Cidr(c) => o.with(SecurityGroupRuleSpec::CIDR_BLOCK, c.as_str()),
            Peer::Group(g) => o.with(
                SecurityGroupRuleSpec::SOURCE_SECURITY_GROUP_ID,
                Value::CloudId(g.clone()),
            ),
        }
    }
}

/// Every rule of a group, one per peer (IPv4 ranges and groups; IPv6 and prefix lists are not
/// managed yet).
pub(super) fn rules_of(group: &SecurityGroup) -> Vec<Rule> {
    let group_id = group.group_id().unwrap_or_default();
    let mut out = Vec::new();
    for (direction, perms) in [
        (Direction::Ingress, group.ip_permissions()),
        (Direction::Egress, group.ip_permissions_egress()),
    ] {
        for perm in perms {
            let protocol = perm.ip_protocol().unwrap_or("-1").to_string();
            let (from_port, to_port) = if protocol == "-1" {
                (0, 0)
            } else {
                (perm.from_port().unwrap_or(0), perm.to_port().unwrap_or(0))
            };
            let base = |peer| Rule {
                group: group_id.to_string(),
                direction,
                protocol: protocol.clone(),
                from_port,
                to_port,
                peer,
            };
            out.extend(
                perm.ip_ranges()
                    .iter()
                    .filter_map(|r| Some(base(Peer::Cidr(r.cidr_ip()?.to_string())))),
            );
            out.extend(
                perm.user_id_group_pairs()
                    .iter()
                    .filter_map(|p| Some(base(Peer::Group(p.group_id()?.to_string())))),
            );
        }
    }
    out
}

impl Driver for SecurityGroupRuleSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let rule = Rule {
            group: ctx.cloud_id(spec.group.id())?.to_string(),
            direction: spec.direction,
            protocol: spec.protocol.clone(),
            from_port: if spec.protocol == "-1" {
                0
            } else {
                spec.from_port
            },
            to_port: if spec.protocol == "-1" {
                0
            } else {
                spec.to_port
            },
            peer: match &spec.peer {
                RulePeer::Cidr(c) => Peer::Cidr(c.clone()),
                RulePeer::Group(g) => Peer::Group(ctx.cloud_id(g.id())?.to_string()),
            },
        };
        let permission = rule.permission(Some(&spec.description));
        let what = format!("authorize rule {id}");
        // Already there is success: AWS adds the allow-all egress rule to every new group, and a
        // create retried after a crash finds its own rule.
        let duplicate = |code: Option<&str>| code == Some("InvalidPermission.Duplicate");
        match spec.direction {
            Direction::Ingress => match ec2
                .authorize_security_group_ingress()
                .group_id(&rule.group)
                .ip_permissions(permission)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if duplicate(e.code()) => {}
                Err(e) => return Err(sdk(&what, e)),
            },
            Direction::Egress => match ec2
                .authorize_security_group_egress()
                .group_id(&rule.group)
                .ip_permissions(permission)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if duplicate(e.code()) => {}
                Err(e) => return Err(sdk(&what, e)),
            },
        }
        Ok(rule.observe(id.clone()))
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(live.kind))
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        let rule = Rule::parse(&live.cloud_id)?;
        let what = format!("revoke rule {}", live.id);
        match rule.direction {
            Direction::Ingress => ec2
                .revoke_security_group_ingress()
                .group_id(&rule.group)
                .ip_permissions(rule.permission(None))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk(&what, e)),
            Direction::Egress => ec2
                .revoke_security_group_egress()
                .group_id(&rule.group)
                .ip_permissions(rule.permission(None))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk(&what, e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let rule = Rule::parse(&live.cloud_id)?;
        let Some(group) = describe(ec2, &rule.group).await? else {
            return Ok(Readiness::Gone);
        };
        Ok(if rules_of(&group).contains(&rule) {
            Readiness::Ready(live.clone())
        } else {
            Readiness::Gone
        })
    }
}
