"""Independent view of a stack's releases, read with boto3 (not with mck): prints one JSON document.

usage: release.py STACK   (endpoint and credentials from the AWS_* environment)

- migrations: every task started by mck's migration (startedBy `mck-migrate`) in the stack's
  cluster: its task definition, launch type, subnets, public IP and container overrides;
- services: the task definition each service runs;
- revisions: per family, the ACTIVE revisions (ARN, images), newest first;
- record: the cluster's `mck:migrated` tag.
"""
import json
import sys

import boto3

stack = sys.argv[1]
ecs = boto3.client("ecs")
cluster = f"{stack}-app"
out = {"migrations": [], "services": {}, "revisions": {}, "record": None}

clusters = ecs.describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"]
if clusters and clusters[0]["status"] != "INACTIVE":
    tags = {t["key"]: t["value"] for t in clusters[0].get("tags", [])}
    out["record"] = tags.get("mck:migrated")
    arns = []
    for status in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=cluster, startedBy="mck-migrate", desiredStatus=status)["taskArns"]
    arns = sorted(set(arns))
    if arns:
        for task in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]:
            awsvpc = task.get("overrides", {})
            network = {}
            for attachment in task.get("attachments", []):
                for detail in attachment.get("details", []):
                    if detail["name"] == "subnetId":
                        network["subnet"] = detail["value"]
            out["migrations"].append({
                "arn": task["taskArn"],
                "task_definition": task["taskDefinitionArn"],
                "started_by": task.get("startedBy"),
                "launch_type": task.get("launchType"),
                "overrides": task.get("overrides", {}).get("containerOverrides", []),
                "subnet": network.get("subnet"),
                "created": str(task.get("createdAt", "")),
            })
    service_arns = ecs.list_services(cluster=cluster)["serviceArns"]
    if service_arns:
        for svc in ecs.describe_services(cluster=cluster, services=service_arns)["services"]:
            if svc["status"] == "ACTIVE":
                out["services"][svc["serviceName"]] = svc["taskDefinition"]

for family in ecs.list_task_definition_families(familyPrefix=f"{stack}-", status="ACTIVE")["families"]:
    revisions = []
    for arn in ecs.list_task_definitions(familyPrefix=family, status="ACTIVE", sort="DESC")["taskDefinitionArns"]:
        if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] != family:
            continue
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        revisions.append({"arn": arn, "revision": td["revision"],
                          "images": {c["name"]: c["image"] for c in td["containerDefinitions"]}})
    out["revisions"][family] = sorted(revisions, key=lambda r: -r["revision"])

json.dump(out, sys.stdout, indent=1, sort_keys=True)
