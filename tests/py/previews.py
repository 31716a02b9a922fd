"""Stacks' networks and databases as boto3 sees them (not mck), for the previews test: each
stack's VPC CIDR and tags, its Aurora cluster's tags and master secret, and the environment of
its frontend's php-fpm container (and its image, as IMAGE). Prints JSON.

usage: previews.py STACK...   (endpoint and credentials from the AWS_* environment)
"""
import json
import sys

import boto3

ec2 = boto3.client("ec2")
rds = boto3.client("rds")
ecs = boto3.client("ecs")


def frontend_env(stack):
    try:
        td = ecs.describe_task_definition(taskDefinition=f"{stack}-frontend")["taskDefinition"]
    except ecs.exceptions.ClientException:
        return None
    php = [c for c in td["containerDefinitions"] if c["name"] == "php-fpm"][0]
    return {"IMAGE": php["image"], **{e["name"]: e["value"] for e in php.get("environment", [])}}


out = {}
for stack in sys.argv[1:]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:mck:stack", "Values": [stack]}])["Vpcs"]
    clusters = [
        c for c in rds.describe_db_clusters()["DBClusters"] if c["DBClusterIdentifier"] == f"{stack}-db"
    ]
    out[stack] = {
        "cidrs": [v["CidrBlock"] for v in vpcs],
        "vpc_tags": {t["Key"]: t["Value"] for v in vpcs for t in v.get("Tags", [])},
        "frontend_env": frontend_env(stack),
        "db": None
        if not clusters
        else {
            "tags": {t["Key"]: t["Value"] for t in clusters[0].get("TagList", [])},
            "secret": clusters[0].get("MasterUserSecret", {}).get("SecretArn"),
            "instances": len(clusters[0].get("DBClusterMembers", [])),
            "clone_group": clusters[0].get("CloneGroupId"),
        },
    }
json.dump(out, sys.stdout, indent=1, sort_keys=True)
