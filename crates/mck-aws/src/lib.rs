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

mod ec2;
pub mod error;

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
use mck_core::model::{LogicalId, ResourceSpec};
use mck_core::provider::{Context, Observed, Provider, ProviderError, Readiness};

/// Where and as whom to connect. Unset fields come from the standard AWS configuration chain
/// (environment, profile files, SSO, IMDS), `AWS_ENDPOINT_URL` included.
#[derive(Clone, Debug, Default)]
pub struct AwsConfig {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// The AWS provider.
#[derive(Debug, Clone)]
pub struct AwsProvider {
    ec2: aws_sdk_ec2::Client,
    region: String,
    requests: Arc<AtomicU64>,
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
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl AwsProvider {
    /// Loads AWS configuration and builds the service clients. No request is sent.
    pub async fn connect(config: &AwsConfig, default_region: &str) -> AwsProvider {
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
            // Adaptive retry rate-limits the client when AWS throttles it.
            .retry_config(RetryConfig::adaptive().with_max_attempts(5));
        if let Some(profile) = &config.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(endpoint) = &config.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let region = config
            .region
            .clone()
            .unwrap_or_else(|| default_region.to_string());
        loader = loader.region(aws_config::Region::new(region.clone()));
        let shared = loader.load().await;
        let requests = Arc::new(AtomicU64::new(0));
        let ec2_config = aws_sdk_ec2::config::Builder::from(&shared)
            .interceptor(RequestCounter(requests.clone()))
            .build();
        AwsProvider {
            ec2: aws_sdk_ec2::Client::from_conf(ec2_config),
            region,
            requests,
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

#[async_trait]
impl Provider for AwsProvider {
    async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
        ec2::read_all(&self.ec2, stack).await
    }

    async fn create(
        &self,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &ResourceSpec,
    ) -> Result<Observed, ProviderError> {
        ec2::create(&self.ec2, ctx, id, spec).await
    }

    async fn update(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        ec2::update(&self.ec2, ctx, spec, live, fields).await
    }

    async fn delete(&self, _ctx: &Context<'_>, live: &Observed) -> Result<(), ProviderError> {
        ec2::delete(&self.ec2, live).await
    }

    async fn poll(&self, _ctx: &Context<'_>, live: &Observed) -> Result<Readiness, ProviderError> {
        ec2::poll(&self.ec2, live).await
    }

    fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}
