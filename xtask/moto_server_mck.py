"""moto_server, plus the things mck needs that moto's ECS does not do.

On AWS, ECS registers each running task of a service in the service's target group, and the
ALB health-checks it. moto's ECS starts no tasks and registers nothing, so a service's target
group stays empty and mck's health gate (deployment COMPLETED *and* enough healthy targets)
would wait forever. This launcher runs moto_server unchanged and, beside it, a small loop that
plays ECS's part through the public API: for every ACTIVE service with a load balancer it keeps
min(runningCount, desiredCount) IP targets registered (addresses from the service's first
subnet), and deregisters them when the service is scaled down or deleted. moto reports
registered IP targets as healthy. Documented in docs/emulator.md; mck itself knows nothing of it.

Usage: python moto_server_mck.py -H 127.0.0.1 -p PORT  (the arguments of moto_server)
"""

import ipaddress
import os
import sys
import threading
import time
import uuid


def _port(argv):
    for flag in ("-p", "--port"):
        if flag in argv:
            return int(argv[argv.index(flag) + 1])
    return int(os.environ.get("MOTO_PORT", 5000))


def _sync(ecs, ec2, elbv2):
    for cluster in ecs.list_clusters().get("clusterArns", []):
        arns = ecs.list_services(cluster=cluster).get("serviceArns", [])
        for i in range(0, len(arns), 10):
            described = ecs.describe_services(cluster=cluster, services=arns[i : i + 10])
            for svc in described.get("services", []):
                _sync_service(svc, ec2, elbv2)


def _sync_service(svc, ec2, elbv2):
    lbs = svc.get("loadBalancers") or []
    if not lbs or not lbs[0].get("targetGroupArn"):
        return
    tg = lbs[0]["targetGroupArn"]
    port = int(lbs[0].get("containerPort") or 80)
    want = 0
    if svc.get("status") == "ACTIVE":
        want = max(0, min(int(svc.get("runningCount", 0)), int(svc.get("desiredCount", 0))))
    try:
        health = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    except Exception:  # the target group is gone: nothing to keep in it
        return
    have = sorted(h["Target"]["Id"] for h in health)
    subnets = (
        (svc.get("networkConfiguration") or {}).get("awsvpcConfiguration", {}).get("subnets")
        or []
    )
    if not subnets:
        return
    cidr = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["CidrBlock"]
    net = ipaddress.ip_network(cidr)
    wanted = [str(net[100 + n]) for n in range(want)]
    extra = [t for t in have if t not in wanted]
    missing = [t for t in wanted if t not in have]
    if missing:
        elbv2.register_targets(
            TargetGroupArn=tg, Targets=[{"Id": ip, "Port": port} for ip in missing]
        )
    if extra:
        elbv2.deregister_targets(
            TargetGroupArn=tg, Targets=[{"Id": ip, "Port": port} for ip in extra]
        )


def _bridge(endpoint):
    import boto3

    regions = os.environ.get("MCK_EMULATOR_REGIONS", "us-east-1").split(",")
    clients = []
    while not clients:
        try:
            for region in regions:
                session = boto3.session.Session(
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    region_name=region,
                )
                make = lambda name: session.client(name, endpoint_url=endpoint)  # noqa: E731
                clients.append((make("ecs"), make("ec2"), make("elbv2")))
        except Exception:
            clients = []
            time.sleep(0.5)
    while True:
        for ecs, ec2, elbv2 in clients:
            try:
                _sync(ecs, ec2, elbv2)
            except Exception as exc:  # the server is starting or busy: try again
                print(f"moto_server_mck: ECS target sync: {exc}", file=sys.stderr)
        time.sleep(0.3)


def _patch_task_containers():
    """moto's ECS task lists one container, the task definition's first, with exit code 0, and
    runs nothing. A task on AWS lists every container of its definition. Give moto's tasks one
    container per definition (name and image from it; exit code 0, as moto reports), so a
    one-off task such as mck's migration can be read by container name. Exit codes other than
    0 cannot be shown by the emulator; mck tests them offline and on FakeCloud."""
    from moto.ecs import models

    original = models.Task.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        task_definition = kwargs.get("task_definition") or args[1]
        containers = []
        for definition in task_definition.container_definitions:
            container = models.Container(task_definition)
            container.name = definition.get("name")
            container.image = definition.get("image")
            container.command = definition.get("command")
            container.environment = definition.get("environment")
            containers.append(container)
        if containers:
            self.containers = containers

    models.Task.__init__ = __init__


def _patch_run_task_on_app_servers():
    """On AWS, a task started with a capacity provider strategy lands on the provider's
    instances (the ECS agent registers them as container instances). moto registers no
    container instance from an Auto Scaling group, so RunTask fails ("No instances found in
    cluster", HTTP 500). For a cluster without container instances, the launcher lets moto
    place such a one-off task as it places Fargate tasks. Tasks that name no strategy and
    clusters with registered instances are left to moto."""
    from moto.ecs import models

    original = models.EC2ContainerServiceBackend.run_task

    def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags,
                 launch_type, networking_configuration=None, group=None, platform_version=None,
                 capacity_provider_strategy=None):
        cluster = self._get_cluster(cluster_str)
        if capacity_provider_strategy and not self.container_instances.get(cluster.name):
            capacity_provider_strategy = [{"capacityProvider": "FARGATE", "weight": 1}]
        return original(self, cluster_str, task_definition_str, count, overrides, started_by,
                        tags, launch_type, networking_configuration, group, platform_version,
                        capacity_provider_strategy)

    models.EC2ContainerServiceBackend.run_task = run_task


def _patch_create_service_settings():
    """ECS CreateService: the service keeps what the request set and DescribeServices returns
    it (API reference, CreateService request parameters `deploymentConfiguration`,
    `healthCheckGracePeriodSeconds`, `capacityProviderStrategy` and `enableExecuteCommand`,
    and the `Service` data type, which has all four). moto's CreateService drops them (its
    UpdateService keeps them), so every new service read back with ECS's defaults and a
    second `up` had to set them. The launcher keeps them on the service moto made, as
    UpdateService does."""
    from moto.ecs import responses

    original = responses.EC2ContainerServiceResponse.create_service
    kept = {
        "deploymentConfiguration": "deployment_configuration",
        "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
        "capacityProviderStrategy": "capacity_provider_strategy",
        "enableExecuteCommand": "enable_execute_command",
    }

    def create_service(self):
        result = original(self)
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("serviceName")
        )
        for param, attribute in kept.items():
            value = self._get_param(param)
            if value is not None:
                setattr(service, attribute, value)
        return result

    responses.EC2ContainerServiceResponse.create_service = create_service


def _patch_replication_group_members():
    """ElastiCache CreateReplicationGroup with `NumCacheClusters` (cluster mode disabled):
    "The number of clusters this replication group initially has" (API reference), one
    primary and N-1 replicas. moto's model overrides the count with `ReplicasPerNodeGroup`
    + 1, which is 1 when only `NumCacheClusters` is given, so a group asked for a replica got
    none. The launcher passes `NumCacheClusters - 1` as the replica count when no replica
    count was given, which is what AWS makes of it."""
    from moto.elasticache import models

    original = models.ReplicationGroup._set_node_members_clusters_disabled

    def members(self, member_clusters, replication_group_id, replication_group_domain,
                node_group, preferred_cache_cluster_azs, num_cache_clusters,
                replicas_per_node_group):
        if not replicas_per_node_group and num_cache_clusters and num_cache_clusters > 1:
            replicas_per_node_group = num_cache_clusters - 1
        return original(self, member_clusters, replication_group_id, replication_group_domain,
                        node_group, preferred_cache_cluster_azs, num_cache_clusters,
                        replicas_per_node_group)

    models.ReplicationGroup._set_node_members_clusters_disabled = members


# How long a deleted replication group shows as `deleting` before it is gone.
DELETING_SECONDS = 1.0


def _patch_cache_deletes():
    """ElastiCache DeleteReplicationGroup and DeleteCacheCluster: the resource is `deleting`,
    then gone: "When you receive a successful response from this operation, Amazon
    ElastiCache immediately begins deleting the selected resources; you cannot cancel or
    revert this operation" (API reference, DeleteReplicationGroup; DeleteCacheCluster alike),
    and describing a deleted one answers `ReplicationGroupNotFoundFault` /
    `CacheClusterNotFound`. moto keeps both `deleting` forever (their ids taken, their subnet
    group in use). The launcher removes one `DELETING_SECONDS` after its delete, when it is
    next described."""
    import time

    from moto.elasticache import models

    backend = models.ElastiCacheBackend
    original_delete_group = backend.delete_replication_group
    original_describe_groups = backend.describe_replication_groups
    original_delete_cluster = backend.delete_cache_cluster
    original_describe_clusters = backend.describe_cache_clusters

    def forget_deleted(resources):
        now = time.monotonic()
        for key, resource in list(resources.items()):
            deleted = getattr(resource, "mck_deleted_at", None)
            if deleted is not None and now - deleted >= DELETING_SECONDS:
                del resources[key]

    def delete_replication_group(self, replication_group_id, retain_primary_cluster):
        group = original_delete_group(self, replication_group_id, retain_primary_cluster)
        group.mck_deleted_at = time.monotonic()
        return group

    def describe_replication_groups(self, replication_group_id=None):
        forget_deleted(self.replication_groups)
        return original_describe_groups(self, replication_group_id)

    def delete_cache_cluster(self, cache_cluster_id):
        cluster = original_delete_cluster(self, cache_cluster_id)
        cluster.mck_deleted_at = time.monotonic()
        return cluster

    def describe_cache_clusters(self, cache_cluster_id=None):
        forget_deleted(self.cache_clusters)
        return original_describe_clusters(self, cache_cluster_id)

    backend.delete_replication_group = delete_replication_group
    backend.describe_replication_groups = describe_replication_groups
    backend.delete_cache_cluster = delete_cache_cluster
    backend.describe_cache_clusters = describe_cache_clusters


def _patch_cache_subnet_group_delete():
    """ElastiCache DeleteCacheSubnetGroup (API reference): deletes the group; "You cannot
    delete a default cache subnet group or one that is associated with any clusters"
    (`CacheSubnetGroupInUse`); an unknown name is `CacheSubnetGroupNotFoundFault`. moto does
    not implement the action (HTTP 500)."""
    from moto.core.responses import EmptyResult
    from moto.elasticache import exceptions, models, responses

    class CacheSubnetGroupInUse(exceptions.ElastiCacheException):
        code = "CacheSubnetGroupInUse"

        def __init__(self, name):
            super().__init__(f"Cache subnet group {name} is currently in use by a cache cluster.")

    # moto finds an error's service from the module its class is defined in.
    CacheSubnetGroupInUse.__module__ = exceptions.__name__

    def delete_cache_subnet_group(self, cache_subnet_group_name):
        if cache_subnet_group_name not in self.cache_subnet_groups:
            raise exceptions.CacheSubnetGroupNotFound(cache_subnet_group_name)
        users = list(self.describe_replication_groups()) + list(self.describe_cache_clusters())
        if any(getattr(u, "cache_subnet_group_name", None) == cache_subnet_group_name
               for u in users):
            raise CacheSubnetGroupInUse(cache_subnet_group_name)
        del self.cache_subnet_groups[cache_subnet_group_name]

    def delete_cache_subnet_group_response(self):
        self.elasticache_backend.delete_cache_subnet_group(
            self._get_param("CacheSubnetGroupName")
        )
        return EmptyResult()

    models.ElastiCacheBackend.delete_cache_subnet_group = delete_cache_subnet_group
    responses.ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group_response


def _patch_clone_groups():
    """Aurora copy-on-write clones: a clone and its source are in one clone group, which
    DescribeDBClusters reports as `CloneGroupId` ("Identifies the clone group to which the DB
    cluster is associated", API reference, DBCluster) and filters by `clone-group-id` ("Accepts
    clone group identifiers. The results list only includes information about the DB clusters
    associated with these clone groups", API reference, DescribeDBClusters). A full-copy
    restore is in no group of its source's. moto 5.2.5 sets no `CloneGroupId` and refuses the
    filter."""
    from moto.rds import models
    from moto.rds.utils import FilterDef

    models.DBCluster.SUPPORTED_FILTERS["clone-group-id"] = FilterDef(
        ["clone_group_id"], "Clone Group IDs"
    )
    original = models.RDSBackend.restore_db_cluster_to_point_in_time

    def restore(self, db_cluster_identifier, source_db_cluster_identifier, *args, **kwargs):
        clone = original(self, db_cluster_identifier, source_db_cluster_identifier, *args, **kwargs)
        restore_type = kwargs.get("restore_type", args[0] if args else "full-copy")
        if restore_type == "copy-on-write":
            source = self.describe_db_clusters(
                db_cluster_identifier=source_db_cluster_identifier
            )[0]
            if not getattr(source, "clone_group_id", None):
                source.clone_group_id = str(uuid.uuid4())
            clone.clone_group_id = source.clone_group_id
        else:
            clone.clone_group_id = None
        return clone

    models.RDSBackend.restore_db_cluster_to_point_in_time = restore


def _patch_backup_selections():
    """AWS Backup CreateBackupSelection, GetBackupSelection, ListBackupSelections and
    DeleteBackupSelection (API reference): a plan's selections, each a name, an IAM role and the
    resources (ARNs) it backs up, with an id AWS makes; an unknown plan or selection is
    `ResourceNotFoundException`. DeleteBackupPlan: "Deletes a backup plan. A backup plan can
    only be deleted after all associated selections of resources have been deleted"
    (`InvalidRequestException`). UpdateBackupPlan: replaces the plan's document and returns a
    new `VersionId`. moto 5.2.5 implements none of the five (the selection calls and
    UpdateBackupPlan answer 500; DeleteBackupPlan deletes a plan that has selections).
    ListTags (`GET /tags/{ResourceArn}`): the tags of the vault or plan of the ARN. moto
    takes the ARN from the second-to-last path segment, which holds only when the path ends
    with a slash, as boto3 sends it; the Rust SDK sends none, and read the tags of `tags`."""
    import json

    from moto.backup import exceptions, models, responses
    from moto.core.utils import unix_time
    from moto.moto_api._internal import mock_random

    def live_plan(backend, plan_id):
        plan = backend.plans.get(plan_id)
        if plan is None or plan.deletion_date is not None:
            raise exceptions.ResourceNotFoundException(
                msg=f"Failed reading Backup plan with provided version: {plan_id}"
            )
        if not hasattr(plan, "mck_selections"):
            plan.mck_selections = {}
        return plan

    def parts(self):
        # /backup/plans/<plan id>/selections/[<selection id>]
        rest = self.path.split("/backup/plans/", 1)[1].strip("/").split("/")
        return rest[0], (rest[2] if len(rest) > 2 else None)

    def create_backup_selection(self):
        plan_id, _ = parts(self)
        plan = live_plan(self.backup_backend, plan_id)
        body = json.loads(self.body or "{}")
        selection_id = str(mock_random.uuid4())
        created = unix_time()
        plan.mck_selections[selection_id] = {
            "BackupSelection": body["BackupSelection"],
            "CreatorRequestId": body.get("CreatorRequestId"),
            "CreationDate": created,
        }
        return json.dumps(
            {"SelectionId": selection_id, "BackupPlanId": plan_id, "CreationDate": created}
        )

    def get_selection(self):
        plan_id, selection_id = parts(self)
        plan = live_plan(self.backup_backend, plan_id)
        if selection_id not in plan.mck_selections:
            raise exceptions.ResourceNotFoundException(
                msg=f"Failed reading Backup selection {selection_id}"
            )
        return plan, plan_id, selection_id

    def get_backup_selection(self):
        plan, plan_id, selection_id = get_selection(self)
        found = plan.mck_selections[selection_id]
        answer = {"SelectionId": selection_id, "BackupPlanId": plan_id, **found}
        return json.dumps({k: v for k, v in answer.items() if v is not None})

    def list_backup_selections(self):
        plan_id, _ = parts(self)
        plan = live_plan(self.backup_backend, plan_id)
        listed = []
        for selection_id, found in plan.mck_selections.items():
            selection = found["BackupSelection"]
            member = {
                "SelectionId": selection_id,
                "SelectionName": selection.get("SelectionName"),
                "BackupPlanId": plan_id,
                "CreationDate": found["CreationDate"],
                "CreatorRequestId": found.get("CreatorRequestId"),
                "IamRoleArn": selection.get("IamRoleArn"),
            }
            listed.append({k: v for k, v in member.items() if v is not None})
        return json.dumps({"BackupSelectionsList": listed})

    def delete_backup_selection(self):
        plan, _, selection_id = get_selection(self)
        del plan.mck_selections[selection_id]
        return "{}"

    def update_backup_plan(self):
        plan_id, _ = parts(self)
        plan = live_plan(self.backup_backend, plan_id)
        document = json.loads(self.body or "{}")["BackupPlan"]
        rules = document.get("Rules") or []
        for rule in rules:
            rule.setdefault("ScheduleExpression", "cron(0 5 ? * * *)")
            rule.setdefault("StartWindowMinutes", 480)
            rule.setdefault("CompletionWindowMinutes", 10080)
            rule.setdefault("ScheduleExpressionTimezone", "Etc/UTC")
            rule["RuleId"] = str(mock_random.uuid4())
        plan.backup_plan = document
        plan.version_id = mock_random.get_random_string(length=48)
        return json.dumps(
            {
                "BackupPlanId": plan.backup_plan_id,
                "BackupPlanArn": plan.backup_plan_arn,
                "CreationDate": plan.creation_date,
                "VersionId": plan.version_id,
            }
        )

    original_delete_plan = models.BackupBackend.delete_backup_plan

    def delete_backup_plan(self, backup_plan_id):
        plan = self.plans.get(backup_plan_id)
        if plan is not None and getattr(plan, "mck_selections", None):
            raise exceptions.InvalidRequestException(
                msg="Related backup plan selections must be deleted prior to backup plan deletion"
            )
        return original_delete_plan(self, backup_plan_id)

    def list_tags(self):
        # The ARN is everything after /tags/, with or without the trailing slash.
        from urllib.parse import unquote

        arn = unquote(self.path.split("/tags/", 1)[1].rstrip("/"))
        return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=arn)})

    for handler in (
        list_tags,
        create_backup_selection,
        get_backup_selection,
        list_backup_selections,
        delete_backup_selection,
        update_backup_plan,
    ):
        setattr(responses.BackupResponse, handler.__name__, handler)
    models.BackupBackend.delete_backup_plan = delete_backup_plan


def apply_patches():
    """Every patch of moto's models above (the target-registration loop is separate)."""
    _patch_task_containers()
    _patch_run_task_on_app_servers()
    _patch_create_service_settings()
    _patch_replication_group_members()
    _patch_cache_deletes()
    _patch_cache_subnet_group_delete()
    _patch_backup_selections()
    _patch_clone_groups()


if __name__ == "__main__":
    from moto.server import main

    apply_patches()

    argv = sys.argv[1:]
    endpoint = f"http://127.0.0.1:{_port(argv)}"
    threading.Thread(target=_bridge, args=(endpoint,), daemon=True).start()
    sys.exit(main(argv))
