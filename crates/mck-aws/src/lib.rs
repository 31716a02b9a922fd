//! # mck-aws
//!
//! [`AwsProvider`] implements [`mck_core::provider::Provider`] with the official AWS SDK for
//! Rust. Each resource kind lives in one module with its read, create, update, delete and
//! readiness check; [`error`] classifies SDK errors once.
//!
//! Identity: every taggable resource is created with `mck:stack` / `mck:id` tags in the create
//! call, and read back by filtering on `mck:stack` (and checking ownership client-side, since
//! not every API honours tag filters). Untaggable kinds (routes, associations, rules) are owned
//! by being inside a resource of the stack.

#![warn(missing_docs)]

mod appscaling;
mod autoscaling;
mod backup;
mod cloudtrail;
mod cloudwatch;
mod driver;
mod ec2;
mod ecs;
mod efs;
mod elasticache;
mod elbv2;
pub mod error;
mod iam;
mod lock;
mod logs;
mod mq;
mod opensearch;
mod rds;

pub use lock::DynamoLock;
pub use rotation::AwsDbLogins;
mod retry;
pub mod rotation;
mod route53;
mod secretsmanager;
pub mod session;
mod sns;
mod tagging;
#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use driver::ServiceRead;
use mck_core::model::{LogicalId, ResourceKind, ResourceSpec};
use mck_core::provider::{
    Context, Observed, Provider, ProviderError, Reader, Readiness, Unmanaged, Who,
};

/// Where and as whom to connect. Unset fields come from the standard AWS configuration chain
/// (environment, profile files, SSO, IMDS), `AWS_ENDPOINT_URL` included.
#[derive(Clone, Debug, Default)]
pub struct AwsConfig {
    /// The region.
    pub region: Option<String>,
    /// A named profile of the AWS config files.
    pub profile: Option<String>,
    /// Send every request here (the emulator); `AWS_ENDPOINT_URL` also works.
    pub endpoint_url: Option<String>,
    /// Added to every request's user agent as `app/<name>` (CloudTrail records it), e.g.
    /// `mck-drift`: says which command made a call.
    pub app_name: Option<String>,
}

/// The SDK's retries: adaptive, so a throttled client slows down (a client-side rate limiter)
/// instead of failing steps; 5 attempts per call. Above it, the engine retries throttled and
/// transient errors within each resource's timeout.
fn retry_config() -> RetryConfig {
    RetryConfig::adaptive().with_max_attempts(5)
}

/// The service clients of one shared configuration. Only drivers (through [`AwsProvider`])
/// send requests that change anything.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) rds: aws_sdk_rds::Client,
    pub(crate) elasticache: aws_sdk_elasticache::Client,
    pub(crate) efs: aws_sdk_efs::Client,
    pub(crate) route53: aws_sdk_route53::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    pub(crate) ecs: aws_sdk_ecs::Client,
    pub(crate) elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub(crate) autoscaling: aws_sdk_autoscaling::Client,
    pub(crate) cloudtrail: aws_sdk_cloudtrail::Client,
    /// CloudTrail in us-east-1, where the events of global services (IAM, Route 53) are
    /// recorded, whatever the stack's region.
    pub(crate) cloudtrail_global: aws_sdk_cloudtrail::Client,
    pub(crate) dynamodb: aws_sdk_dynamodb::Client,
    pub(crate) secretsmanager: aws_sdk_secretsmanager::Client,
    pub(crate) mq: aws_sdk_mq::Client,
    pub(crate) opensearch: aws_sdk_opensearch::Client,
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
    pub(crate) sns: aws_sdk_sns::Client,
    pub(crate) appscaling: aws_sdk_applicationautoscaling::Client,
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) backup: aws_sdk_backup::Client,
    pub(crate) tagging: aws_sdk_resourcegroupstagging::Client,
    pub(crate) region: String,
    requests: Arc<AtomicU64>,
    /// Retries of single calls inside a driver (see [`retry`]).
    pub(crate) backoff: Backoff,
}

/// docs/embedding.md, whose snippets compile as this crate's doctests (they use both crates), so
/// the guide cannot fall behind the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/embedding.md")]
pub struct EmbeddingGuide;

/// The AWS provider: reads and changes resources ([`Provider`]).
#[derive(Debug, Clone)]
pub struct AwsProvider {
    clients: Clients,
}

/// The read side of AWS: [`Reader`] and nothing else. `mck drift` and `mck outputs` run on one,
/// so they cannot change anything whatever the code below them does with its answers.
#[derive(Debug, Clone)]
pub struct AwsReader {
    clients: Clients,
}

/// How a driver retries one call that failed with a retryable error: `attempts` tries in all,
/// waiting `base`, `2 × base`, … between them (capped at 30 × `base`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    /// About two minutes in all: longer than EC2's usual eventual-consistency window.
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_millis(500),
            attempts: 10,
        }
    }
}

/// The logical id of a resource owned by `stack`, from its tags as (key, value) pairs: `mck:id`
/// when `mck:stack` names the stack. Checked client-side because some APIs ignore tag filters
/// (NAT gateways in the emulator) and some cannot filter by tag at all (RDS, ElastiCache, EFS).
pub(crate) fn owner<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    stack: &str,
) -> Option<LogicalId> {
    let (mut owner_stack, mut id) = (None, None);
    for (key, value) in tags {
        match key {
            mck_core::model::TAG_STACK => owner_stack = Some(value),
            mck_core::model::TAG_ID => id = Some(value),
            _ => {}
        }
    }
    (owner_stack == Some(stack))
        .then(|| id.map(LogicalId::new))
        .flatten()
}

/// An update planned for a kind without mutable fields: a bug in the model, not user input.
pub(crate) fn no_mutable_fields(kind: ResourceKind) -> ProviderError {
    ProviderError::invalid(format!(
        "internal error: {kind} has no mutable fields but an update was planned (please report this)"
    ))
}

/// A create refused because the resource already exists (a create retried after a crash, or a
/// name taken by someone else): the existing resource is adopted when its tags say it is `id`
/// of this stack; otherwise the create fails, naming what holds the name. `existing` is the
/// resource as read, with the logical id its tags give for this stack; `None` when it cannot
/// be found yet (describe calls lag creates), which is worth retrying.
pub(crate) fn adopt(
    what: &str,
    id: &LogicalId,
    existing: Option<(Option<LogicalId>, Observed)>,
) -> Result<Observed, ProviderError> {
    match existing {
        Some((Some(owner), observed)) if &owner == id => Ok(observed),
        Some((owner, observed)) => Err(ProviderError::invalid(format!(
            "{what} {} already exists and is not {id} of this stack ({}); remove or rename it",
            observed.cloud_id,
            owner.map_or_else(
                || "not tagged for this stack".to_string(),
                |o| format!("tagged as {o}")
            ),
        ))),
        None => Err(ProviderError::new(
            mck_core::provider::ErrorClass::Transient,
            format!("{what} for {id} already exists but is not visible yet"),
        )),
    }
}

/// [`adopt`] for a create that looked its resource up by name: the resource as described
/// when its tags (`read` gives its owner and what it reads as) say it is `id` of this stack.
pub(crate) fn adopt_found<T>(
    what: &str,
    id: &LogicalId,
    existing: Option<T>,
    read: impl FnOnce(&T) -> (Option<LogicalId>, Observed),
) -> Result<T, ProviderError> {
    match existing {
        Some(found) => adopt(what, id, Some(read(&found))).map(|_| found),
        None => Err(adopt(what, id, None).err().unwrap_or_else(|| {
            ProviderError::invalid(format!("internal error: adopted a missing {what}"))
        })),
    }
}

/// A model integer as the 32-bit integer an AWS API takes. Stack validation bounds every such
/// value at load (file:line), so one out of range here is a bug: said as such, never replaced by
/// a guessed default.
pub(crate) fn int32(value: i64, what: &str) -> Result<i32, ProviderError> {
    i32::try_from(value).map_err(|_| {
        ProviderError::invalid(format!(
            "internal error: {what} {value} does not fit the API's 32-bit integer (please report this)"
        ))
    })
}

/// A number AWS answers as a float (an alarm's threshold, a policy's target value) as the model
/// holds it: whole units; a fraction (set outside mck) as text, so it differs from every whole
/// number.
pub(crate) fn whole(value: Option<f64>) -> mck_core::model::Value {
    use mck_core::model::Value;
    match value {
        Some(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Value::Int(v as i64),
        Some(v) => Value::Str(v.to_string()),
        None => Value::Null,
    }
}

/// The error for "describe by id returned nothing".
pub(crate) fn missing(what: &str, cloud_id: &str) -> ProviderError {
    ProviderError::new(
        mck_core::provider::ErrorClass::NotFound,
        format!("{what} {cloud_id} not found"),
    )
}

/// Counts every HTTP request the SDK transmits (retries included), for `--stats`.
#[derive(Debug)]
struct RequestCounter(Arc<AtomicU64>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "mck-request-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        if let Some(op) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            tracing::trace!(
                target: "mck_aws::request",
                service = op.service(),
                operation = op.name(),
                "request"
            );
        }
        Ok(())
    }
}

impl AwsProvider {
    /// Loads AWS configuration and builds the service clients. No request is sent.
    pub async fn connect(config: &AwsConfig, default_region: &str) -> AwsProvider {
        AwsProvider {
            clients: Clients::connect(config, default_region).await,
        }
    }

    /// The stack lock store of this account and region (a DynamoDB table, see [`DynamoLock`]).
    pub fn stack_lock(&self) -> DynamoLock {
        DynamoLock::new(self.clients.dynamodb.clone())
    }

    /// A read-only handle on the same clients (and request count).
    pub fn reader(&self) -> AwsReader {
        AwsReader {
            clients: self.clients.clone(),
        }
    }

    /// The region the clients send requests to.
    pub fn region(&self) -> &str {
        &self.clients.region
    }

    /// A provider whose HTTP requests `http` answers, for offline driver tests: static
    /// credentials, SDK retries off (the scripted answer reaches the driver), fast backoff.
    #[cfg(test)]
    pub(crate) fn offline(
        http: impl aws_smithy_runtime_api::client::http::HttpClient + 'static,
    ) -> AwsProvider {
        AwsProvider {
            clients: Clients::offline(http),
        }
    }

    /// [`AwsProvider::offline`] in another region than us-east-1.
    #[cfg(test)]
    pub(crate) fn offline_in(
        http: impl aws_smithy_runtime_api::client::http::HttpClient + 'static,
        region: &str,
    ) -> AwsProvider {
        AwsProvider {
            clients: Clients::offline_with(http, RetryConfig::disabled(), region),
        }
    }
}

impl AwsReader {
    /// Loads AWS configuration and builds the service clients. No request is sent.
    pub async fn connect(config: &AwsConfig, default_region: &str) -> AwsReader {
        AwsReader {
            clients: Clients::connect(config, default_region).await,
        }
    }

    /// What [`Reader::read_all`] would find of `kinds`, from the reads of only the services
    /// that list them (`mck tunnel` needs one endpoint and one secret, not the whole stack).
    pub async fn read_kinds(
        &self,
        stack: &str,
        kinds: &[ResourceKind],
    ) -> Result<Vec<Observed>, ProviderError> {
        let services = ServiceRead::ALL
            .iter()
            .filter(|service| service.kinds().iter().any(|k| kinds.contains(k)));
        let read = self.clients.read_services(services, stack).await?;
        Ok(read
            .into_iter()
            .filter(|o| kinds.contains(&o.kind))
            .collect())
    }

    /// The region the clients send requests to.
    pub fn region(&self) -> &str {
        &self.clients.region
    }
}

impl Clients {
    async fn connect(config: &AwsConfig, default_region: &str) -> Clients {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            // The SDK sets no operation timeout by default: a hung endpoint would hang mck.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            )
            .retry_config(retry_config());
        if let Some(profile) = &config.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = &config.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(name) = &config.app_name {
            match aws_config::AppName::new(name.clone()) {
                Ok(app) => loader = loader.app_name(app),
                Err(err) => tracing::warn!(name, %err, "not a valid app name; left out"),
            }
        }
        let region = config
            .region
            .clone()
            .unwrap_or_else(|| default_region.to_string());
        loader = loader.region(aws_config::Region::new(region.clone()));
        let shared = loader.load().await;
        Clients::from_shared(&shared, region, Backoff::default())
    }

    /// The service clients of one shared configuration.
    fn from_shared(shared: &aws_config::SdkConfig, region: String, backoff: Backoff) -> Clients {
        let requests = Arc::new(AtomicU64::new(0));
        let counter = || RequestCounter(requests.clone());
        Clients {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            rds: aws_sdk_rds::Client::from_conf(
                aws_sdk_rds::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            elasticache: aws_sdk_elasticache::Client::from_conf(
                aws_sdk_elasticache::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            efs: aws_sdk_efs::Client::from_conf(
                aws_sdk_efs::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            route53: aws_sdk_route53::Client::from_conf(
                aws_sdk_route53::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            cloudtrail: aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            cloudtrail_global: aws_sdk_cloudtrail::Client::from_conf(
                aws_sdk_cloudtrail::config::Builder::from(shared)
                    .region(aws_config::Region::new(cloudtrail::GLOBAL_REGION))
                    .interceptor(counter())
                    .build(),
            ),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            secretsmanager: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            mq: aws_sdk_mq::Client::from_conf(
                aws_sdk_mq::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            opensearch: aws_sdk_opensearch::Client::from_conf(
                aws_sdk_opensearch::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            appscaling: aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            backup: aws_sdk_backup::Client::from_conf(
                aws_sdk_backup::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
                aws_sdk_resourcegroupstagging::config::Builder::from(shared)
                    .interceptor(counter())
                    .build(),
            ),
            region,
            requests,
            backoff,
        }
    }

    #[cfg(test)]
    fn offline(http: impl aws_smithy_runtime_api::client::http::HttpClient + 'static) -> Clients {
        Clients::offline_with(http, RetryConfig::disabled(), "us-east-1")
    }

    #[cfg(test)]
    fn offline_with(
        http: impl aws_smithy_runtime_api::client::http::HttpClient + 'static,
        retry: RetryConfig,
        region: &str,
    ) -> Clients {
        let shared = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                aws_sdk_ec2::config::Credentials::new("AKIDTEST", "secret", None, None, "test"),
            ))
            .http_client(aws_smithy_runtime_api::client::http::SharedHttpClient::new(
                http,
            ))
            .retry_config(retry)
            .build();
        Clients::from_shared(
            &shared,
            region.to_string(),
            Backoff {
                base: Duration::from_millis(1),
                attempts: 6,
            },
        )
    }

    /// Every service is read concurrently ([`ServiceRead::ALL`]); each reads its kinds
    /// concurrently too.
    async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
        self.read_services(ServiceRead::ALL.iter(), stack).await
    }

    /// The reads of `services`, concurrently.
    async fn read_services(
        &self,
        services: impl Iterator<Item = &ServiceRead>,
        stack: &str,
    ) -> Result<Vec<Observed>, ProviderError> {
        let reads = services.map(|&service| self.read_service(service, stack));
        let per_service = try_join_all(reads.collect()).await?;
        Ok(per_service.into_iter().flatten().collect())
    }

    /// One service's batch read: the kinds of its `KINDS`.
    pub(crate) async fn read_service(
        &self,
        service: ServiceRead,
        stack: &str,
    ) -> Result<Vec<Observed>, ProviderError> {
        let listed = match service {
            ServiceRead::Ec2 => ec2::read_all(&self.ec2, stack).await?,
            ServiceRead::Rds => rds::read(&self.rds, &self.secretsmanager, stack).await?,
            ServiceRead::ElastiCache => elasticache::read(&self.elasticache, stack).await?,
            ServiceRead::Efs => efs::read(&self.efs, stack, &self.region).await?,
            ServiceRead::Route53 => route53::read(&self.route53, stack).await?,
            ServiceRead::Iam => iam::read(&self.iam, stack).await?,
            ServiceRead::Logs => logs::read(&self.logs, stack).await?,
            ServiceRead::Ecs => ecs::read(&self.ecs, stack).await?,
            ServiceRead::Elbv2 => elbv2::read(&self.elbv2, stack).await?,
            ServiceRead::AutoScaling => autoscaling::read(&self.autoscaling, stack).await?,
            ServiceRead::SecretsManager => {
                secretsmanager::read(&self.secretsmanager, stack).await?
            }
            ServiceRead::Mq => mq::read(&self.mq, stack).await?,
            ServiceRead::OpenSearch => opensearch::read(&self.opensearch, stack).await?,
            ServiceRead::CloudWatch => cloudwatch::read(&self.cloudwatch, stack).await?,
            ServiceRead::Sns => sns::read(&self.sns, stack).await?,
            ServiceRead::AppScaling => appscaling::read(&self.appscaling, stack).await?,
            ServiceRead::Backup => backup::read(&self.backup, stack).await?,
        };
        listed.checked(service)
    }

    /// Untagged security groups, instances, subnets and route tables in the stack's VPC, and
    /// records in its private zone that mck did not make.
    async fn read_unmanaged(
        &self,
        stack: &str,
        owned: &[Observed],
    ) -> Result<Vec<Unmanaged>, ProviderError> {
        let (network, records) = tokio::try_join!(
            ec2::read_unmanaged(&self.ec2, stack, owned),
            route53::read_unmanaged(&self.route53, stack, owned),
        )?;
        Ok(network.into_iter().chain(records).collect())
    }

    fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// The [`Reader`] of both handles: the same reads on the same clients.
macro_rules! reader_via_clients {
    ($handle:ty) => {
        #[async_trait]
        impl Reader for $handle {
            async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
                self.clients.read_all(stack).await
            }

            async fn read_unmanaged(
                &self,
                stack: &str,
                owned: &[Observed],
            ) -> Result<Vec<Unmanaged>, ProviderError> {
                self.clients.read_unmanaged(stack, owned).await
            }

            async fn list_stacks(&self) -> Result<Vec<String>, ProviderError> {
                ec2::list_stacks(&self.clients.ec2).await
            }

            async fn list_networks(
                &self,
            ) -> Result<Vec<mck_core::provider::Network>, ProviderError> {
                ec2::list_networks(&self.clients.ec2).await
            }

            async fn count_resources(
                &self,
            ) -> Result<std::collections::BTreeMap<String, usize>, ProviderError> {
                tagging::count_resources(&self.clients.tagging).await
            }

            async fn last_write(&self, kind: ResourceKind, cloud_id: &str) -> Who {
                let trail = if cloudtrail::is_global(kind) {
                    &self.clients.cloudtrail_global
                } else {
                    &self.clients.cloudtrail
                };
                cloudtrail::last_write(trail, cloud_id).await
            }

            async fn live_release(
                &self,
                stack: &str,
            ) -> Result<Option<mck_core::stack::LiveRelease>, ProviderError> {
                ecs::live_release(&self.clients.ecs, stack).await
            }

            async fn revisions(
                &self,
                family: &str,
            ) -> Result<Vec<mck_core::provider::Revision>, ProviderError> {
                ecs::registered_revisions(&self.clients.ecs, family).await
            }

            fn request_count(&self) -> u64 {
                self.clients.request_count()
            }
        }
    };
}

reader_via_clients!(AwsReader);
reader_via_clients!(AwsProvider);

#[async_trait]
impl Provider for AwsProvider {
    async fn create(
        &self,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &ResourceSpec,
    ) -> Result<Observed, ProviderError> {
        driver::create(self, ctx, id, spec).await
    }

    async fn update(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        driver::update(self, ctx, spec, live, fields).await
    }

    async fn delete(&self, _ctx: &Context<'_>, live: &Observed) -> Result<(), ProviderError> {
        driver::delete(self, live).await
    }

    async fn poll(&self, ctx: &Context<'_>, live: &Observed) -> Result<Readiness, ProviderError> {
        driver::poll(self, ctx, live).await
    }

    async fn retire(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        old: &Observed,
    ) -> Result<bool, ProviderError> {
        match spec {
            ResourceSpec::TaskDefinition(td) => ecs::prune_revisions(self, td, old).await,
            _ => self.delete(ctx, old).await.map(|()| true),
        }
    }

    async fn tag_network(&self, id: &str, tags: &[(String, String)]) -> Result<(), ProviderError> {
        ec2::tag_network(&self.clients.ec2, id, tags).await
    }
}

/// Runs the futures concurrently on the current task and returns their results in order; the
/// first error ends the wait (the others are dropped, as `tokio::try_join!` does).
async fn try_join_all<T, F>(futures: Vec<F>) -> Result<Vec<T>, ProviderError>
where
    F: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future_idx, future) in futures.iter_mut().enumerate() {
            if results[future_idx].is_some() {
                continue;
            }
            match future.as_mut().poll(cx) {
                std::task::Poll::Ready(Ok(value)) => results[future_idx] = Some(value),
                std::task::Poll::Ready(Err(error)) => return std::task::Poll::Ready(Err(error)),
                std::task::Poll::Pending => waiting = true,
            }
        }
        if waiting {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(results.into_iter().flatten().collect())
}

#[cfg(test)]
mod join_tests {
    use super::*;

    #[tokio::test]
    async fn results_come_in_order_and_the_first_error_ends_the_wait() {
        let slow_then_fast = vec![
            Box::pin(async {
                tokio::task::yield_now().await;
                Ok::<_, ProviderError>(1)
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            Box::pin(async { Ok(2) }),
        ];
        assert_eq!(try_join_all(slow_then_fast).await.unwrap(), vec![1, 2]);
        let failing = vec![
            Box::pin(std::future::pending::<Result<u8, ProviderError>>())
                as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            Box::pin(async { Err(ProviderError::invalid("refused")) }),
        ];
        assert!(try_join_all(failing).await.is_err());
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    /// A value that does not fit the API's integer fails as a bug; nothing is guessed.
    #[test]
    fn an_integer_out_of_range_is_an_error_not_a_default() {
        assert_eq!(int32(6, "max_size").unwrap(), 6);
        let err = int32(5_000_000_000, "max_size").unwrap_err();
        assert_eq!(err.class, mck_core::provider::ErrorClass::Invalid);
        assert!(
            err.message.contains("max_size 5000000000") && err.message.contains("internal error"),
            "{}",
            err.message
        );
    }
    use crate::testing::{Replay, error_xml};

    /// Throttling answered by AWS is absorbed by the SDK's adaptive retry with mck's settings:
    /// the call succeeds, after as many attempts as it was throttled.
    #[tokio::test]
    async fn the_sdk_retries_throttled_calls_with_mcks_settings() {
        let tags = crate::testing::ec2_xml(
            "DescribeTags",
            "<tagSet><item><key>mck:stack</key><value>prod</value><resourceId>vpc-1</resourceId><resourceType>vpc</resourceType></item></tagSet>",
        );
        let throttled = || error_xml("RequestLimitExceeded", "Request limit exceeded.");
        // (Once is enough: after a throttle the adaptive rate limiter slows the client down for
        // real, seconds per request, which is the point on AWS and slow in a test.)
        let aws = Replay::new([
            ("DescribeTags", 503, throttled()),
            ("DescribeTags", 200, tags),
        ]);
        let clients = Clients::offline_with(
            aws.clone(),
            retry_config().with_initial_backoff(Duration::from_millis(1)),
            "us-east-1",
        );
        let stacks = ec2::list_stacks(&clients.ec2).await.unwrap();
        assert_eq!(stacks, ["prod"]);
        aws.assert_done();
        assert_eq!(clients.request_count(), 2, "each attempt is a request");
    }
}
