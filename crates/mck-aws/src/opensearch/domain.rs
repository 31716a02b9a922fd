//! The search domain: an OpenSearch Service domain in the data subnets, reachable only through
//! its security groups, encrypted at rest and between nodes, HTTPS only, with fine-grained
//! access control whose master user's login is kept in a secret of the stack.
//!
//! How real AWS behaves, and what the driver does about it (as terraform-provider-aws does in
//! `internal/service/opensearch/domain.go` and `wait.go`):
//! - a VPC domain needs the OpenSearch service-linked role; the create asks IAM for it first and
//!   takes "has been taken in this account" as "it exists";
//! - `CreateDomain` of a name in use does not reliably fail ("the API doesn't check for
//!   duplicate names so w/out this check Create would act as upsert", domain.go; moto replaces
//!   the domain): the name is read first, and a domain found is adopted only when its tags say
//!   it is this one;
//! - a create takes 15 to 30 minutes and a configuration change is a blue/green deployment:
//!   readiness waits until `Processing` and `UpgradeProcessing` are false and the VPC endpoint
//!   is there; right after `UpdateDomainConfig` the domain may not show `Processing` yet
//!   (Terraform waits a minute before its first look), so a change whose id AWS returned counts
//!   only once the domain reports that id;
//! - one change at a time: a second one while a change runs is refused with `ValidationException`
//!   "A change/update is in progress" (Terraform retries it, `domainErrorRetryable`), which is a
//!   busy refusal here, retried by the engine; an engine version change goes through
//!   `UpgradeDomain`, after the configuration change if both are planned;
//! - a deleted domain stays `Deleted: true` while AWS cleans up and its name cannot be reused
//!   ("Domain is still being deleted"): the delete waits until `DescribeDomain` says not found.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_opensearch::Client;
use aws_sdk_opensearch::error::ProvideErrorMetadata;
use aws_sdk_opensearch::types::{
    AdvancedSecurityOptionsInput, ClusterConfig, ConfigChangeStatus, DomainEndpointOptions,
    DomainProcessingStatusType, DomainStatus, EbsOptions, EncryptionAtRestOptions, EngineType,
    MasterUserOptions, NodeToNodeEncryptionOptions, OpenSearchPartitionInstanceType, Tag,
    TlsSecurityPolicy, VolumeType, VpcOptions, ZoneAwarenessConfig,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use mck_core::model::{
    FieldDef, LogicalId, ResourceKind, SearchDomainSpec, TAG_DELETION_PROTECTION, Value,
};
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;
use crate::secretsmanager::Login;

/// The service whose service-linked role lets OpenSearch place a domain's network interfaces in
/// the VPC (`AWSServiceRoleForAmazonOpenSearchService`).
const SERVICE_LINKED_ROLE: &str = "opensearchservice.amazonaws.com";

/// `DescribeDomains` takes at most five names.
const DESCRIBE_BATCH: usize = 5;

/// Bookkeeping output of an observation a create or update returns: the id of the change AWS
/// started, which readiness waits for.
const OUT_CHANGE: &str = "_change";
/// When that change was requested (seconds since the epoch).
const OUT_CHANGE_AT: &str = "_change_at";
/// How long a change AWS accepted may stay invisible in `DescribeDomain` before readiness goes
/// by the `Processing` flag alone (Terraform looks first a minute after `UpdateDomainConfig`).
const CHANGE_GRACE_SECS: u64 = 120;

/// The fields `ClusterConfig` carries: a change to any sends the whole block, as Terraform does
/// (and as the emulator needs: it replaces the block with what the call gives).
const CLUSTER_FIELDS: [FieldDef; 5] = [
    SearchDomainSpec::INSTANCE_TYPE,
    SearchDomainSpec::INSTANCE_COUNT,
    SearchDomainSpec::ZONE_COUNT,
    SearchDomainSpec::DEDICATED_MASTER_COUNT,
    SearchDomainSpec::DEDICATED_MASTER_TYPE,
];

fn owned(tags: &[Tag], stack: &str) -> Option<LogicalId> {
    crate::owner(tags.iter().map(|t| (t.key(), t.value())), stack)
}

fn ids(values: &[String]) -> Value {
    let mut v: Vec<Value> = values.iter().cloned().map(Value::CloudId).collect();
    v.sort();
    Value::List(v)
}

/// The domain's endpoint: the VPC one (`Endpoints["vpc"]`) for a VPC domain, else the public one.
fn endpoint(domain: &DomainStatus) -> Option<&str> {
    domain
        .endpoints()
        .and_then(|e| e.get("vpc"))
        .map(String::as_str)
        .or(domain.endpoint())
        .filter(|e| !e.is_empty())
}

/// Whether the domain's tags protect it (`mck:deletion-protection=true`).
fn protected_by(tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.key() == TAG_DELETION_PROTECTION && t.value() == "true")
}

/// Whether an observation says the domain is protected.
fn protected(o: &Observed) -> bool {
    o.fields.get(SearchDomainSpec::DELETION_PROTECTION.name) == Some(&Value::Bool(true))
}

/// The domain as `DescribeDomain` shows it; `protected` comes from its tags, which
/// `DescribeDomain` does not carry.
pub(super) fn observe(id: LogicalId, domain: &DomainStatus, protected: bool) -> Observed {
    let name = domain.domain_name();
    let cluster = domain.cluster_config();
    // Zone awareness off is one zone; AWS's default count when it is on is 2.
    let zone_count = match cluster {
        Some(c) if c.zone_awareness_enabled() == Some(true) => c
            .zone_awareness_config()
            .and_then(ZoneAwarenessConfig::availability_zone_count)
            .unwrap_or(2),
        _ => 1,
    };
    // AWS may keep reporting a master type (and count) with dedicated masters off; off is none.
    let masters = cluster.filter(|c| c.dedicated_master_enabled() == Some(true));
    let instance_type = cluster
        .and_then(ClusterConfig::instance_type)
        .map_or("", OpenSearchPartitionInstanceType::as_str);
    let instance_count = cluster.and_then(ClusterConfig::instance_count).unwrap_or(0);
    let volume_gb = domain
        .ebs_options()
        .and_then(EbsOptions::volume_size)
        .unwrap_or(0);
    let vpc = domain.vpc_options();
    let endpoint_options = domain.domain_endpoint_options();
    let mut o = Observed::new(id, ResourceKind::SearchDomain, name)
        .with(SearchDomainSpec::DOMAIN_NAME, name)
        .with(
            SearchDomainSpec::ENGINE_VERSION,
            domain.engine_version().unwrap_or_default(),
        )
        .with(SearchDomainSpec::INSTANCE_TYPE, instance_type)
        .with(SearchDomainSpec::INSTANCE_COUNT, i64::from(instance_count))
        .with(SearchDomainSpec::ZONE_COUNT, i64::from(zone_count))
        .with(
            SearchDomainSpec::DEDICATED_MASTER_COUNT,
            masters
                .and_then(ClusterConfig::dedicated_master_count)
                .map_or(0, i64::from),
        )
        .with(
            SearchDomainSpec::DEDICATED_MASTER_TYPE,
            masters
                .and_then(ClusterConfig::dedicated_master_type)
                .map_or("", OpenSearchPartitionInstanceType::as_str),
        )
        .with(SearchDomainSpec::VOLUME_SIZE, i64::from(volume_gb))
        .with(
            SearchDomainSpec::SUBNET_IDS,
            ids(vpc.map(|v| v.subnet_ids()).unwrap_or_default()),
        )
        .with(
            SearchDomainSpec::SECURITY_GROUP_IDS,
            ids(vpc.map(|v| v.security_group_ids()).unwrap_or_default()),
        )
        .with(
            SearchDomainSpec::ENCRYPT_AT_REST,
            domain
                .encryption_at_rest_options()
                .and_then(|e| e.enabled())
                .unwrap_or(false),
        )
        .with(
            SearchDomainSpec::NODE_TO_NODE_ENCRYPTION,
            domain
                .node_to_node_encryption_options()
                .and_then(|e| e.enabled())
                .unwrap_or(false),
        )
        .with(
            SearchDomainSpec::ENFORCE_HTTPS,
            endpoint_options
                .and_then(DomainEndpointOptions::enforce_https)
                .unwrap_or(false),
        )
        .with(
            SearchDomainSpec::TLS_SECURITY_POLICY,
            endpoint_options
                .and_then(DomainEndpointOptions::tls_security_policy)
                .map_or("", TlsSecurityPolicy::as_str),
        )
        .with(
            SearchDomainSpec::FINE_GRAINED_ACCESS_CONTROL,
            domain
                .advanced_security_options()
                .and_then(|a| a.enabled())
                .unwrap_or(false),
        )
        .with(SearchDomainSpec::DELETION_PROTECTION, protected)
        .output(SearchDomainSpec::OUT_ARN, domain.arn())
        .output(
            SearchDomainSpec::OUT_ACCOUNT,
            SearchDomainSpec::account_of(domain.arn()),
        )
        .output(
            mck_core::provider::OUT_DATA,
            format!(
                "OpenSearch domain of {instance_count} data node(s) of {instance_type}, {volume_gb} GiB each"
            ),
        );
    if let Some(endpoint) = endpoint(domain) {
        o = o.output(SearchDomainSpec::OUT_ENDPOINT, endpoint);
    }
    if domain.deleted() != Some(true)
        && (domain.created() == Some(false) || endpoint(domain).is_none())
    {
        o = o.pending("creating");
    }
    o
}

/// The domain's tags; `None` when it went away since it was listed.
async fn tags_of(os: &Client, arn: &str) -> Result<Option<Vec<Tag>>, ProviderError> {
    match os.list_tags().arn(arn).send().await {
        Ok(out) => Ok(Some(out.tag_list().to_vec())),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sdk(&format!("read the tags of OpenSearch domain {arn}"), e)),
    }
}

pub(super) async fn read(os: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let listed = os
        .list_domain_names()
        .engine_type(EngineType::OpenSearch)
        .send()
        .await
        .map_err(|e| sdk("list OpenSearch domains", e))?;
    let prefix = format!("{stack}-");
    let names: Vec<String> = listed
        .domain_names()
        .iter()
        .filter_map(|d| d.domain_name())
        .filter(|name| name.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    for batch in names.chunks(DESCRIBE_BATCH) {
        let described = os
            .describe_domains()
            .set_domain_names(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| sdk("describe OpenSearch domains", e))?;
        for domain in described.domain_status_list() {
            // Being deleted: gone for the stack (its name is not usable until it is gone).
            if domain.deleted() == Some(true) {
                continue;
            }
            let Some(tags) = tags_of(os, domain.arn()).await? else {
                continue;
            };
            if let Some(id) = owned(&tags, stack) {
                out.push(observe(id, domain, protected_by(&tags)));
            }
        }
    }
    Ok(out)
}

async fn describe(os: &Client, name: &str) -> Result<Option<DomainStatus>, ProviderError> {
    match os.describe_domain().domain_name(name).send().await {
        Ok(out) => Ok(out.domain_status().cloned()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sdk(&format!("describe OpenSearch domain {name}"), e)),
    }
}

/// The SDK error, classified as `class` instead of by its code (a `ValidationException` that
/// AWS answers for a passing state).
fn reclassified<E>(class: ErrorClass, what: &str, err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut error = sdk(what, err);
    error.class = class;
    error
}

/// AWS's answer to a change while another runs: `ValidationException` "A change/update is in
/// progress. Please wait for it to complete before requesting another change." (Terraform's
/// `domainErrorRetryable` retries it).
fn refused_as_busy(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationException") && message.is_some_and(|m| m.contains("in progress"))
}

/// `CreateDomain` refused for a reason that passes: the old domain of the name is still being
/// deleted, or the service-linked role just made is not usable yet (both retried by
/// Terraform's `domainErrorRetryable`).
fn create_refused_for_now(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("ValidationException")
        && message
            .is_some_and(|m| m.contains("still being deleted") || m.contains("service-linked role"))
}

/// What keeps the domain from taking a change now, as a status word; `None` when it is idle.
fn busy(domain: &DomainStatus) -> Option<String> {
    if domain.deleted() == Some(true) {
        return Some("deleting".into());
    }
    if domain.upgrade_processing() == Some(true) {
        return Some("upgrading".into());
    }
    let status = domain.domain_processing_status();
    if domain.processing() == Some(true) {
        return Some(match status {
            Some(s) if *s != DomainProcessingStatusType::Active => s.as_str().to_lowercase(),
            _ => "processing".into(),
        });
    }
    match status {
        Some(
            s @ (DomainProcessingStatusType::Creating
            | DomainProcessingStatusType::Modifying
            | DomainProcessingStatusType::Updating
            | DomainProcessingStatusType::Upgrading
            | DomainProcessingStatusType::Deleting),
        ) => Some(s.as_str().to_lowercase()),
        _ => None,
    }
}

fn busy_error(name: &str, status: &str) -> ProviderError {
    ProviderError::new(
        ErrorClass::DependencyViolation,
        format!(
            "OpenSearch domain {name} is busy with an earlier change ({status}); AWS takes one change at a time"
        ),
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The observation with the change AWS started (when it gave its id), for readiness.
fn with_change(mut observed: Observed, change: Option<&str>) -> Observed {
    if let Some(change) = change {
        observed.outputs.insert(OUT_CHANGE.into(), change.into());
        observed
            .outputs
            .insert(OUT_CHANGE_AT.into(), now_secs().to_string());
    }
    observed
}

/// One readiness check of the domain as `DescribeDomain` shows it at `now` (seconds).
fn readiness(live: &Observed, domain: &DomainStatus, now: u64) -> Readiness {
    let name = domain.domain_name();
    if domain.deleted() == Some(true) {
        return Readiness::Pending("deleting".into());
    }
    if domain.domain_processing_status() == Some(&DomainProcessingStatusType::Isolated) {
        return Readiness::Failed(format!(
            "OpenSearch domain {name} is isolated by AWS (DomainProcessingStatus Isolated); see the domain in the AWS console and AWS Health"
        ));
    }
    let ours = live.outputs.get(OUT_CHANGE).map(String::as_str);
    let shown = domain
        .change_progress_details()
        .filter(|d| ours.is_some() && d.change_id() == ours);
    if let Some(details) = shown
        && let Some(status @ (ConfigChangeStatus::ValidationFailed | ConfigChangeStatus::Cancelled)) =
            details.config_change_status()
    {
        return Readiness::Failed(format!(
            "the change {} of OpenSearch domain {name} ended {}: {}",
            details.change_id().unwrap_or_default(),
            status.as_str(),
            details.message().unwrap_or("AWS gave no reason")
        ));
    }
    if let Some(status) = busy(domain) {
        return Readiness::Pending(status);
    }
    if ours.is_some() && shown.is_none() {
        let requested = live
            .outputs
            .get(OUT_CHANGE_AT)
            .and_then(|at| at.parse::<u64>().ok())
            .unwrap_or(0);
        if now.saturating_sub(requested) < CHANGE_GRACE_SECS {
            return Readiness::Pending("change accepted, not started yet".into());
        }
    }
    if let Some(status) = shown.and_then(|d| d.config_change_status())
        && *status != ConfigChangeStatus::Completed
    {
        return Readiness::Pending(status.as_str().to_lowercase());
    }
    if domain.created() == Some(false) || endpoint(domain).is_none() {
        return Readiness::Pending("creating".into());
    }
    Readiness::Ready(observe(live.id.clone(), domain, protected(live)))
}

/// Creates the OpenSearch service-linked role, which a VPC domain needs; "has been taken in
/// this account" (`InvalidInput`; the emulator says `EntityAlreadyExists`) means it exists.
async fn ensure_service_linked_role(aws: &AwsProvider) -> Result<(), ProviderError> {
    match aws
        .clients
        .iam
        .create_service_linked_role()
        .aws_service_name(SERVICE_LINKED_ROLE)
        .send()
        .await
    {
        Ok(_) => {
            tracing::info!("created the OpenSearch service-linked role");
            Ok(())
        }
        Err(e)
            if (e.code() == Some("InvalidInput")
                && e.message().is_some_and(|m| m.contains("has been taken")))
                || e.code() == Some("EntityAlreadyExists") =>
        {
            Ok(())
        }
        Err(e) => Err(sdk(
            &format!("create the service-linked role of {SERVICE_LINKED_ROLE}"),
            e,
        )),
    }
}

/// The domain access policy: every principal may send HTTP requests to the domain's
/// subresources (`<arn>/*`; `es:*` means `es:ESHttp*` there). The VPC, the security groups and
/// fine-grained access control are what keep others out: AWS's documented pattern for a VPC
/// domain with fine-grained access control. The account comes from the master user's secret,
/// whose ARN is the secret's cloud id (same account, same partition).
fn access_policy(secret_arn: &str, region: &str, name: &str) -> Result<String, ProviderError> {
    let parts: Vec<&str> = secret_arn.splitn(6, ':').collect();
    let ["arn", partition, _, _, account, _] = parts.as_slice() else {
        return Err(ProviderError::invalid(format!(
            "internal error: the master user's secret id {secret_arn} is not an ARN (please report this)"
        )));
    };
    let resource = format!("arn:{partition}:es:{region}:{account}:domain/{name}/*");
    Ok(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": "*" },
            "Action": "es:*",
            "Resource": resource,
        }],
    })
    .to_string())
}

/// Fine-grained access control with the internal user database and its master user. The
/// password goes into the request and nowhere else (the SDK redacts it when it logs requests).
fn fine_grained_access_control(login: Login) -> AdvancedSecurityOptionsInput {
    AdvancedSecurityOptionsInput::builder()
        .enabled(true)
        .internal_user_database_enabled(true)
        .master_user_options(
            MasterUserOptions::builder()
                .master_user_name(login.username)
                .master_user_password(login.password)
                .build(),
        )
        .build()
}

fn cluster_config(spec: &SearchDomainSpec) -> Result<ClusterConfig, ProviderError> {
    let zone_awareness = spec.zone_count > 1;
    let masters = spec.dedicated_masters > 0;
    let mut config = ClusterConfig::builder()
        .instance_type(OpenSearchPartitionInstanceType::from(
            spec.instance_type.as_str(),
        ))
        .instance_count(crate::int32(spec.instance_count, "instance_count")?)
        .zone_awareness_enabled(zone_awareness)
        .dedicated_master_enabled(masters);
    if zone_awareness {
        config = config.zone_awareness_config(
            ZoneAwarenessConfig::builder()
                .availability_zone_count(crate::int32(spec.zone_count, "zone_count")?)
                .build(),
        );
    }
    if masters {
        config = config
            .dedicated_master_count(crate::int32(spec.dedicated_masters, "dedicated_masters")?)
            .dedicated_master_type(OpenSearchPartitionInstanceType::from(
                spec.master_instance_type.as_str(),
            ));
    }
    Ok(config.build())
}

fn ebs_options(spec: &SearchDomainSpec) -> Result<EbsOptions, ProviderError> {
    Ok(EbsOptions::builder()
        .ebs_enabled(true)
        .volume_type(VolumeType::Gp3)
        .volume_size(crate::int32(spec.volume_gb, "volume_gb")?)
        .build())
}

fn vpc_options(ctx: &Context<'_>, spec: &SearchDomainSpec) -> Result<VpcOptions, ProviderError> {
    Ok(VpcOptions::builder()
        .set_subnet_ids(Some(ctx.cloud_ids(&spec.subnets)?))
        .set_security_group_ids(Some(ctx.cloud_ids(&spec.security_groups)?))
        .build())
}

fn endpoint_options(spec: &SearchDomainSpec) -> DomainEndpointOptions {
    DomainEndpointOptions::builder()
        .enforce_https(true)
        .tls_security_policy(TlsSecurityPolicy::from(spec.tls_policy.as_str()))
        .build()
}

/// The fields of `spec` named in `names` as the cloud reports them (references resolved, lists
/// sorted).
fn desired(
    ctx: &Context<'_>,
    spec: &SearchDomainSpec,
    names: &[&str],
) -> Result<BTreeMap<&'static str, Value>, ProviderError> {
    use mck_core::model::Kind;
    spec.fields()
        .into_iter()
        .filter(|field| names.contains(&field.name))
        .map(|field| Ok((field.name, sorted(ctx.resolve(&field.value)?))))
        .collect()
}

fn sorted(value: Value) -> Value {
    match value {
        Value::List(mut items) => {
            items.sort();
            Value::List(items)
        }
        other => other,
    }
}

/// The domain of the name, found before a create or after "already exists": adopted when its
/// tags say it is `id` of this stack, else refused naming it.
async fn adopt_existing(
    os: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    found: &DomainStatus,
) -> Result<Observed, ProviderError> {
    let name = found.domain_name();
    if found.deleted() == Some(true) {
        return Err(ProviderError::new(
            ErrorClass::Transient,
            format!(
                "OpenSearch domain {name} is still being deleted; its name is free once it is gone"
            ),
        ));
    }
    let tags = tags_of(os, found.arn()).await?.unwrap_or_default();
    let owner = owned(&tags, ctx.stack);
    let observed = observe(
        owner.clone().unwrap_or_else(|| id.clone()),
        found,
        protected_by(&tags),
    );
    crate::adopt("OpenSearch domain", id, Some((owner, observed)))
}

/// Tags the domain protected, or removes the tag.
async fn protect(os: &Client, domain: &DomainStatus, on: bool) -> Result<(), ProviderError> {
    let name = domain.domain_name();
    if on {
        let tag = Tag::builder()
            .key(TAG_DELETION_PROTECTION)
            .value("true")
            .build()
            .map_err(|e| ProviderError::invalid(format!("internal error: a tag: {e}")))?;
        os.add_tags()
            .arn(domain.arn())
            .tag_list(tag)
            .send()
            .await
            .map_err(|e| sdk(&format!("protect OpenSearch domain {name}"), e))?;
    } else {
        os.remove_tags()
            .arn(domain.arn())
            .tag_keys(TAG_DELETION_PROTECTION)
            .send()
            .await
            .map_err(|e| sdk(&format!("unprotect OpenSearch domain {name}"), e))?;
    }
    Ok(())
}

impl Driver for SearchDomainSpec {
    const READ_BY: ServiceRead = ServiceRead::OpenSearch;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let os = &aws.clients.opensearch;
        // Read first: CreateDomain of an existing name may replace it instead of failing.
        if let Some(found) = describe(os, &spec.name).await? {
            return adopt_existing(os, ctx, id, &found).await;
        }
        ensure_service_linked_role(aws).await?;
        let secret_arn = ctx.cloud_id(spec.master_user.id())?;
        let policy = access_policy(secret_arn, &aws.clients.region, &spec.name)?;
        let mut tags = ctx.tags_for(id);
        if spec.deletion_protection {
            tags.push((TAG_DELETION_PROTECTION.into(), "true".into()));
        }
        let tags = tags
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<Tag>, _>>()
            .map_err(|e| ProviderError::invalid(format!("internal error: a tag: {e}")))?;
        let login = crate::secretsmanager::login(aws, secret_arn).await?;
        let created = os
            .create_domain()
            .domain_name(&spec.name)
            .engine_version(&spec.engine_version)
            .cluster_config(cluster_config(spec)?)
            .ebs_options(ebs_options(spec)?)
            .vpc_options(vpc_options(ctx, spec)?)
            .encryption_at_rest_options(EncryptionAtRestOptions::builder().enabled(true).build())
            .node_to_node_encryption_options(
                NodeToNodeEncryptionOptions::builder().enabled(true).build(),
            )
            .domain_endpoint_options(endpoint_options(spec))
            .advanced_security_options(fine_grained_access_control(login))
            .access_policies(policy)
            .set_tag_list(Some(tags))
            .send()
            .await;
        let what = format!("create OpenSearch domain {id} ({})", spec.name);
        match created {
            Ok(out) => {
                let domain = out.domain_status().ok_or_else(|| {
                    ProviderError::invalid(format!(
                        "create OpenSearch domain {} returned no domain",
                        spec.name
                    ))
                })?;
                let change = domain.change_progress_details().and_then(|d| d.change_id());
                Ok(with_change(
                    observe(id.clone(), domain, spec.deletion_protection),
                    change,
                ))
            }
            // Made meanwhile (a create whose answer was lost, then repeated).
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {
                match describe(os, &spec.name).await? {
                    Some(found) => adopt_existing(os, ctx, id, &found).await,
                    None => crate::adopt("OpenSearch domain", id, None),
                }
            }
            Err(e) if create_refused_for_now(e.code(), e.message()) => {
                Err(reclassified(ErrorClass::Transient, &what, e))
            }
            Err(e) => Err(sdk(&what, e)),
        }
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let os = &aws.clients.opensearch;
        let name = live.cloud_id.as_str();
        // What the domain is now, not what the plan read: a retried update sends only what
        // is still to change, and never while a change runs.
        let domain = describe(os, name)
            .await?
            .ok_or_else(|| crate::missing("OpenSearch domain", name))?;
        if let Some(status) = busy(&domain) {
            return Err(busy_error(name, &status));
        }
        let now = observe(live.id.clone(), &domain, protected(live));
        let desired = desired(ctx, spec, fields)?;
        let to_change: Vec<&str> = fields
            .iter()
            .copied()
            .filter(|f| now.fields.get(*f).cloned().map(sorted).as_ref() != desired.get(f))
            .collect();
        // The protection is a tag: set or removed on its own, at once (both idempotent).
        let mut live = live.clone();
        if SearchDomainSpec::DELETION_PROTECTION.is_in(&to_change) {
            protect(os, &domain, spec.deletion_protection).await?;
            live.fields.insert(
                SearchDomainSpec::DELETION_PROTECTION.name.into(),
                Value::Bool(spec.deletion_protection),
            );
        }
        let live = &live;
        let upgrade = SearchDomainSpec::ENGINE_VERSION.is_in(&to_change);
        let config_change = to_change.iter().any(|f| {
            *f != SearchDomainSpec::ENGINE_VERSION.name
                && *f != SearchDomainSpec::DELETION_PROTECTION.name
        });
        if config_change {
            // Only the changed option blocks are sent, each whole.
            let mut request = os.update_domain_config().domain_name(name);
            if CLUSTER_FIELDS.iter().any(|f| f.is_in(&to_change)) {
                request = request.cluster_config(cluster_config(spec)?);
            }
            if SearchDomainSpec::VOLUME_SIZE.is_in(&to_change) {
                request = request.ebs_options(ebs_options(spec)?);
            }
            if SearchDomainSpec::SUBNET_IDS.is_in(&to_change)
                || SearchDomainSpec::SECURITY_GROUP_IDS.is_in(&to_change)
            {
                request = request.vpc_options(vpc_options(ctx, spec)?);
            }
            if SearchDomainSpec::ENFORCE_HTTPS.is_in(&to_change)
                || SearchDomainSpec::TLS_SECURITY_POLICY.is_in(&to_change)
            {
                request = request.domain_endpoint_options(endpoint_options(spec));
            }
            let what = format!("update OpenSearch domain {}", live.id);
            let out = match request.send().await {
                Ok(out) => out,
                Err(e) if refused_as_busy(e.code(), e.message()) => {
                    return Err(reclassified(ErrorClass::DependencyViolation, &what, e));
                }
                Err(e) => return Err(sdk(&what, e)),
            };
            if upgrade {
                // The upgrade is a change of its own, refused while this one runs: the engine
                // retries the update, which then finds only the version to change.
                return Err(ProviderError::new(
                    ErrorClass::DependencyViolation,
                    format!(
                        "started the configuration change of OpenSearch domain {name}; its upgrade to {} follows once that change is done",
                        spec.engine_version
                    ),
                ));
            }
            let change = out
                .domain_config()
                .and_then(|c| c.change_progress_details())
                .and_then(|d| d.change_id());
            return Ok(with_change(live.clone(), change));
        }
        if upgrade {
            let what = format!(
                "upgrade OpenSearch domain {} to {}",
                live.id, spec.engine_version
            );
            let out = match os
                .upgrade_domain()
                .domain_name(name)
                .target_version(&spec.engine_version)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if refused_as_busy(e.code(), e.message()) => {
                    return Err(reclassified(ErrorClass::DependencyViolation, &what, e));
                }
                Err(e) => return Err(sdk(&what, e)),
            };
            let change = out.change_progress_details().and_then(|d| d.change_id());
            return Ok(with_change(live.clone(), change));
        }
        // Already as wanted: an update repeated after its answer was lost.
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let what = format!("delete OpenSearch domain {}", live.id);
        match aws
            .clients
            .opensearch
            .delete_domain()
            .domain_name(&live.cloud_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) if refused_as_busy(e.code(), e.message()) => {
                Err(reclassified(ErrorClass::DependencyViolation, &what, e))
            }
            Err(e) => Err(sdk(&what, e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(
            match describe(&aws.clients.opensearch, &live.cloud_id).await? {
                None => Readiness::Gone,
                Some(domain) => readiness(live, &domain, now_secs()),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_opensearch::types::{
        AdvancedSecurityOptions, DomainEndpointOptions, VpcDerivedInfo,
    };
    use mck_core::model::Ref;
    use serde_json::json;

    use super::*;
    use crate::testing::{Replay, assert_reads, context, json_error, query_error_xml, query_xml};

    const SECRET_ARN: &str =
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:mck/dev/search-AbCdEf";
    const PASSWORD: &str = "Gen3rated-Pa55word";
    const ENDPOINT: &str = "vpc-dev-search-x1y2z3.us-east-1.es.amazonaws.com";
    const DESCRIBE: &str = "GET /2021-01-01/opensearch/domain/dev-search";
    const CREATE: &str = "POST /2021-01-01/opensearch/domain";
    const UPDATE: &str = "POST /2021-01-01/opensearch/domain/dev-search/config";
    const UPGRADE: &str = "POST /2021-01-01/opensearch/upgradeDomain";
    const DELETE: &str = "DELETE /2021-01-01/opensearch/domain/dev-search";
    const LIST_TAGS: &str = "GET /2021-01-01/tags";

    fn spec() -> SearchDomainSpec {
        SearchDomainSpec {
            name: "dev-search".into(),
            engine_version: "OpenSearch_2.19".into(),
            instance_type: "r6g.large.search".into(),
            instance_count: 2,
            zone_count: 2,
            dedicated_masters: 0,
            master_instance_type: "m6g.large.search".into(),
            volume_gb: 20,
            subnets: vec![Ref::new("subnet.data.a"), Ref::new("subnet.data.b")],
            security_groups: vec![Ref::new("sg.search")],
            tls_policy: "Policy-Min-TLS-1-2-PFS-2023-10".into(),
            master_user: Ref::new("secret.search"),
            deletion_protection: true,
        }
    }

    fn resolved() -> HashMap<LogicalId, Observed> {
        [
            ("subnet.data.a", ResourceKind::Subnet, "subnet-a"),
            ("subnet.data.b", ResourceKind::Subnet, "subnet-b"),
            ("sg.search", ResourceKind::SecurityGroup, "sg-search"),
            ("secret.search", ResourceKind::Secret, SECRET_ARN),
        ]
        .into_iter()
        .map(|(id, kind, cloud_id)| {
            (
                LogicalId::from(id),
                Observed::new(id.into(), kind, cloud_id),
            )
        })
        .collect()
    }

    /// A domain as DescribeDomain shows it once it is ready, with `changes` merged in.
    fn domain(changes: serde_json::Value) -> serde_json::Value {
        let mut domain = json!({
            "DomainId": "123456789012/dev-search",
            "DomainName": "dev-search",
            "ARN": "arn:aws:es:us-east-1:123456789012:domain/dev-search",
            "Created": true,
            "Deleted": false,
            "Processing": false,
            "UpgradeProcessing": false,
            "DomainProcessingStatus": "Active",
            "EngineVersion": "OpenSearch_2.19",
            "ClusterConfig": {
                "InstanceType": "r6g.large.search",
                "InstanceCount": 2,
                "ZoneAwarenessEnabled": true,
                "ZoneAwarenessConfig": { "AvailabilityZoneCount": 2 },
                "DedicatedMasterEnabled": false
            },
            "EBSOptions": { "EBSEnabled": true, "VolumeType": "gp3", "VolumeSize": 20 },
            "VPCOptions": {
                "VPCId": "vpc-1",
                "SubnetIds": ["subnet-b", "subnet-a"],
                "SecurityGroupIds": ["sg-search"]
            },
            "Endpoints": { "vpc": ENDPOINT },
            "EncryptionAtRestOptions": { "Enabled": true },
            "NodeToNodeEncryptionOptions": { "Enabled": true },
            "DomainEndpointOptions": {
                "EnforceHTTPS": true,
                "TLSSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10"
            },
            "AdvancedSecurityOptions": { "Enabled": true, "InternalUserDatabaseEnabled": true }
        });
        for (key, value) in changes.as_object().cloned().unwrap_or_default() {
            if value.is_null() {
                domain.as_object_mut().unwrap().remove(&key);
            } else {
                domain[key] = value;
            }
        }
        domain
    }

    fn described(changes: serde_json::Value) -> String {
        json!({ "DomainStatus": domain(changes) }).to_string()
    }

    fn not_found() -> String {
        json_error("ResourceNotFoundException", "Domain not found: dev-search")
    }

    fn tags(stack: &str, id: &str) -> String {
        json!({ "TagList": [
            { "Key": "mck:stack", "Value": stack },
            { "Key": "mck:id", "Value": id },
            { "Key": "Name", "Value": format!("{stack}-{id}") }
        ] })
        .to_string()
    }

    fn secret_value() -> String {
        json!({
            "ARN": SECRET_ARN,
            "Name": "mck/dev/search",
            "VersionId": "v1",
            "SecretString": json!({ "username": "admin", "password": PASSWORD }).to_string()
        })
        .to_string()
    }

    fn role_taken() -> String {
        query_error_xml(
            "InvalidInput",
            "Service role name AWSServiceRoleForAmazonOpenSearchService has been taken in this account, please try a different suffix.",
        )
    }

    fn body(aws: &Replay, at: usize) -> serde_json::Value {
        serde_json::from_str(&aws.requests()[at].1).unwrap()
    }

    async fn create(aws: &Replay) -> Result<Observed, ProviderError> {
        let provider = AwsProvider::offline(aws.clone());
        let resolved = resolved();
        let mut ctx = context(&resolved);
        ctx.stack = "dev";
        SearchDomainSpec::create(&provider, &ctx, &LogicalId::from("search"), &spec()).await
    }

    async fn update(
        aws: &Replay,
        desired: &SearchDomainSpec,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let provider = AwsProvider::offline(aws.clone());
        let resolved = resolved();
        let mut ctx = context(&resolved);
        ctx.stack = "dev";
        SearchDomainSpec::update(&provider, &ctx, desired, &live(), fields).await
    }

    async fn poll(aws: &Replay, live: &Observed) -> Readiness {
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        SearchDomainSpec::poll(&provider, &context(&resolved), live)
            .await
            .unwrap()
    }

    fn live() -> Observed {
        Observed::new("search".into(), ResourceKind::SearchDomain, "dev-search")
    }

    #[test]
    fn reads_every_compared_field_the_endpoint_and_the_arn() {
        let status = DomainStatus::builder()
            .domain_id("123456789012/dev-search")
            .domain_name("dev-search")
            .arn("arn:aws:es:us-east-1:123456789012:domain/dev-search")
            .created(true)
            .processing(false)
            .engine_version("OpenSearch_2.19")
            .cluster_config(
                ClusterConfig::builder()
                    .instance_type(OpenSearchPartitionInstanceType::R6gLargeSearch)
                    .instance_count(2)
                    .zone_awareness_enabled(true)
                    .zone_awareness_config(
                        ZoneAwarenessConfig::builder()
                            .availability_zone_count(2)
                            .build(),
                    )
                    // AWS keeps a master type with dedicated masters off: none is compared.
                    .dedicated_master_enabled(false)
                    .dedicated_master_type(OpenSearchPartitionInstanceType::M6gLargeSearch)
                    .build(),
            )
            .ebs_options(
                EbsOptions::builder()
                    .ebs_enabled(true)
                    .volume_type(VolumeType::Gp3)
                    .volume_size(20)
                    .build(),
            )
            .vpc_options(
                VpcDerivedInfo::builder()
                    .vpc_id("vpc-1")
                    .subnet_ids("subnet-b")
                    .subnet_ids("subnet-a")
                    .availability_zones("us-east-1a")
                    .availability_zones("us-east-1b")
                    .security_group_ids("sg-search")
                    .build(),
            )
            .endpoints("vpc", ENDPOINT)
            .encryption_at_rest_options(EncryptionAtRestOptions::builder().enabled(true).build())
            .node_to_node_encryption_options(
                NodeToNodeEncryptionOptions::builder().enabled(true).build(),
            )
            .domain_endpoint_options(
                DomainEndpointOptions::builder()
                    .enforce_https(true)
                    .tls_security_policy(TlsSecurityPolicy::PolicyMinTls12Pfs202310)
                    .build(),
            )
            .advanced_security_options(
                AdvancedSecurityOptions::builder()
                    .enabled(true)
                    .internal_user_database_enabled(true)
                    .build(),
            )
            .build()
            .unwrap();
        let observed = observe("search".into(), &status, true);
        assert_reads(
            &observed,
            spec(),
            &[
                ("subnet.data.a", "subnet-a"),
                ("subnet.data.b", "subnet-b"),
                ("sg.search", "sg-search"),
                ("secret.search", SECRET_ARN),
            ],
        );
        assert_eq!(observed.cloud_id, "dev-search");
        assert_eq!(observed.outputs[SearchDomainSpec::OUT_ENDPOINT], ENDPOINT);
        assert_eq!(
            observed.outputs[SearchDomainSpec::OUT_ARN],
            "arn:aws:es:us-east-1:123456789012:domain/dev-search"
        );
        assert_eq!(observed.pending, None);
    }

    #[test]
    fn one_zone_reads_as_one_and_dedicated_masters_as_their_count_and_type() {
        let status = DomainStatus::builder()
            .domain_id("1/dev-search")
            .domain_name("dev-search")
            .arn("arn:aws:es:us-east-1:1:domain/dev-search")
            .cluster_config(
                ClusterConfig::builder()
                    .instance_count(1)
                    // Zone awareness off: a zone count AWS still reports is not the domain's.
                    .zone_awareness_enabled(false)
                    .zone_awareness_config(
                        ZoneAwarenessConfig::builder()
                            .availability_zone_count(2)
                            .build(),
                    )
                    .dedicated_master_enabled(true)
                    .dedicated_master_count(3)
                    .dedicated_master_type(OpenSearchPartitionInstanceType::M6gLargeSearch)
                    .build(),
            )
            .build()
            .unwrap();
        let observed = observe("search".into(), &status, false);
        assert_eq!(
            observed.fields[SearchDomainSpec::ZONE_COUNT.name],
            Value::Int(1)
        );
        assert_eq!(
            observed.fields[SearchDomainSpec::DEDICATED_MASTER_COUNT.name],
            Value::Int(3)
        );
        assert_eq!(
            observed.fields[SearchDomainSpec::DEDICATED_MASTER_TYPE.name],
            Value::Str("m6g.large.search".into())
        );
        // No endpoint yet: a run killed while it was created left it creating.
        assert_eq!(observed.pending.as_deref(), Some("creating"));
    }

    /// A VPC domain needs the service-linked role; IAM answers "has been taken" when it exists
    /// (the emulator: `EntityAlreadyExists`), which must not stop the create.
    #[tokio::test]
    async fn the_service_linked_role_existing_already_does_not_stop_the_create() {
        let emulator_answer = query_error_xml(
            "EntityAlreadyExists",
            "Role with name AWSServiceRoleForopensearchservice already exists.",
        );
        for role_answer in [role_taken(), emulator_answer] {
            let aws = Replay::new([
                (DESCRIBE, 409, not_found()),
                ("CreateServiceLinkedRole", 400, role_answer),
                ("GetSecretValue", 200, secret_value()),
                (
                    CREATE,
                    200,
                    described(json!({
                        "Created": false,
                        "Processing": true,
                        "DomainProcessingStatus": "Creating",
                        "Endpoints": null,
                        "ChangeProgressDetails": { "ChangeId": "c-create", "ConfigChangeStatus": "Pending" }
                    })),
                ),
            ]);
            let live = create(&aws).await.unwrap();
            aws.assert_done();
            assert_eq!(live.cloud_id, "dev-search");
            assert_eq!(live.pending.as_deref(), Some("creating"));
            assert_eq!(live.outputs[OUT_CHANGE], "c-create");
            assert!(!format!("{live:?}").contains(PASSWORD));
            let (_, role) = &aws.requests()[1];
            assert!(
                role.contains("AWSServiceName=opensearchservice.amazonaws.com"),
                "{role}"
            );
        }
    }

    /// What the domain is made as: in the data subnets with its security groups, gp3 volumes,
    /// zone awareness, encryption, HTTPS with the TLS policy, fine-grained access control with
    /// the secret's login, the open-to-the-VPC access policy on its own ARN, and the tags.
    #[tokio::test]
    async fn the_create_asks_for_everything_the_domain_must_be() {
        let aws = Replay::new([
            (DESCRIBE, 409, not_found()),
            (
                "CreateServiceLinkedRole",
                200,
                query_xml(
                    "CreateServiceLinkedRole",
                    "<Role><Path>/aws-service-role/opensearchservice.amazonaws.com/</Path><RoleName>AWSServiceRoleForAmazonOpenSearchService</RoleName><RoleId>AROA1</RoleId><Arn>arn:aws:iam::123456789012:role/aws-service-role/opensearchservice.amazonaws.com/AWSServiceRoleForAmazonOpenSearchService</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate></Role>",
                ),
            ),
            ("GetSecretValue", 200, secret_value()),
            (
                CREATE,
                200,
                described(json!({ "Created": false, "Endpoints": null })),
            ),
        ]);
        create(&aws).await.unwrap();
        aws.assert_done();
        let request = body(&aws, 3);
        assert_eq!(request["DomainName"], "dev-search");
        assert_eq!(request["EngineVersion"], "OpenSearch_2.19");
        assert_eq!(
            request["ClusterConfig"],
            json!({
                "InstanceType": "r6g.large.search",
                "InstanceCount": 2,
                "ZoneAwarenessEnabled": true,
                "ZoneAwarenessConfig": { "AvailabilityZoneCount": 2 },
                "DedicatedMasterEnabled": false
            })
        );
        assert_eq!(
            request["EBSOptions"],
            json!({ "EBSEnabled": true, "VolumeType": "gp3", "VolumeSize": 20 })
        );
        assert_eq!(
            request["VPCOptions"],
            json!({ "SubnetIds": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-search"] })
        );
        assert_eq!(
            request["EncryptionAtRestOptions"],
            json!({ "Enabled": true })
        );
        assert_eq!(
            request["NodeToNodeEncryptionOptions"],
            json!({ "Enabled": true })
        );
        assert_eq!(
            request["DomainEndpointOptions"],
            json!({ "EnforceHTTPS": true, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-PFS-2023-10" })
        );
        assert_eq!(
            request["AdvancedSecurityOptions"],
            json!({
                "Enabled": true,
                "InternalUserDatabaseEnabled": true,
                "MasterUserOptions": { "MasterUserName": "admin", "MasterUserPassword": PASSWORD }
            })
        );
        let policy: serde_json::Value =
            serde_json::from_str(request["AccessPolicies"].as_str().unwrap()).unwrap();
        assert_eq!(
            policy["Statement"][0],
            json!({
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": "es:*",
                "Resource": "arn:aws:es:us-east-1:123456789012:domain/dev-search/*"
            })
        );
        let tags = request["TagList"].as_array().unwrap();
        assert!(
            tags.contains(&json!({ "Key": "mck:stack", "Value": "dev" })),
            "{tags:?}"
        );
        assert!(
            tags.contains(&json!({ "Key": "mck:id", "Value": "search" })),
            "{tags:?}"
        );
        // Protected from its first minute: the protection is a tag AWS keeps with the domain.
        assert!(
            tags.contains(&json!({ "Key": "mck:deletion-protection", "Value": "true" })),
            "{tags:?}"
        );
    }

    /// The protection is a tag: turning it on or off tags or untags the domain and sends no
    /// configuration change (which would start a blue/green deployment).
    #[tokio::test]
    async fn protection_is_tagged_and_untagged_without_a_configuration_change() {
        let aws = Replay::new([
            (DESCRIBE, 200, described(json!({}))),
            ("POST /2021-01-01/tags", 200, "{}".to_string()),
            (DESCRIBE, 200, described(json!({}))),
            ("POST /2021-01-01/tags-removal", 200, "{}".to_string()),
        ]);
        let field = [SearchDomainSpec::DELETION_PROTECTION.name];
        let on = update(&aws, &spec(), &field).await.unwrap();
        assert!(protected(&on), "{on:?}");
        assert_eq!(
            body(&aws, 1),
            json!({
                "ARN": "arn:aws:es:us-east-1:123456789012:domain/dev-search",
                "TagList": [{ "Key": "mck:deletion-protection", "Value": "true" }]
            })
        );
        let off = SearchDomainSpec {
            deletion_protection: false,
            ..spec()
        };
        let mut protected_live = live();
        protected_live
            .fields
            .insert(field[0].into(), Value::Bool(true));
        let provider = AwsProvider::offline(aws.clone());
        let resolved = resolved();
        let ctx = context(&resolved);
        let unprotected = SearchDomainSpec::update(&provider, &ctx, &off, &protected_live, &field)
            .await
            .unwrap();
        assert!(!protected(&unprotected), "{unprotected:?}");
        assert_eq!(
            body(&aws, 3),
            json!({
                "ARN": "arn:aws:es:us-east-1:123456789012:domain/dev-search",
                "TagKeys": ["mck:deletion-protection"]
            })
        );
        aws.assert_done();
        assert_eq!(aws.count(UPDATE), 0);
    }

    /// CreateDomain of a name in use may replace the domain (Terraform's domain.go; moto does):
    /// the name is read first, the stack's own domain adopted, another refused by name, and
    /// CreateDomain never sent.
    #[tokio::test]
    async fn a_domain_of_the_name_is_adopted_when_its_tags_say_so_and_refused_otherwise() {
        let aws = Replay::new([
            (DESCRIBE, 200, described(json!({}))),
            (LIST_TAGS, 200, tags("dev", "search")),
            (DESCRIBE, 200, described(json!({}))),
            (LIST_TAGS, 200, tags("dev-2", "search")),
        ]);
        let adopted = create(&aws).await.unwrap();
        assert_eq!(adopted.id.as_str(), "search");
        assert_eq!(adopted.outputs[SearchDomainSpec::OUT_ENDPOINT], ENDPOINT);
        let refused = create(&aws).await.unwrap_err();
        assert_eq!(refused.class, ErrorClass::Invalid, "{}", refused.message);
        assert!(
            refused.message.contains("dev-search"),
            "{}",
            refused.message
        );
        aws.assert_done();
        assert_eq!(aws.count(CREATE), 0);
    }

    #[tokio::test]
    async fn already_exists_from_a_create_made_meanwhile_adopts_the_stacks_domain() {
        let aws = Replay::new([
            (DESCRIBE, 409, not_found()),
            ("CreateServiceLinkedRole", 400, role_taken()),
            ("GetSecretValue", 200, secret_value()),
            (
                CREATE,
                409,
                json_error(
                    "ResourceAlreadyExistsException",
                    "domain dev-search already exists",
                ),
            ),
            (DESCRIBE, 200, described(json!({ "Processing": true }))),
            (LIST_TAGS, 200, tags("dev", "search")),
        ]);
        let adopted = create(&aws).await.unwrap();
        aws.assert_done();
        assert_eq!(adopted.cloud_id, "dev-search");
    }

    /// A deleted domain keeps its name while AWS cleans up ("Domain is still being deleted"):
    /// a create then is worth retrying, not a refusal.
    #[tokio::test]
    async fn a_name_still_held_by_a_domain_being_deleted_is_retried() {
        let aws = Replay::new([
            (
                DESCRIBE,
                200,
                described(json!({ "Deleted": true, "Processing": true })),
            ),
            (DESCRIBE, 409, not_found()),
            ("CreateServiceLinkedRole", 400, role_taken()),
            ("GetSecretValue", 200, secret_value()),
            (
                CREATE,
                400,
                json_error(
                    "ValidationException",
                    "Domain is still being deleted: dev-search",
                ),
            ),
        ]);
        for _ in 0..2 {
            let err = create(&aws).await.unwrap_err();
            assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);
            assert!(!err.message.contains(PASSWORD));
        }
        aws.assert_done();
    }

    /// Creating takes 15–30 minutes: `Processing`, then no VPC endpoint yet, then ready.
    #[tokio::test]
    async fn readiness_waits_for_processing_to_end_and_for_the_vpc_endpoint() {
        let aws = Replay::new([
            (
                DESCRIBE,
                200,
                described(json!({
                    "Created": false,
                    "Processing": true,
                    "DomainProcessingStatus": "Creating",
                    "Endpoints": null
                })),
            ),
            (
                DESCRIBE,
                200,
                described(json!({ "Processing": false, "Endpoints": null })),
            ),
            (DESCRIBE, 200, described(json!({}))),
        ]);
        let live = live();
        assert_eq!(
            poll(&aws, &live).await,
            Readiness::Pending("creating".into())
        );
        assert_eq!(
            poll(&aws, &live).await,
            Readiness::Pending("creating".into())
        );
        match poll(&aws, &live).await {
            Readiness::Ready(observed) => {
                assert_eq!(observed.outputs[SearchDomainSpec::OUT_ENDPOINT], ENDPOINT);
            }
            other => panic!("not ready: {other:?}"),
        }
        aws.assert_done();
    }

    /// Right after UpdateDomainConfig the domain may not show `Processing` yet: the change AWS
    /// accepted counts only once the domain reports it, and the poll waits for its end.
    #[tokio::test]
    async fn an_update_waits_until_aws_shows_the_change_it_accepted_and_its_end() {
        let aws = Replay::new([
            (DESCRIBE, 200, described(json!({}))),
            (
                UPDATE,
                200,
                json!({ "DomainConfig": { "ChangeProgressDetails": {
                    "ChangeId": "c-1", "ConfigChangeStatus": "Pending"
                } } })
                .to_string(),
            ),
            (
                DESCRIBE,
                200,
                described(json!({ "ChangeProgressDetails": {
                    "ChangeId": "c-0", "ConfigChangeStatus": "Completed"
                } })),
            ),
            (
                DESCRIBE,
                200,
                described(json!({
                    "Processing": true,
                    "DomainProcessingStatus": "Modifying",
                    "ChangeProgressDetails": { "ChangeId": "c-1", "ConfigChangeStatus": "ApplyingChanges" }
                })),
            ),
            (
                DESCRIBE,
                200,
                described(json!({
                    "ClusterConfig": {
                        "InstanceType": "r6g.large.search",
                        "InstanceCount": 4,
                        "ZoneAwarenessEnabled": true,
                        "ZoneAwarenessConfig": { "AvailabilityZoneCount": 2 },
                        "DedicatedMasterEnabled": false
                    },
                    "ChangeProgressDetails": { "ChangeId": "c-1", "ConfigChangeStatus": "Completed" }
                })),
            ),
        ]);
        let mut desired = spec();
        desired.instance_count = 4;
        let changed = update(&aws, &desired, &[SearchDomainSpec::INSTANCE_COUNT.name])
            .await
            .unwrap();
        let request = body(&aws, 1);
        assert_eq!(request["ClusterConfig"]["InstanceCount"], 4);
        assert_eq!(request["ClusterConfig"]["InstanceType"], "r6g.large.search");
        for unchanged in [
            "EBSOptions",
            "VPCOptions",
            "DomainEndpointOptions",
            "EngineVersion",
            "AdvancedSecurityOptions",
        ] {
            assert!(
                request.get(unchanged).is_none(),
                "{unchanged} re-sent: {request}"
            );
        }
        assert_eq!(
            poll(&aws, &changed).await,
            Readiness::Pending("change accepted, not started yet".into())
        );
        assert_eq!(
            poll(&aws, &changed).await,
            Readiness::Pending("modifying".into())
        );
        match poll(&aws, &changed).await {
            Readiness::Ready(observed) => assert_eq!(
                observed.fields[SearchDomainSpec::INSTANCE_COUNT.name],
                Value::Int(4)
            ),
            other => panic!("not ready: {other:?}"),
        }
        aws.assert_done();
    }

    /// A change AWS never shows (no change is made when nothing differs) does not keep the
    /// poll waiting past the grace period.
    #[test]
    fn a_change_never_shown_is_waited_for_only_within_the_grace_period() {
        let status = DomainStatus::builder()
            .domain_id("1/dev-search")
            .domain_name("dev-search")
            .arn("arn:aws:es:us-east-1:1:domain/dev-search")
            .created(true)
            .processing(false)
            .endpoints("vpc", ENDPOINT)
            .build()
            .unwrap();
        let mut live = live();
        live.outputs.insert(OUT_CHANGE.into(), "c-9".into());
        live.outputs.insert(OUT_CHANGE_AT.into(), "1000".into());
        assert!(matches!(
            readiness(&live, &status, 1010),
            Readiness::Pending(_)
        ));
        assert!(matches!(
            readiness(&live, &status, 1000 + CHANGE_GRACE_SECS),
            Readiness::Ready(_)
        ));
    }

    #[tokio::test]
    async fn a_change_aws_rejects_in_validation_fails_with_its_reason() {
        let aws = Replay::new([(
            DESCRIBE,
            200,
            described(json!({ "ChangeProgressDetails": {
                "ChangeId": "c-1",
                "ConfigChangeStatus": "ValidationFailed",
                "Message": "Insufficient free IP addresses in subnet subnet-a"
            } })),
        )]);
        let live = with_change(live(), Some("c-1"));
        match poll(&aws, &live).await {
            Readiness::Failed(why) => {
                assert!(why.contains("ValidationFailed"), "{why}");
                assert!(why.contains("Insufficient free IP addresses"), "{why}");
            }
            other => panic!("not failed: {other:?}"),
        }
        aws.assert_done();
    }

    /// One change at a time: while one runs, an update sends nothing; a refusal AWS answers
    /// anyway ("A change/update is in progress") is a busy refusal, which the engine retries.
    #[tokio::test]
    async fn a_change_while_another_runs_is_a_busy_refusal() {
        let aws = Replay::new([
            (
                DESCRIBE,
                200,
                described(json!({ "Processing": true, "DomainProcessingStatus": "Modifying" })),
            ),
            (DESCRIBE, 200, described(json!({}))),
            (
                UPDATE,
                400,
                json_error(
                    "ValidationException",
                    "A change/update is in progress. Please wait for it to complete before requesting another change.",
                ),
            ),
        ]);
        let mut desired = spec();
        desired.volume_gb = 40;
        for _ in 0..2 {
            let err = update(&aws, &desired, &[SearchDomainSpec::VOLUME_SIZE.name])
                .await
                .unwrap_err();
            assert_eq!(
                err.class,
                ErrorClass::DependencyViolation,
                "{}",
                err.message
            );
        }
        aws.assert_done();
        assert_eq!(aws.count(UPDATE), 1);
    }

    /// An engine version goes through UpgradeDomain, a change of its own: after the
    /// configuration change, once that one is done; each retried update sends only what is
    /// still to change.
    #[tokio::test]
    async fn an_engine_version_change_is_an_upgrade_after_the_configuration_change() {
        let upgraded_volume =
            json!({ "EBSOptions": { "EBSEnabled": true, "VolumeType": "gp3", "VolumeSize": 40 } });
        let aws = Replay::new([
            (DESCRIBE, 200, described(json!({}))),
            (UPDATE, 200, json!({ "DomainConfig": {} }).to_string()),
            (
                DESCRIBE,
                200,
                described(json!({
                    "Processing": true,
                    "EBSOptions": { "EBSEnabled": true, "VolumeType": "gp3", "VolumeSize": 40 }
                })),
            ),
            (DESCRIBE, 200, described(upgraded_volume.clone())),
            (
                UPGRADE,
                200,
                json!({
                    "DomainName": "dev-search",
                    "TargetVersion": "OpenSearch_3.1",
                    "UpgradeId": "u-1",
                    "ChangeProgressDetails": { "ChangeId": "c-up", "ConfigChangeStatus": "Pending" }
                })
                .to_string(),
            ),
            (
                DESCRIBE,
                200,
                described(json!({
                    "UpgradeProcessing": true,
                    "EBSOptions": { "EBSEnabled": true, "VolumeType": "gp3", "VolumeSize": 40 },
                    "ChangeProgressDetails": { "ChangeId": "c-up", "ConfigChangeStatus": "ApplyingChanges" }
                })),
            ),
        ]);
        let mut desired = spec();
        desired.engine_version = "OpenSearch_3.1".into();
        desired.volume_gb = 40;
        let fields = [
            SearchDomainSpec::ENGINE_VERSION.name,
            SearchDomainSpec::VOLUME_SIZE.name,
        ];
        let first = update(&aws, &desired, &fields).await.unwrap_err();
        assert_eq!(
            first.class,
            ErrorClass::DependencyViolation,
            "{}",
            first.message
        );
        assert!(
            first.message.contains("OpenSearch_3.1"),
            "{}",
            first.message
        );
        let config = body(&aws, 1);
        assert_eq!(config["EBSOptions"]["VolumeSize"], 40);
        assert!(config.get("ClusterConfig").is_none(), "{config}");
        assert!(config.get("EngineVersion").is_none(), "{config}");
        let busy = update(&aws, &desired, &fields).await.unwrap_err();
        assert_eq!(
            busy.class,
            ErrorClass::DependencyViolation,
            "{}",
            busy.message
        );
        let upgraded = update(&aws, &desired, &fields).await.unwrap();
        assert_eq!(
            body(&aws, 4),
            json!({ "DomainName": "dev-search", "TargetVersion": "OpenSearch_3.1" })
        );
        assert_eq!(
            poll(&aws, &upgraded).await,
            Readiness::Pending("upgrading".into())
        );
        aws.assert_done();
        assert_eq!(aws.count(UPDATE), 1);
    }

    #[tokio::test]
    async fn an_update_repeated_after_its_answer_was_lost_sends_nothing() {
        let aws = Replay::new([(
            DESCRIBE,
            200,
            described(json!({
                "DomainEndpointOptions": {
                    "EnforceHTTPS": true,
                    "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"
                }
            })),
        )]);
        let mut desired = spec();
        desired.tls_policy = "Policy-Min-TLS-1-2-2019-07".into();
        update(
            &aws,
            &desired,
            &[SearchDomainSpec::TLS_SECURITY_POLICY.name],
        )
        .await
        .unwrap();
        aws.assert_done();
    }

    /// ListDomainNames, then DescribeDomains five names at a time (its limit) for the stack's
    /// prefix only, then the tags of each domain not being deleted; ownership by the tags.
    #[tokio::test]
    async fn the_read_describes_five_domains_at_a_time_and_keeps_the_stacks_own() {
        let names = [
            "dev-search",
            "dev-a",
            "dev-b",
            "dev-c",
            "dev-d",
            "dev-e",
            "dev-2-search",
            "prod-search",
            "devsearch",
        ];
        let listed = json!({ "DomainNames": names
            .iter()
            .map(|n| json!({ "DomainName": n, "EngineType": "OpenSearch" }))
            .collect::<Vec<_>>() })
        .to_string();
        let status = |name: &str, deleted: bool| {
            let mut d = domain(json!({ "Deleted": deleted }));
            d["DomainName"] = json!(name);
            d["ARN"] = json!(format!("arn:aws:es:us-east-1:1:domain/{name}"));
            d
        };
        let first: Vec<_> = ["dev-search", "dev-a", "dev-b", "dev-c", "dev-d"]
            .iter()
            .map(|n| status(n, *n == "dev-b"))
            .collect();
        let second: Vec<_> = ["dev-e", "dev-2-search"]
            .iter()
            .map(|n| status(n, false))
            .collect();
        let aws = Replay::new([
            ("GET /2021-01-01/domain", 200, listed),
            (
                "POST /2021-01-01/opensearch/domain-info",
                200,
                json!({ "DomainStatusList": first }).to_string(),
            ),
            (
                LIST_TAGS,
                200,
                json!({ "TagList": [
                    { "Key": "mck:stack", "Value": "dev" },
                    { "Key": "mck:id", "Value": "search" },
                    { "Key": "mck:deletion-protection", "Value": "true" }
                ] })
                .to_string(),
            ),
            (LIST_TAGS, 200, tags("dev", "search.old")),
            (LIST_TAGS, 404, not_found()),
            (LIST_TAGS, 200, json!({ "TagList": [] }).to_string()),
            (
                "POST /2021-01-01/opensearch/domain-info",
                200,
                json!({ "DomainStatusList": second }).to_string(),
            ),
            (LIST_TAGS, 200, tags("dev", "search.e")),
            (LIST_TAGS, 200, tags("dev-2", "search")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let read = read(&provider.clients.opensearch, "dev").await.unwrap();
        aws.assert_done();
        let ids: Vec<&str> = read.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["search", "search.old", "search.e"]);
        // The protection is read from the tags, which DescribeDomains does not carry.
        let protection: Vec<bool> = read.iter().map(protected).collect();
        assert_eq!(protection, [true, false, false]);
        assert!(
            aws.uris()[0].contains("engineType=OpenSearch"),
            "{:?}",
            aws.uris()
        );
        assert_eq!(
            body(&aws, 1)["DomainNames"],
            json!(["dev-search", "dev-a", "dev-b", "dev-c", "dev-d"])
        );
        assert_eq!(
            body(&aws, 6)["DomainNames"],
            json!(["dev-e", "dev-2-search"])
        );
    }

    /// DeleteDomain of a domain already gone is done; otherwise the delete waits through
    /// `Deleted: true` (AWS cleaning up, the name still held) until the domain is not found.
    #[tokio::test]
    async fn a_delete_counts_not_found_as_done_and_waits_until_the_domain_is_gone() {
        let aws = Replay::new([
            (DELETE, 409, not_found()),
            (
                DELETE,
                200,
                described(json!({ "Deleted": true, "Processing": true })),
            ),
            (
                DESCRIBE,
                200,
                described(json!({ "Deleted": true, "Processing": true })),
            ),
            (DESCRIBE, 409, not_found()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        SearchDomainSpec::delete(&provider, &live()).await.unwrap();
        SearchDomainSpec::delete(&provider, &live()).await.unwrap();
        assert_eq!(
            poll(&aws, &live()).await,
            Readiness::Pending("deleting".into())
        );
        assert_eq!(poll(&aws, &live()).await, Readiness::Gone);
        aws.assert_done();
    }
}
