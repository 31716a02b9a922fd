"""The one-off tasks mck started in a stack's cluster with `startedBy` STARTED_BY, read with
boto3 (not with mck): prints one JSON list, oldest first, each with its task definition family,
its container overrides' command and the task definition's containers (environment and
secrets as name -> value / valueFrom).

usage: tasks.py STACK STARTED_BY   (endpoint and credentials from the AWS_* environment)
"""
import json
import sys

import boto3

stack, started_by = sys.argv[1], sys.argv[2]
ecs = boto3.client("ecs")
cluster = f"{stack}-app"
arns = []
for status in ("RUNNING", "STOPPED"):
    arns += ecs.list_tasks(cluster=cluster, startedBy=started_by, desiredStatus=status)["taskArns"]
out = []
for task in ecs.describe_tasks(cluster=cluster, tasks=sorted(set(arns)))["tasks"] if arns else []:
    td = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
    out.append({
        "family": td["family"],
        "created": str(task.get("createdAt", "")),
        "overrides": task.get("overrides", {}).get("containerOverrides", []),
        "containers": {
            c["name"]: {
                "environment": {e["name"]: e["value"] for e in c.get("environment", [])},
                "secrets": {s["name"]: s["valueFrom"] for s in c.get("secrets", [])},
                "command": c.get("command", []),
            }
            for c in td["containerDefinitions"]
        },
    })
out.sort(key=lambda t: t["created"])
json.dump(out, sys.stdout, indent=1, sort_keys=True)
