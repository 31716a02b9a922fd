"""The secret values of a stack, read with boto3, so a test can look for them in mck's output:
the DB master password that RDS keeps in Secrets Manager, the crypt key, the apps' database
login (every version) and the generated logins of the search domain and the broker
(`mck/<stack>/…`), and the `secrets` and `environment`
of every task definition of the stack. Prints one JSON document.

usage: secret_values.py STACK  (not `secrets.py`: that name would shadow the standard library)
"""
import json
import sys

import boto3

stack = sys.argv[1]
rds = boto3.client("rds")
sm = boto3.client("secretsmanager")
ecs = boto3.client("ecs")
out = {"values": [], "task_definitions": []}
for c in rds.describe_db_clusters()["DBClusters"]:
    if not c["DBClusterIdentifier"].startswith(stack + "-"):
        continue
    arn = c.get("MasterUserSecret", {}).get("SecretArn")
    if arn:
        value = sm.get_secret_value(SecretId=arn)["SecretString"]
        out["values"].append(json.loads(value)["password"])
# The crypt key, the apps' database login (every version: a rotation keeps the old one) and
# the generated logins of the search domain and the broker.
for page in sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [f"mck/{stack}/"]}]):
    for secret in page["SecretList"]:
        versions = sm.list_secret_version_ids(SecretId=secret["ARN"])["Versions"]
        for version in versions:
            value = sm.get_secret_value(SecretId=secret["ARN"], VersionId=version["VersionId"])["SecretString"]
            password = json.loads(value)["password"]
            if password not in out["values"]:
                out["values"].append(password)
# What RunTask recorded of mck's one-off tasks: their commands, which must hold no value.
out["task_commands"] = []
for started_by in ("mck-db-login", "mck-install", "mck-migrate", "mck-cache-clean"):
    arns = []
    for status in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=f"{stack}-app", startedBy=started_by, desiredStatus=status)["taskArns"]
    if arns:
        for task in ecs.describe_tasks(cluster=f"{stack}-app", tasks=sorted(set(arns)))["tasks"]:
            for o in task.get("overrides", {}).get("containerOverrides", []):
                out["task_commands"].append(" ".join(o.get("command") or []))
for family in ecs.list_task_definition_families(familyPrefix=stack + "-", status="ACTIVE")["families"]:
    td = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    for c in td["containerDefinitions"]:
        out["task_definitions"].append({
            "family": family, "container": c["name"],
            "secrets": c.get("secrets", []),
            "environment": c.get("environment", []),
        })
print(json.dumps(out))
