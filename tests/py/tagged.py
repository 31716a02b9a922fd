"""What is still tagged `mck:stack=STACK` in the region, as the Resource Groups Tagging API and
boto3 see it (not mck), leaving out what AWS itself keeps for a while after a delete, each
checked by describing it: terminated instances, stopped tasks, INACTIVE ECS services, clusters and task definitions,
deleted NAT gateways, secrets in their recovery window, and automated RDS snapshots (kept by
the emulator after their cluster is gone: docs/emulator.md). Prints a JSON list of ARNs.

usage: tagged.py STACK   (endpoint and credentials from the AWS_* environment)
"""
import json
import sys

import boto3

stack = sys.argv[1]
tagging = boto3.client("resourcegroupstaggingapi")
ecs = boto3.client("ecs")
ec2 = boto3.client("ec2")
secrets = boto3.client("secretsmanager")


def after_delete(arn):
    kind = arn.split(":")[2]
    resource = arn.split(":", 5)[5]
    if kind == "ecs":
        if resource.startswith("task/"):
            cluster = resource.split("/")[1]
            tasks = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
            return all(t["lastStatus"] == "STOPPED" for t in tasks)
        if resource.startswith("service/"):
            cluster = resource.split("/")[1]
            services = ecs.describe_services(cluster=cluster, services=[arn])["services"]
            return all(s["status"] == "INACTIVE" for s in services)
        if resource.startswith("cluster/"):
            return all(c["status"] == "INACTIVE" for c in ecs.describe_clusters(clusters=[arn])["clusters"])
        if resource.startswith("task-definition/"):
            return ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "INACTIVE"
    if kind == "ec2" and resource.startswith("instance/"):
        instance = resource.split("/")[1]
        reservations = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
        return all(i["State"]["Name"] == "terminated" for r in reservations for i in r["Instances"])
    if kind == "ec2" and resource.startswith("natgateway/"):
        gateway = resource.split("/")[1]
        states = [g["State"] for g in ec2.describe_nat_gateways(NatGatewayIds=[gateway])["NatGateways"]]
        return all(s == "deleted" for s in states)
    if kind == "secretsmanager":
        return "DeletedDate" in secrets.describe_secret(SecretId=arn)
    if kind == "rds" and resource.startswith("cluster-snapshot:rds:"):
        return True
    return False


left = []
for page in tagging.get_paginator("get_resources").paginate(
    TagFilters=[{"Key": "mck:stack", "Values": [stack]}]
):
    for mapping in page["ResourceTagMappingList"]:
        if not after_delete(mapping["ResourceARN"]):
            left.append(mapping["ResourceARN"])
json.dump(sorted(left), sys.stdout, indent=1)
