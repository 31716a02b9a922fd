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


if __name__ == "__main__":
    from moto.server import main

    _patch_task_containers()
    _patch_run_task_on_app_servers()

    argv = sys.argv[1:]
    endpoint = f"http://127.0.0.1:{_port(argv)}"
    threading.Thread(target=_bridge, args=(endpoint,), daemon=True).start()
    sys.exit(main(argv))
