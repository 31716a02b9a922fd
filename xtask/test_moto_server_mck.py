"""Tests of moto_server_mck.py's patches: each asserts what the AWS API reference documents for
the behaviour its patch adds, so each fails without its patch (`MCK_MOTO_UNPATCHED=1` runs them
on moto as shipped, to see that). In-process moto (`mock_aws`), same models as the server.

Run: .venv/bin/python -m unittest discover -s xtask -p 'test_*.py'   (cargo xtask test runs it)
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto import mock_aws  # noqa: E402

import moto_server_mck  # noqa: E402

REGION = "us-east-1"


def setUpModule():  # noqa: N802 (unittest's name)
    # In-process only: no endpoint, profile or real credentials from the caller's environment.
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    if os.environ.get("MCK_MOTO_UNPATCHED") != "1":
        moto_server_mck.apply_patches()
    moto_server_mck.DELETING_SECONDS = 0.05


def client(name):
    return boto3.client(name, region_name=REGION)


def network():
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    return subnets, group


@mock_aws
class CreateServiceKeepsItsSettings(unittest.TestCase):
    """ECS CreateService: `deploymentConfiguration` (with its deployment `alarms`),
    `healthCheckGracePeriodSeconds`, `capacityProviderStrategy` and `enableExecuteCommand` are
    kept and described (API reference, CreateService / Service)."""

    def test_describe_services_returns_what_create_service_set(self):
        subnets, group = network()
        ecs = client("ecs")
        ecs.create_cluster(clusterName="app")
        ecs.register_task_definition(
            family="web",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "web", "image": "nginx", "essential": True}],
        )
        deployment = {
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "alarms": {"alarmNames": ["web-5xx"], "enable": True, "rollback": True},
        }
        strategy = [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
        ecs.create_service(
            cluster="app",
            serviceName="web",
            taskDefinition="web",
            desiredCount=1,
            deploymentConfiguration=deployment,
            healthCheckGracePeriodSeconds=60,
            capacityProviderStrategy=strategy,
            enableExecuteCommand=True,
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group]}
            },
        )
        service = ecs.describe_services(cluster="app", services=["web"])["services"][0]
        self.assertEqual(service.get("deploymentConfiguration"), deployment)
        self.assertEqual(service.get("healthCheckGracePeriodSeconds"), 60)
        self.assertEqual(service.get("capacityProviderStrategy"), strategy)
        self.assertIs(service.get("enableExecuteCommand"), True)
        # UpdateService turns it off again (moto keeps what UpdateService sets).
        ecs.update_service(cluster="app", service="web", enableExecuteCommand=False)
        service = ecs.describe_services(cluster="app", services=["web"])["services"][0]
        self.assertIs(service.get("enableExecuteCommand"), False)


@mock_aws
class ReplicationGroups(unittest.TestCase):
    """ElastiCache replication groups: `NumCacheClusters` members, deletes that finish, and the
    subnet group deleted once nothing uses it (API reference)."""

    def setUp(self):
        subnets, _ = network()
        self.cache = client("elasticache")
        self.cache.create_cache_subnet_group(
            CacheSubnetGroupName="data",
            CacheSubnetGroupDescription="data",
            SubnetIds=subnets,
        )

    def create(self, group_id):
        self.cache.create_replication_group(
            ReplicationGroupId=group_id,
            ReplicationGroupDescription="cache",
            Engine="redis",
            CacheNodeType="cache.t3.micro",
            NumCacheClusters=2,
            AutomaticFailoverEnabled=True,
            MultiAZEnabled=True,
            CacheSubnetGroupName="data",
        )

    def describe(self, group_id):
        return self.cache.describe_replication_groups(ReplicationGroupId=group_id)[
            "ReplicationGroups"
        ][0]

    def test_num_cache_clusters_makes_a_primary_and_its_replicas(self):
        self.create("cache")
        group = self.describe("cache")
        self.assertEqual(len(group["MemberClusters"]), 2, group)
        roles = sorted(m["CurrentRole"] for m in group["NodeGroups"][0]["NodeGroupMembers"])
        self.assertEqual(roles, ["primary", "replica"])
        self.assertEqual(group["AutomaticFailover"], "enabled")
        self.assertEqual(group["MultiAZ"], "enabled")

    def test_a_deleted_group_is_deleting_then_gone_and_its_id_free(self):
        self.create("gone")
        self.cache.delete_replication_group(ReplicationGroupId="gone")
        self.assertEqual(self.describe("gone")["Status"], "deleting")
        time.sleep(moto_server_mck.DELETING_SECONDS * 2)
        with self.assertRaises(ClientError) as err:
            self.describe("gone")
        self.assertEqual(err.exception.response["Error"]["Code"], "ReplicationGroupNotFoundFault")
        self.create("gone")
        self.assertEqual(self.describe("gone")["Status"], "available")

    def test_the_subnet_group_is_deleted_once_no_group_uses_it(self):
        self.create("user")
        with self.assertRaises(ClientError) as err:
            self.cache.delete_cache_subnet_group(CacheSubnetGroupName="data")
        self.assertEqual(err.exception.response["Error"]["Code"], "CacheSubnetGroupInUse")
        self.cache.delete_replication_group(ReplicationGroupId="user")
        time.sleep(moto_server_mck.DELETING_SECONDS * 2)
        self.cache.delete_cache_subnet_group(CacheSubnetGroupName="data")
        for call in (
            lambda: self.cache.describe_cache_subnet_groups(CacheSubnetGroupName="data"),
            lambda: self.cache.delete_cache_subnet_group(CacheSubnetGroupName="data"),
        ):
            with self.assertRaises(ClientError) as err:
                call()
            self.assertEqual(
                err.exception.response["Error"]["Code"], "CacheSubnetGroupNotFoundFault"
            )


@mock_aws
class BackupPlansHaveSelections(unittest.TestCase):
    """AWS Backup: a plan's selections are created, read, listed and deleted; a plan is
    deleted only once its selections are; UpdateBackupPlan makes a new version (API
    reference: CreateBackupSelection, GetBackupSelection, ListBackupSelections,
    DeleteBackupSelection, DeleteBackupPlan, UpdateBackupPlan)."""

    ROLE = "arn:aws:iam::123456789012:role/mck/t/t-backup"
    DB = "arn:aws:rds:us-east-1:123456789012:cluster:t-db"

    def plan(self, backup, schedule="cron(0 */6 ? * * *)"):
        return {
            "BackupPlanName": "mck-t",
            "Rules": [
                {
                    "RuleName": "every-6h",
                    "TargetBackupVaultName": "mck-t",
                    "ScheduleExpression": schedule,
                    "Lifecycle": {"DeleteAfterDays": 14},
                }
            ],
        }

    def test_a_selection_lives_in_its_plan_until_deleted(self):
        backup = client("backup")
        backup.create_backup_vault(BackupVaultName="mck-t")
        plan = backup.create_backup_plan(BackupPlan=self.plan(backup))
        plan_id = plan["BackupPlanId"]
        made = backup.create_backup_selection(
            BackupPlanId=plan_id,
            BackupSelection={
                "SelectionName": "mck-t",
                "IamRoleArn": self.ROLE,
                "Resources": [self.DB],
            },
            CreatorRequestId="token-1",
        )
        selection_id = made["SelectionId"]
        listed = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
        self.assertEqual([s["SelectionId"] for s in listed], [selection_id])
        self.assertEqual(listed[0]["SelectionName"], "mck-t")
        self.assertEqual(listed[0]["IamRoleArn"], self.ROLE)
        got = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)
        self.assertEqual(got["BackupSelection"]["Resources"], [self.DB])

        with self.assertRaises(ClientError) as refused:
            backup.delete_backup_plan(BackupPlanId=plan_id)
        self.assertEqual(refused.exception.response["Error"]["Code"], "InvalidRequestException")

        backup.delete_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)
        with self.assertRaises(ClientError) as gone:
            backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)
        self.assertEqual(gone.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(
            backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"], []
        )
        backup.delete_backup_plan(BackupPlanId=plan_id)
        with self.assertRaises(ClientError) as no_plan:
            backup.list_backup_selections(BackupPlanId=plan_id)
        self.assertEqual(no_plan.exception.response["Error"]["Code"], "ResourceNotFoundException")

    def test_tags_are_read_by_the_arn_with_or_without_a_trailing_slash(self):
        from urllib.parse import quote

        import botocore.awsrequest
        import requests
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        backup = client("backup")
        arn = backup.create_backup_vault(BackupVaultName="mck-t", BackupVaultTags={"mck:stack": "t"})[
            "BackupVaultArn"
        ]
        self.assertEqual(backup.list_tags(ResourceArn=arn)["Tags"], {"mck:stack": "t"})
        # As the Rust SDK sends it: no slash after the ARN.
        url = f"https://backup.{REGION}.amazonaws.com/tags/{quote(arn, safe='')}"
        request = botocore.awsrequest.AWSRequest(method="GET", url=url)
        SigV4Auth(Credentials("testing", "testing"), "backup", REGION).add_auth(request)
        answer = requests.get(url, headers=dict(request.headers.items()))
        self.assertEqual(answer.json()["Tags"], {"mck:stack": "t"})

    def test_an_updated_plan_has_the_new_rule_and_a_new_version(self):
        backup = client("backup")
        backup.create_backup_vault(BackupVaultName="mck-t")
        plan = backup.create_backup_plan(BackupPlan=self.plan(backup))
        updated = backup.update_backup_plan(
            BackupPlanId=plan["BackupPlanId"],
            BackupPlan=self.plan(backup, schedule="cron(0 */12 ? * * *)"),
        )
        self.assertNotEqual(updated["VersionId"], plan["VersionId"])
        got = backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])
        self.assertEqual(
            got["BackupPlan"]["Rules"][0]["ScheduleExpression"], "cron(0 */12 ? * * *)"
        )


if __name__ == "__main__":
    unittest.main()


@mock_aws
class ClonesShareAGroup(unittest.TestCase):
    """RDS: a copy-on-write clone and its source share a `CloneGroupId`, which
    DescribeDBClusters filters by (`clone-group-id`); a full-copy restore is in no group of its
    source's (API reference, DBCluster and DescribeDBClusters)."""

    def test_a_clone_and_its_source_share_a_group_that_the_filter_finds(self):
        rds = client("rds")
        rds.create_db_cluster(
            DBClusterIdentifier="src",
            Engine="aurora-mysql",
            MasterUsername="admin",
            MasterUserPassword="password123",
        )
        restores = [("c1", "copy-on-write"), ("c2", "copy-on-write"), ("full", "full-copy")]
        for name, restore in restores:
            rds.restore_db_cluster_to_point_in_time(
                DBClusterIdentifier=name,
                SourceDBClusterIdentifier="src",
                RestoreType=restore,
                UseLatestRestorableTime=True,
            )
        by_id = {c["DBClusterIdentifier"]: c for c in rds.describe_db_clusters()["DBClusters"]}
        group = by_id["src"].get("CloneGroupId")
        self.assertTrue(group)
        self.assertEqual(by_id["c1"].get("CloneGroupId"), group)
        self.assertEqual(by_id["c2"].get("CloneGroupId"), group)
        self.assertIsNone(by_id["full"].get("CloneGroupId"))
        listed = rds.describe_db_clusters(Filters=[{"Name": "clone-group-id", "Values": [group]}])
        members = sorted(c["DBClusterIdentifier"] for c in listed["DBClusters"])
        self.assertEqual(members, ["c1", "c2", "src"])
