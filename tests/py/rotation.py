"""Independent view of a stack's database login rotation, read with boto3 (not with mck): prints
one JSON document. Never a password.

usage: rotation.py STACK [FILE]   (endpoint and credentials from the AWS_* environment)

- secret: the user of the version under each stage of `mck/STACK/db-app`, and its tags;
- tasks: every task started by mck's login job (startedBy `mck-db-login`): its task definition
  family and its container overrides' command;
- services: per service, its task definition and its deployments' ids;
- leaked (with FILE): whether the password of any version of the login appears in FILE.
"""
import json
import sys

import boto3

stack = sys.argv[1]
ecs = boto3.client("ecs")
sm = boto3.client("secretsmanager")
cluster = f"{stack}-app"
name = f"mck/{stack}/db-app"
out = {"secret": {"users": {}, "tags": {}}, "tasks": [], "services": {}}
text = open(sys.argv[2], encoding="utf-8", errors="replace").read() if len(sys.argv) > 2 else None
passwords = []

described = sm.describe_secret(SecretId=name)
out["secret"]["tags"] = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
for version, stages in described.get("VersionIdsToStages", {}).items():
    value = json.loads(sm.get_secret_value(SecretId=name, VersionId=version)["SecretString"])
    passwords.append(value["password"])
    for stage in stages:
        out["secret"]["users"][stage] = value["username"]

arns = []
for status in ("RUNNING", "STOPPED"):
    arns += ecs.list_tasks(cluster=cluster, startedBy="mck-db-login", desiredStatus=status)["taskArns"]
arns = sorted(set(arns))
if arns:
    for task in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]:
        family = task["taskDefinitionArn"].rsplit("/", 1)[-1].rsplit(":", 1)[0]
        commands = [o.get("command") for o in task.get("overrides", {}).get("containerOverrides", [])]
        out["tasks"].append({"family": family, "command": commands[0] if commands else None,
                             "created": str(task.get("createdAt", ""))})
out["tasks"].sort(key=lambda t: t["created"])

service_arns = ecs.list_services(cluster=cluster)["serviceArns"]
if service_arns:
    for svc in ecs.describe_services(cluster=cluster, services=service_arns)["services"]:
        if svc["status"] == "ACTIVE":
            out["services"][svc["serviceName"]] = {
                "task_definition": svc["taskDefinition"],
                "deployments": sorted(d["id"] for d in svc.get("deployments", [])),
            }

if text is not None:
    out["leaked"] = any(p and p in text for p in passwords)

json.dump(out, sys.stdout, indent=1, sort_keys=True)
