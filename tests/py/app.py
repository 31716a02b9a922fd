"""Independent view of a stack's app tier, read with boto3 (not with mck): prints one JSON document.

usage: app.py STACK   (endpoint and credentials from the AWS_* environment)
"""
import json
import sys
import urllib.parse

import boto3

stack = sys.argv[1]
iam = boto3.client("iam")
logs = boto3.client("logs")
ecs = boto3.client("ecs")


def document(doc):
    # boto3 decodes policy documents itself; the emulator may send them plain.
    if isinstance(doc, str):
        return json.loads(urllib.parse.unquote(doc))
    return doc


out = {"roles": [], "log_groups": [], "clusters": [], "task_definitions": [], "load_balancers": [],
       "target_groups": [], "services": [], "servers": {}}
elb = boto3.client("elbv2")
for role in iam.list_roles(PathPrefix=f"/mck/{stack}/")["Roles"]:
    name = role["RoleName"]
    attached = sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"])
    inline = {}
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        inline[policy] = document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
    trust = document(role["AssumeRolePolicyDocument"])
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
    out["roles"].append({"name": name, "arn": role["Arn"], "path": role["Path"], "managed": attached, "inline": inline,
                         "service": trust["Statement"][0]["Principal"]["Service"], "tags": tags})
for group in logs.describe_log_groups(logGroupNamePrefix=f"/mck/{stack}/")["logGroups"]:
    out["log_groups"].append({"name": group["logGroupName"], "retention": group.get("retentionInDays")})
arns = [a for a in ecs.list_clusters()["clusterArns"] if a.rsplit("/", 1)[-1].startswith(f"{stack}-")]
if arns:
    for c in ecs.describe_clusters(clusters=arns, include=["TAGS", "SETTINGS"])["clusters"]:
        if c["status"] == "INACTIVE":
            continue
        out["clusters"].append({"name": c["clusterName"], "status": c["status"],
                                "tags": {t["key"]: t["value"] for t in c.get("tags", [])}})
        if c.get("capacityProviders"):
            out["clusters"][-1]["capacity_providers"] = c["capacityProviders"]
            out["clusters"][-1]["default_strategy"] = [
                s["capacityProvider"] for s in c.get("defaultCapacityProviderStrategy", [])]
for family in ecs.list_task_definition_families(familyPrefix=f"{stack}-", status="ACTIVE")["families"]:
    td = ecs.describe_task_definition(taskDefinition=family, include=["TAGS"])
    d = td["taskDefinition"]
    if d.get("status") != "ACTIVE":
        continue
    out["task_definitions"].append({
        "family": d["family"], "arn": d["taskDefinitionArn"], "cpu": d.get("cpu"), "memory": d.get("memory"),
        "compatibilities": d.get("requiresCompatibilities"), "network_mode": d.get("networkMode"),
        "execution_role": d.get("executionRoleArn"), "task_role": d.get("taskRoleArn"),
        "tags": {t["key"]: t["value"] for t in td.get("tags", [])},
        "containers": [{
            "name": c["name"], "image": c["image"], "memory_reservation": c.get("memoryReservation"),
            "ports": [p["containerPort"] for p in c.get("portMappings", [])],
            "environment": {e["name"]: e["value"] for e in c.get("environment", [])},
            "secrets": {s["name"]: s["valueFrom"] for s in c.get("secrets", [])},
            "mounts": {m["sourceVolume"]: m["containerPath"] for m in c.get("mountPoints", [])},
            "log_group": c.get("logConfiguration", {}).get("options", {}).get("awslogs-group"),
            "command": c.get("command", []),
        } for c in d["containerDefinitions"]],
        "volumes": {v["name"]: v.get("efsVolumeConfiguration", {}) for v in d.get("volumes", [])},
    })
for lb in elb.describe_load_balancers()["LoadBalancers"]:
    if not lb["LoadBalancerName"].startswith(f"{stack}-"):
        continue
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    out["load_balancers"].append({
        "name": lb["LoadBalancerName"], "scheme": lb["Scheme"], "dns_name": lb["DNSName"],
        "subnets": sorted(z["SubnetId"] for z in lb["AvailabilityZones"]),
        "security_groups": sorted(lb.get("SecurityGroups", [])),
        "listeners": [{"port": l["Port"], "protocol": l["Protocol"],
                       "forward": [a["TargetGroupArn"] for a in l["DefaultActions"] if a["Type"] == "forward"],
                       "redirect": [a["RedirectConfig"] for a in l["DefaultActions"] if a["Type"] == "redirect"],
                       "certificates": [c["CertificateArn"] for c in l.get("Certificates") or []],
                       "ssl_policy": l.get("SslPolicy") if l["Protocol"] == "HTTPS" else None,
                       "rules": [{"priority": r["Priority"],
                                  "paths": [v for c in r["Conditions"] for v in
                                            (c.get("PathPatternConfig", {}).get("Values") or c.get("Values", []))],
                                  "forward": [a.get("TargetGroupArn") for a in r["Actions"]]}
                                 for r in elb.describe_rules(ListenerArn=l["ListenerArn"])["Rules"]
                                 if not r.get("IsDefault")]}
                      for l in listeners],
    })
for tg in elb.describe_target_groups()["TargetGroups"]:
    if not tg["TargetGroupName"].startswith(f"{stack}-"):
        continue
    out["target_groups"].append({
        "name": tg["TargetGroupName"], "arn": tg["TargetGroupArn"], "port": tg["Port"],
        "protocol": tg["Protocol"], "target_type": tg["TargetType"], "vpc": tg["VpcId"],
        "health_check": tg.get("HealthCheckPath"),
    })
    out["target_groups"][-1]["targets"] = [
        {"id": t["Target"]["Id"], "state": t["TargetHealth"]["State"]}
        for t in elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]]
if any(c["name"] == f"{stack}-app" for c in out["clusters"]):
    arns = ecs.list_services(cluster=f"{stack}-app")["serviceArns"]
    for i in range(0, len(arns), 10):
        for s in ecs.describe_services(cluster=f"{stack}-app", services=arns[i:i + 10], include=["TAGS"])["services"]:
            if s["status"] == "INACTIVE":
                continue
            net = s.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
            out["services"].append({
                "name": s["serviceName"], "status": s["status"], "desired": s["desiredCount"],
                "launch_type": s.get("launchType"), "task_definition": s["taskDefinition"],
                "load_balancers": s.get("loadBalancers", []),
                "deployment": {k: s.get("deploymentConfiguration", {}).get(k)
                               for k in ("minimumHealthyPercent", "maximumPercent")},
                "grace": s.get("healthCheckGracePeriodSeconds"),
                "subnets": sorted(net.get("subnets", [])), "security_groups": sorted(net.get("securityGroups", [])),
                "public_ip": net.get("assignPublicIp"),
                "tags": {t["key"]: t["value"] for t in s.get("tags", [])},
            })
# The app servers (capacity: ec2), when there are any.
asg = boto3.client("autoscaling")
ec2 = boto3.client("ec2")
groups = [g for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
          if g["AutoScalingGroupName"] == f"{stack}-app-servers"]
if groups:
    g = groups[0]
    out["servers"]["group"] = {
        "arn": g["AutoScalingGroupARN"], "min": g["MinSize"], "max": g["MaxSize"],
        "subnets": sorted(g["VPCZoneIdentifier"].split(",")),
        "template": g.get("LaunchTemplate", {}).get("LaunchTemplateName"),
        "template_version": g.get("LaunchTemplate", {}).get("Version"),
        "tags": {t["Key"]: [t["Value"], t["PropagateAtLaunch"]] for t in g.get("Tags", [])},
        "instances": len(g.get("Instances", [])),
    }
templates = ec2.describe_launch_templates(
    Filters=[{"Name": "launch-template-name", "Values": [f"{stack}-app-server"]}])["LaunchTemplates"]
if templates:
    t = templates[0]
    data = ec2.describe_launch_template_versions(
        LaunchTemplateId=t["LaunchTemplateId"], Versions=["$Default"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    image = ec2.describe_images(ImageIds=[data["ImageId"]])["Images"][0]
    import base64
    out["servers"]["template"] = {
        "image_name": image["Name"], "image_owner": image["OwnerId"], "instance_type": data.get("InstanceType"),
        "security_groups": data.get("SecurityGroupIds", []),
        "instance_profile": data.get("IamInstanceProfile", {}).get("Name"),
        "user_data": base64.b64decode(data.get("UserData", "")).decode(),
        "http_tokens": data.get("MetadataOptions", {}).get("HttpTokens"),
    }
for p in iam.list_instance_profiles(PathPrefix=f"/mck/{stack}/")["InstanceProfiles"]:
    if p["Path"] != f"/mck/{stack}/":  # the emulator ignores PathPrefix here
        continue
    out["servers"]["instance_profile"] = {"name": p["InstanceProfileName"],
                                          "roles": [r["RoleName"] for r in p["Roles"]]}
try:
    cps = ecs.describe_capacity_providers(capacityProviders=[f"mck-{stack}-app-servers"])["capacityProviders"]
except Exception:
    cps = []
for cp in cps:
    if cp.get("status") != "ACTIVE":
        continue
    provider = cp["autoScalingGroupProvider"]
    out["servers"]["capacity_provider"] = {
        "name": cp["name"], "group": provider["autoScalingGroupArn"],
        "managed_scaling": [provider.get("managedScaling", {}).get("status"),
                            provider.get("managedScaling", {}).get("targetCapacity")],
    }
json.dump(out, sys.stdout, indent=1, sort_keys=True)
