//! The network tier: VPC over the zones, public/private/data subnets, internet and NAT
//! gateways, route tables, security groups and their rules, the bastion.

use super::{Lowered, SECURITY_GROUPS, zone_suffix};
use crate::graph::Declared;
use crate::model::*;
use crate::stack::{NatMode, Stack};

/// VPC, subnets, gateways, routing, security groups and the bastion.
pub(super) fn lower(stack: &Stack, out: &mut Lowered) {
    let cfg = &stack.config;
    let net = &cfg.network;
    let mut add = |id: String, spec: ResourceSpec, at: Declared| {
        out.add(LogicalId::new(id), spec, at);
    };

    add(
        "vpc".into(),
        ResourceSpec::Vpc(VpcSpec {
            cidr: net.cidr.clone(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
        }),
        Declared::at(&["network", "cidr"]),
    );
    add(
        "igw".into(),
        ResourceSpec::InternetGateway(InternetGatewaySpec {
            vpc: Ref::new("vpc"),
        }),
        Declared::at(&["network", "cidr"]),
    );

    let tiers = net.tiers();
    for (tier, cidrs) in &tiers {
        for (zone, cidr) in net.zones.iter().zip(cidrs) {
            add(
                format!("subnet.{tier}.{}", zone_suffix(zone)),
                ResourceSpec::Subnet(SubnetSpec {
                    vpc: Ref::new("vpc"),
                    cidr: cidr.clone(),
                    zone: zone.clone(),
                    map_public_ip_on_launch: *tier == "public",
                }),
                Declared::at(&["network", "subnets", tier]),
            );
        }
    }

    // Public routing.
    add(
        "rt.public".into(),
        ResourceSpec::RouteTable(RouteTableSpec {
            vpc: Ref::new("vpc"),
        }),
        Declared::at(&["network", "nat"]),
    );
    let rt_public = LogicalId::new("rt.public");
    add(
        RouteSpec::logical_id(&rt_public, "0.0.0.0/0").to_string(),
        ResourceSpec::Route(RouteSpec {
            route_table: Ref::new("rt.public"),
            destination: "0.0.0.0/0".into(),
            target: RouteTarget::InternetGateway(Ref::new("igw")),
        }),
        Declared::at(&["network", "nat"]),
    );

    // NAT gateways.
    let nat_zones: Vec<&str> = match net.nat {
        NatMode::PerZone => net.zones.iter().map(|z| zone_suffix(z)).collect(),
        NatMode::Single => net
            .zones
            .first()
            .map(|z| zone_suffix(z))
            .into_iter()
            .collect(),
        NatMode::None => Vec::new(),
    };
    for z in &nat_zones {
        add(
            format!("eip.nat.{z}"),
            ResourceSpec::ElasticIp(ElasticIpSpec {
                instance: None,
                internet_gateway: Ref::new("igw"),
            }),
            Declared::at(&["network", "nat"]),
        );
        add(
            format!("nat.{z}"),
            ResourceSpec::NatGateway(NatGatewaySpec {
                subnet: Ref::new(format!("subnet.public.{z}")),
                eip: Ref::new(format!("eip.nat.{z}")),
            }),
            Declared::at(&["network", "nat"]),
        );
    }

    // Private routing: one table per zone, default route to that zone's NAT (or the single one).
    for zone in &net.zones {
        let z = zone_suffix(zone);
        let rt = format!("rt.private.{z}");
        add(
            rt.clone(),
            ResourceSpec::RouteTable(RouteTableSpec {
                vpc: Ref::new("vpc"),
            }),
            Declared::at(&["network", "nat"]),
        );
        let nat = if nat_zones.contains(&z) {
            Some(z)
        } else {
            nat_zones.first().copied()
        };
        if let Some(nat) = nat {
            add(
                RouteSpec::logical_id(&LogicalId::new(rt.clone()), "0.0.0.0/0").to_string(),
                ResourceSpec::Route(RouteSpec {
                    route_table: Ref::new(rt.clone()),
                    destination: "0.0.0.0/0".into(),
                    target: RouteTarget::NatGateway(Ref::new(format!("nat.{nat}"))),
                }),
                Declared::at(&["network", "nat"]),
            );
        }
        for (tier, table) in [
            ("public", "rt.public".to_string()),
            ("private", rt.clone()),
            ("data", rt.clone()),
        ] {
            let subnet = LogicalId::new(format!("subnet.{tier}.{z}"));
            add(
                RouteTableAssociationSpec::logical_id(&subnet).to_string(),
                ResourceSpec::RouteTableAssociation(RouteTableAssociationSpec {
                    route_table: Ref::new(table),
                    subnet: Ref::new(subnet.as_str()),
                }),
                Declared::at(&["network", "nat"]),
            );
        }
    }

    // Security groups and their rules.
    for (name, description, section) in SECURITY_GROUPS {
        add(
            format!("sg.{name}"),
            ResourceSpec::SecurityGroup(SecurityGroupSpec {
                vpc: Ref::new("vpc"),
                group_name: format!("{}-{name}", stack.name),
                description: format!("mck {}: {description}", stack.name),
            }),
            Declared::at(&[section]),
        );
    }
    // Each rule with the key it comes from: its group's section, or the SSH allow-list.
    let mut rules: Vec<(SecurityGroupRuleSpec, Declared)> = Vec::new();
    let ssh_cidrs = || Declared::at(&["bastion", "ssh_cidrs"]);
    let section_of = |group: &str| Declared::at(&[group_section(group)]);
    let tcp = |group: &str, port: i32, peer: RulePeer, description: &str| SecurityGroupRuleSpec {
        group: Ref::new(format!("sg.{group}")),
        direction: Direction::Ingress,
        protocol: "tcp".into(),
        from_port: port,
        to_port: port,
        peer,
        description: description.into(),
    };
    let from_group = |g: &str| RulePeer::Group(Ref::new(format!("sg.{g}")));
    let anywhere = || RulePeer::Cidr("0.0.0.0/0".into());
    rules.push((
        tcp("alb", 80, anywhere(), "HTTP from the internet"),
        section_of("alb"),
    ));
    rules.push((
        tcp("alb", 443, anywhere(), "HTTPS from the internet"),
        section_of("alb"),
    ));
    rules.push((
        tcp("app", 80, from_group("alb"), "HTTP from the load balancer"),
        section_of("app"),
    ));
    rules.push((
        tcp("app", 22, from_group("bastion"), "SSH from the bastion"),
        ssh_cidrs(),
    ));
    if let Some(bastion) = &cfg.bastion {
        for cidr in &bastion.ssh_cidrs {
            rules.push((
                tcp(
                    "bastion",
                    22,
                    RulePeer::Cidr(cidr.clone()),
                    "SSH from the allow-list",
                ),
                ssh_cidrs(),
            ));
        }
    }
    rules.push((
        tcp("db", 3306, from_group("app"), "MySQL from the app servers"),
        section_of("db"),
    ));
    rules.push((
        tcp("db", 3306, from_group("bastion"), "MySQL from the bastion"),
        section_of("db"),
    ));
    rules.push((
        tcp(
            "redis",
            6379,
            from_group("app"),
            "Redis from the app servers",
        ),
        section_of("redis"),
    ));
    rules.push((
        tcp("efs", 2049, from_group("app"), "NFS from the app servers"),
        section_of("efs"),
    ));
    for (name, _, section) in SECURITY_GROUPS {
        rules.push((
            SecurityGroupRuleSpec {
                group: Ref::new(format!("sg.{name}")),
                direction: Direction::Egress,
                protocol: "-1".into(),
                from_port: 0,
                to_port: 0,
                peer: anywhere(),
                description: String::new(),
            },
            Declared::at(&[section]),
        ));
    }
    for (rule, at) in rules {
        add(
            rule.own_logical_id().to_string(),
            ResourceSpec::SecurityGroupRule(rule),
            at,
        );
    }

    // Bastion.
    if let Some(bastion) = cfg.bastion.as_ref().filter(|b| b.enabled)
        && let Some(first_zone) = net.zones.first()
    {
        let z = zone_suffix(first_zone);
        add(
            "bastion".into(),
            ResourceSpec::Instance(InstanceSpec {
                subnet: Ref::new(format!("subnet.public.{z}")),
                security_groups: vec![Ref::new("sg.bastion")],
                instance_type: bastion.instance_type.clone(),
                ami: match &bastion.ami.id {
                    Some(id) => AmiSelector::Id(id.clone()),
                    None => AmiSelector::Lookup {
                        name_pattern: bastion.ami.name.clone(),
                        owner: bastion.ami.owner.clone(),
                    },
                },
                key_name: bastion.key_name.clone(),
                root_volume_gb: bastion.root_volume_gb,
                root_volume_encrypted: true,
                imdsv2_required: true,
            }),
            Declared::at(&["bastion"]),
        );
        add(
            "eip.bastion".into(),
            ResourceSpec::ElasticIp(ElasticIpSpec {
                instance: Some(Ref::new("bastion")),
                internet_gateway: Ref::new("igw"),
            }),
            Declared::at(&["bastion"]),
        );
    }
}

/// The stack section that a security group of [`SECURITY_GROUPS`] serves.
fn group_section(group: &str) -> &'static str {
    SECURITY_GROUPS
        .iter()
        .find(|(name, _, _)| *name == group)
        .map(|(_, _, section)| *section)
        .expect("the group is one of SECURITY_GROUPS")
}
