"""Independent view of a stack, read with boto3 (not with mck): prints one JSON document.

usage: inventory.py STACK   (endpoint and credentials from the AWS_* environment)
"""
import json
import sys

import boto3

stack = sys.argv[1]
ec2 = boto3.client("ec2")
by_stack = [{"Name": "tag:mck:stack", "Values": [stack]}]


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def mck_id(resource):
    t = tags(resource)
    return t.get("mck:id") if t.get("mck:stack") == stack else None


out = {"vpcs": [], "subnets": [], "igws": [], "eips": [], "nats": [], "route_tables": [],
       "security_groups": [], "instances": []}

for vpc in ec2.describe_vpcs(Filters=by_stack)["Vpcs"]:
    attr = lambda name, key: ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=name)[key]["Value"]
    out["vpcs"].append({"id": vpc["VpcId"], "mck_id": mck_id(vpc), "cidr": vpc["CidrBlock"], "tags": tags(vpc),
                        "dns_support": attr("enableDnsSupport", "EnableDnsSupport"),
                        "dns_hostnames": attr("enableDnsHostnames", "EnableDnsHostnames")})
for s in ec2.describe_subnets(Filters=by_stack)["Subnets"]:
    out["subnets"].append({"id": s["SubnetId"], "mck_id": mck_id(s), "cidr": s["CidrBlock"], "vpc": s["VpcId"],
                           "az": s["AvailabilityZone"], "map_public_ip": s["MapPublicIpOnLaunch"]})
for g in ec2.describe_internet_gateways(Filters=by_stack)["InternetGateways"]:
    out["igws"].append({"id": g["InternetGatewayId"], "mck_id": mck_id(g),
                        "vpcs": [a["VpcId"] for a in g.get("Attachments", [])]})
for a in ec2.describe_addresses(Filters=by_stack)["Addresses"]:
    out["eips"].append({"id": a["AllocationId"], "mck_id": mck_id(a), "public_ip": a["PublicIp"],
                        "instance": a.get("InstanceId") or None})
# The emulator ignores tag filters on NAT gateways: check ownership here too.
for n in ec2.describe_nat_gateways(Filters=by_stack)["NatGateways"]:
    if mck_id(n) is not None and n["State"] in ("pending", "available"):
        out["nats"].append({"id": n["NatGatewayId"], "mck_id": mck_id(n), "subnet": n["SubnetId"], "state": n["State"],
                            "allocation": n["NatGatewayAddresses"][0].get("AllocationId")})
for t in ec2.describe_route_tables(Filters=by_stack)["RouteTables"]:
    out["route_tables"].append({
        "id": t["RouteTableId"], "mck_id": mck_id(t), "vpc": t["VpcId"],
        "routes": [{"dest": r.get("DestinationCidrBlock"), "gateway": r.get("GatewayId"), "nat": r.get("NatGatewayId")}
                   for r in t["Routes"] if r.get("GatewayId") != "local"],
        "subnets": sorted(a["SubnetId"] for a in t["Associations"] if a.get("SubnetId")),
    })
for g in ec2.describe_security_groups(Filters=by_stack)["SecurityGroups"]:
    def rules(perms):
        flat = []
        for p in perms:
            for r in p.get("IpRanges", []):
                flat.append({"protocol": p["IpProtocol"], "from": p.get("FromPort"), "to": p.get("ToPort"), "cidr": r["CidrIp"]})
            for r in p.get("UserIdGroupPairs", []):
                flat.append({"protocol": p["IpProtocol"], "from": p.get("FromPort"), "to": p.get("ToPort"), "group": r["GroupId"]})
        return flat
    out["security_groups"].append({"id": g["GroupId"], "mck_id": mck_id(g), "name": g["GroupName"], "vpc": g["VpcId"],
                                   "ingress": rules(g["IpPermissions"]), "egress": rules(g["IpPermissionsEgress"])})
for r in ec2.describe_instances(Filters=by_stack)["Reservations"]:
    for i in r["Instances"]:
        if i["State"]["Name"] in ("terminated", "shutting-down"):
            continue
        root = next((m["Ebs"]["VolumeId"] for m in i.get("BlockDeviceMappings", [])
                     if m["DeviceName"] == i.get("RootDeviceName")), None)
        encrypted = None
        if root:
            encrypted = ec2.describe_volumes(VolumeIds=[root])["Volumes"][0]["Encrypted"]
        out["instances"].append({
            "id": i["InstanceId"], "mck_id": mck_id(i), "state": i["State"]["Name"], "subnet": i.get("SubnetId"),
            "groups": sorted(g["GroupId"] for g in i.get("SecurityGroups", [])), "image": i["ImageId"],
            "http_tokens": i.get("MetadataOptions", {}).get("HttpTokens"), "root_encrypted": encrypted,
            "public_ip": i.get("PublicIpAddress"),
        })
json.dump(out, sys.stdout, indent=1, sort_keys=True)
