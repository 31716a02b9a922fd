"""Independent view of a stack's data tier, read with boto3: prints one JSON document.

usage: data.py STACK
"""
import json
import sys

import boto3

stack = sys.argv[1]
prefix = stack + "-"
rds = boto3.client("rds")
ec = boto3.client("elasticache")
efs = boto3.client("efs")
r53 = boto3.client("route53")
sm = boto3.client("secretsmanager")
out = {}

clusters = [c for c in rds.describe_db_clusters()["DBClusters"] if c["DBClusterIdentifier"].startswith(prefix)]
out["db_clusters"] = []
for c in clusters:
    secret = c.get("MasterUserSecret", {}).get("SecretArn")
    secret_exists = False
    if secret:
        secret_exists = sm.describe_secret(SecretId=secret)["ARN"] == secret
    out["db_clusters"].append({
        "id": c["DBClusterIdentifier"], "engine": c["Engine"], "status": c["Status"],
        "database": c.get("DatabaseName"), "user": c.get("MasterUsername"),
        "encrypted": c.get("StorageEncrypted"), "backup_days": c.get("BackupRetentionPeriod"),
        "deletion_protection": c.get("DeletionProtection"), "subnet_group": c.get("DBSubnetGroup"),
        "security_groups": sorted(g["VpcSecurityGroupId"] for g in c.get("VpcSecurityGroups", [])),
        "endpoint": c.get("Endpoint"), "reader_endpoint": c.get("ReaderEndpoint"),
        "secret_arn": secret, "secret_exists": secret_exists,
        "tags": {t["Key"]: t["Value"] for t in c.get("TagList", [])},
    })
out["db_instances"] = [
    {"id": i["DBInstanceIdentifier"], "cluster": i.get("DBClusterIdentifier"), "class": i["DBInstanceClass"],
     "az": i.get("AvailabilityZone"), "status": i["DBInstanceStatus"]}
    for i in rds.describe_db_instances()["DBInstances"] if i["DBInstanceIdentifier"].startswith(prefix)
]
out["db_subnet_groups"] = [
    {"name": g["DBSubnetGroupName"], "subnets": sorted(s["SubnetIdentifier"] for s in g["Subnets"])}
    for g in rds.describe_db_subnet_groups()["DBSubnetGroups"] if g["DBSubnetGroupName"].startswith(prefix)
]
out["replication_groups"] = [
    {"id": g["ReplicationGroupId"], "status": g["Status"], "node_type": g.get("CacheNodeType"),
     "members": len(g.get("MemberClusters", [])), "failover": g.get("AutomaticFailover"), "multi_az": g.get("MultiAZ"),
     "at_rest": g.get("AtRestEncryptionEnabled"), "transit": g.get("TransitEncryptionEnabled"),
     "primary": (g.get("NodeGroups") or [{}])[0].get("PrimaryEndpoint", {}).get("Address")}
    for g in ec.describe_replication_groups()["ReplicationGroups"] if g["ReplicationGroupId"].startswith(prefix)
]
out["cache_subnet_groups"] = [
    {"name": g["CacheSubnetGroupName"], "subnets": sorted(s["SubnetIdentifier"] for s in g["Subnets"])}
    for g in ec.describe_cache_subnet_groups()["CacheSubnetGroups"] if g["CacheSubnetGroupName"].startswith(prefix)
]
out["file_systems"] = []
for fs in efs.describe_file_systems()["FileSystems"]:
    tags = {t["Key"]: t["Value"] for t in fs.get("Tags", [])}
    if tags.get("mck:stack") != stack:
        continue
    mounts = efs.describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]
    aps = efs.describe_access_points(FileSystemId=fs["FileSystemId"])["AccessPoints"]
    out["file_systems"].append({
        "id": fs["FileSystemId"], "encrypted": fs["Encrypted"], "state": fs["LifeCycleState"],
        "mount_targets": [
            {"subnet": m["SubnetId"], "state": m["LifeCycleState"],
             "security_groups": efs.describe_mount_target_security_groups(MountTargetId=m["MountTargetId"])["SecurityGroups"]}
            for m in mounts
        ],
        "access_points": sorted(
            [{"path": a["RootDirectory"]["Path"], "uid": a["PosixUser"]["Uid"], "gid": a["PosixUser"]["Gid"],
              "mck_id": {t["Key"]: t["Value"] for t in a.get("Tags", [])}.get("mck:id")} for a in aps],
            key=lambda a: a["path"]),
    })
opensearch = boto3.client("opensearch")
mq = boto3.client("mq")
out["search_domains"] = []
names = [d["DomainName"] for d in opensearch.list_domain_names()["DomainNames"] if d["DomainName"].startswith(prefix)]
for d in (opensearch.describe_domains(DomainNames=names)["DomainStatusList"] if names else []):
    tags = {t["Key"]: t["Value"] for t in opensearch.list_tags(ARN=d["ARN"])["TagList"]}
    out["search_domains"].append({
        "name": d["DomainName"], "engine_version": d.get("EngineVersion"),
        "instance_type": d["ClusterConfig"].get("InstanceType"), "instances": d["ClusterConfig"].get("InstanceCount"),
        "subnets": sorted(d.get("VPCOptions", {}).get("SubnetIds", [])),
        "security_groups": sorted(d.get("VPCOptions", {}).get("SecurityGroupIds", [])),
        "public_endpoint": d.get("Endpoint"), "vpc_endpoint": d.get("Endpoints", {}).get("vpc"),
        "at_rest": d.get("EncryptionAtRestOptions", {}).get("Enabled"),
        "node_to_node": d.get("NodeToNodeEncryptionOptions", {}).get("Enabled"),
        "https": d.get("DomainEndpointOptions", {}).get("EnforceHTTPS"),
        "tls_policy": d.get("DomainEndpointOptions", {}).get("TLSSecurityPolicy"),
        "fine_grained": d.get("AdvancedSecurityOptions", {}).get("Enabled"),
        "tags": tags,
    })
out["brokers"] = []
for b in mq.list_brokers()["BrokerSummaries"]:
    if not b["BrokerName"].startswith(prefix):
        continue
    d = mq.describe_broker(BrokerId=b["BrokerId"])
    out["brokers"].append({
        "name": d["BrokerName"], "engine": d["EngineType"], "deployment": d["DeploymentMode"],
        "public": d["PubliclyAccessible"], "subnets": sorted(d["SubnetIds"]),
        "security_groups": sorted(d["SecurityGroups"]), "users": [u["Username"] for u in d.get("Users", [])],
        "endpoints": [e for i in d.get("BrokerInstances", []) for e in i.get("Endpoints", [])],
        "tags": d.get("Tags", {}),
    })
# The generated logins: their names and tags, and whether each password follows the rules
# (never the password itself).
out["secrets"] = []
for page in sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [f"mck/{stack}/"]}]):
    for secret in page["SecretList"]:
        value = json.loads(sm.get_secret_value(SecretId=secret["ARN"])["SecretString"])
        password = value.get("password", "")
        out["secrets"].append({
            "name": secret["Name"], "arn": secret["ARN"], "username": value.get("username"),
            "password_length": len(password),
            "password_has_no_excluded": not any(c in password for c in ",:=/@\"'\\`%#?&"),
            "password_alphanumeric": password.isalnum(),
            "tags": {t["Key"]: t["Value"] for t in secret.get("Tags", [])},
        })
out["zones"] = []
for z in r53.list_hosted_zones()["HostedZones"]:
    if not z["CallerReference"].startswith(f"mck/{stack}/"):
        continue
    zid = z["Id"].split("/")[-1]
    details = r53.get_hosted_zone(Id=zid)
    records = r53.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]
    tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)["ResourceTagSet"]["Tags"]
    out["zones"].append({
        "id": zid, "name": z["Name"], "private": z["Config"]["PrivateZone"],
        "vpcs": [v["VPCId"] for v in details.get("VPCs", [])],
        "tags": {t["Key"]: t["Value"] for t in tags},
        "records": {r["Name"].rstrip("."): {"type": r["Type"], "ttl": r.get("TTL"),
                                             "values": [v["Value"].rstrip(".") for v in r.get("ResourceRecords", [])]}
                    for r in records if r["Type"] == "CNAME"},
    })
json.dump(out, sys.stdout, indent=1, sort_keys=True)
