"""Independent view of a stack's operations tier, read with boto3 (not with mck): its alarms,
the topic they notify with its subscriptions, its dashboard's graphs, each ECS service's
deployment alarms, the services' scalable targets and policies, and the AWS Backup vault, plan
and selection. Prints one JSON document.

usage: alarms.py STACK   (endpoint and credentials from the AWS_* environment)
"""
import json
import sys

import boto3

stack = sys.argv[1]
cloudwatch = boto3.client("cloudwatch")
sns = boto3.client("sns")
ecs = boto3.client("ecs")

out = {"alarms": [], "topic": None, "subscriptions": [], "dashboard": None, "deployment_alarms": {}}
for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"mck/{stack}/"):
    for alarm in page["MetricAlarms"]:
        tags = cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        out["alarms"].append({
            "name": alarm["AlarmName"],
            "arn": alarm["AlarmArn"],
            "metric": alarm.get("MetricName"),
            "namespace": alarm.get("Namespace"),
            "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
            "math": [m.get("Expression") or m["MetricStat"]["Metric"]["MetricName"] for m in alarm.get("Metrics", [])],
            "threshold": alarm["Threshold"],
            "comparison": alarm["ComparisonOperator"],
            "evaluation_periods": alarm["EvaluationPeriods"],
            "actions": alarm.get("AlarmActions", []),
            "ok_actions": alarm.get("OKActions", []),
            "tags": {t["Key"]: t["Value"] for t in tags},
        })
for page in sns.get_paginator("list_topics").paginate():
    for topic in page["Topics"]:
        arn = topic["TopicArn"]
        if arn.rsplit(":", 1)[-1] != f"{stack}-alarms":
            continue
        tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
        out["topic"] = {"arn": arn, "tags": {t["Key"]: t["Value"] for t in tags}}
        subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        out["subscriptions"] = sorted(f'{s["Protocol"]}:{s["Endpoint"]}' for s in subs)
try:
    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"mck-{stack}")["DashboardBody"])
    out["dashboard"] = [a for w in body["widgets"] for a in w["properties"].get("annotations", {}).get("alarms", [])]
except cloudwatch.exceptions.ResourceNotFound:
    pass
clusters = [c for c in ecs.list_clusters()["clusterArns"] if c.endswith(f"/{stack}-app")]
for cluster in clusters:
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    if arns:
        for service in ecs.describe_services(cluster=cluster, services=arns)["services"]:
            alarms = service.get("deploymentConfiguration", {}).get("alarms", {})
            out["deployment_alarms"][service["serviceName"]] = alarms.get("alarmNames", []) if alarms.get("enable") else []
scaling = boto3.client("application-autoscaling")
prefix = f"service/{stack}-app/"
out["scaling"] = {
    t["ResourceId"][len(prefix):]: {"min": t["MinCapacity"], "max": t["MaxCapacity"],
                                    "scale_in_suspended": t.get("SuspendedState", {}).get("DynamicScalingInSuspended", False),
                                    "policies": []}
    for t in scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    if t["ResourceId"].startswith(prefix)
}
for policy in scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]:
    app = policy["ResourceId"][len(prefix):]
    if policy["ResourceId"].startswith(prefix) and app in out["scaling"]:
        config = policy["TargetTrackingScalingPolicyConfiguration"]
        out["scaling"][app]["policies"].append({
            "name": policy["PolicyName"],
            "metric": config["PredefinedMetricSpecification"]["PredefinedMetricType"],
            "label": config["PredefinedMetricSpecification"].get("ResourceLabel"),
            "target": config["TargetValue"],
        })
backup = boto3.client("backup")
out["backup"] = None
vaults = [v for v in backup.list_backup_vaults()["BackupVaultList"] if v["BackupVaultName"] == f"mck-{stack}"]
plans = [p for p in backup.list_backup_plans()["BackupPlansList"] if p["BackupPlanName"] == f"mck-{stack}"]
if vaults or plans:
    out["backup"] = {"vault": None, "plans": []}
    if vaults:
        tags = backup.list_tags(ResourceArn=vaults[0]["BackupVaultArn"])["Tags"]
        out["backup"]["vault"] = {"name": vaults[0]["BackupVaultName"], "tags": tags}
    for plan in plans:
        got = backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]
        selections = []
        for listed in backup.list_backup_selections(BackupPlanId=plan["BackupPlanId"])["BackupSelectionsList"]:
            selection = backup.get_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=listed["SelectionId"])["BackupSelection"]
            selections.append({"name": selection["SelectionName"], "role": selection["IamRoleArn"], "resources": sorted(selection["Resources"])})
        out["backup"]["plans"].append({
            "tags": backup.list_tags(ResourceArn=plan["BackupPlanArn"])["Tags"],
            "rules": [{"schedule": r["ScheduleExpression"], "vault": r["TargetBackupVaultName"],
                       "delete_after_days": r.get("Lifecycle", {}).get("DeleteAfterDays")} for r in got["Rules"]],
            "selections": selections,
        })
json.dump(out, sys.stdout, indent=1, sort_keys=True)
