//! Security groups and their rules. Rules are read from the groups' own describe output (no
//! extra call) and identified by content: `<group>/<direction>/<protocol>/<ports>/<peer>`.

use std::collections::HashMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, SecurityGroup, UserIdGroupPair};
use mck_core::model::{
    Direction, LogicalId, ResourceKind, RulePeer, SecurityGroupRuleSpec, SecurityGroupSpec, Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{filter, owned_id, stack_filter, tag_spec};
use crate::error::sdk;

/// A rule as AWS stores it, one peer per rule.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    group: String,
    direction: Direction,
    protocol: String,
    from_port: i32,
    to_port: i32,
    peer: Peer,
}

#[derive(Debug, Clone, PartialEq)]
enum Peer {
    Cidr(String),
    Group(String),
}

impl Rule {
    fn cloud_id(&self) -> String {
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

    fn parse(cloud_id: &str) -> Result<Rule, ProviderError> {
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

    fn observe(&self, id: LogicalId) -> Observed {
        let o = Observed::new(id, ResourceKind::SecurityGroupRule, self.cloud_id())
            .with("security_group_id", Value::CloudId(self.group.clone()))
            .with("type", self.direction.as_str())
            .with("protocol", self.protocol.as_str())
            .with("from_port", i64::from(self.from_port))
            .with("to_port", i64::from(self.to_port));
        match &self.peer {
            Peer::Cidr(c) => o.with("cidr_block", c.as_str()),
            Peer::Group(g) => o.with("source_security_group_id", Value::CloudId(g.clone())),
        }
    }
}

/// Every rule of a group, one per peer (IPv4 ranges and groups; IPv6 and prefix lists are not
/// managed yet).
fn rules_of(group: &SecurityGroup) -> Vec<Rule> {
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

fn observe_group(id: LogicalId, group: &SecurityGroup) -> Observed {
    Observed::new(
        id,
        ResourceKind::SecurityGroup,
        group.group_id().unwrap_or_default(),
    )
    .with(
        "vpc_id",
        Value::CloudId(group.vpc_id().unwrap_or_default().to_string()),
    )
    .with("name", group.group_name().unwrap_or_default())
    .with("description", group.description().unwrap_or_default())
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut groups = Vec::new();
    let mut pages = ec2
        .describe_security_groups()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list security groups", e))?;
        groups.extend(
            page.security_groups()
                .iter()
                .filter_map(|g| Some((owned_id(g.tags(), stack)?, g.clone()))),
        );
    }
    let logical: HashMap<&str, &LogicalId> = groups
        .iter()
        .map(|(id, g)| (g.group_id().unwrap_or_default(), id))
        .collect();
    let mut out = Vec::new();
    for (id, group) in &groups {
        out.push(observe_group(id.clone(), group));
        for rule in rules_of(group) {
            let peer = match &rule.peer {
                Peer::Cidr(c) => c.clone(),
                Peer::Group(g) => logical
                    .get(g.as_str())
                    .map_or_else(|| g.clone(), |l| l.to_string()),
            };
            let rule_id = SecurityGroupRuleSpec::logical_id(
                id,
                rule.direction,
                &rule.protocol,
                rule.from_port,
                rule.to_port,
                &peer,
            );
            out.push(rule.observe(rule_id));
        }
    }
    Ok(out)
}

pub(super) async fn create(
    ec2: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &SecurityGroupSpec,
) -> Result<Observed, ProviderError> {
    let vpc = ctx.cloud_id(spec.vpc.id())?;
    let out = ec2
        .create_security_group()
        .group_name(&spec.group_name)
        .description(&spec.description)
        .vpc_id(vpc)
        .tag_specifications(tag_spec(ResourceType::SecurityGroup, ctx, id))
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!("create security group {id} ({})", spec.group_name),
                e,
            )
        })?;
    Ok(Observed::new(
        id.clone(),
        ResourceKind::SecurityGroup,
        out.group_id().unwrap_or_default(),
    )
    .with("vpc_id", Value::CloudId(vpc.to_string()))
    .with("name", spec.group_name.as_str())
    .with("description", spec.description.as_str()))
}

pub(super) async fn delete(ec2: &Client, live: &Observed) -> Result<(), ProviderError> {
    ec2.delete_security_group()
        .group_id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!("delete security group {} ({})", live.id, live.cloud_id),
                e,
            )
        })?;
    Ok(())
}

async fn describe(ec2: &Client, group_id: &str) -> Result<Option<SecurityGroup>, ProviderError> {
    let out = ec2
        .describe_security_groups()
        .filters(filter("group-id", group_id))
        .send()
        .await
        .map_err(|e| sdk(&format!("describe security group {group_id}"), e))?;
    Ok(out.security_groups().first().cloned())
}

pub(super) async fn poll(ec2: &Client, live: &Observed) -> Result<Readiness, ProviderError> {
    Ok(match describe(ec2, &live.cloud_id).await? {
        None => Readiness::Gone,
        Some(g) => Readiness::Ready(observe_group(live.id.clone(), &g)),
    })
}

pub(super) async fn create_rule(
    ec2: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &SecurityGroupRuleSpec,
) -> Result<Observed, ProviderError> {
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

pub(super) async fn delete_rule(ec2: &Client, live: &Observed) -> Result<(), ProviderError> {
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

pub(super) async fn poll_rule(ec2: &Client, live: &Observed) -> Result<Readiness, ProviderError> {
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
