//! Error classification, done once at the driver boundary.
//!
//! EC2 models no error shapes: every service error is "unhandled" with a code. The other
//! services' modelled errors carry their shape name as the code (`DBClusterNotFoundFault`), so
//! one classification by code serves all services; drivers that must tell one modelled error
//! from another (e.g. "already exists" on a retried create) check the code at the call site.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use mck_core::provider::{ErrorClass, ProviderError};

/// Converts an SDK error into the core's classified error; `what` says what was being done to
/// which resource ("create subnet subnet.public.a").
pub(crate) fn sdk<E>(what: &str, err: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut class = classify(&err);
    let detail = match (&err, err.code()) {
        (SdkError::ServiceError(_), Some(code)) => {
            let message = err.message().unwrap_or("no message");
            match credential_fix(code) {
                Some(fix) => format!("{code}: {message}; {fix}"),
                None => format!("{code}: {message}"),
            }
        }
        // An answer that is not an AWS error (an HTML 500 page from a proxy or an emulator):
        // its status and the start of its body, not the whole response's debug dump.
        (SdkError::ServiceError(ctx), None) => {
            let raw = ctx.raw();
            let body = raw
                .body()
                .bytes()
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let body: String = body.chars().take(160).collect();
            format!(
                "HTTP {} without an AWS error code ({body})",
                raw.status().as_u16()
            )
        }
        _ => {
            let full = DisplayErrorContext(&err).to_string();
            match transport_problem(&full) {
                Some((problem_class, text)) => {
                    class = problem_class;
                    text
                }
                None => full,
            }
        }
    };
    tracing::debug!(error = %DisplayErrorContext(&err), ?class, "{what} failed");
    let error = ProviderError::new(class, format!("failed to {what}: {detail}"));
    match err.code() {
        Some(code) => error.with_code(code),
        None => error,
    }
}

/// What to do about an error code that is about the credentials, not the request.
fn credential_fix(code: &str) -> Option<&'static str> {
    match code {
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
            Some(
                "the AWS credentials have expired: refresh them (`aws sso login`, or assume the role again)",
            )
        }
        "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "AuthFailure"
        | "InvalidAccessKeyId"
        | "UnauthorizedException" => Some(
            "the AWS credentials are not valid: check the access key or profile, and the clock",
        ),
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "ForbiddenException" => {
            Some("grant this permission to the identity mck runs as (docs/operations.md)")
        }
        "OptInRequired" => Some("the account is not subscribed to this service in this region"),
        _ => None,
    }
}

/// A failure before AWS answered, in one line with what to do: no credentials (not worth
/// retrying), or AWS unreachable (retried: networks recover).
fn transport_problem(full: &str) -> Option<(ErrorClass, String)> {
    if full.contains("CredentialsNotLoaded") || full.contains("no credentials") {
        return Some((
            ErrorClass::Denied,
            "no AWS credentials found (environment, profiles, SSO, web identity, container or instance metadata): set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`".into(),
        ));
    }
    let unreachable = [
        ("Connection refused", "connection refused"),
        ("dns error", "the endpoint's name does not resolve"),
        (
            "failed to lookup address",
            "the endpoint's name does not resolve",
        ),
        ("timed out", "no answer in time"),
        ("TimeoutError", "no answer in time"),
        ("tcp connect error", "cannot connect"),
    ];
    unreachable
        .iter()
        .find(|(needle, _)| full.contains(needle))
        .map(|(_, cause)| {
            (
                ErrorClass::Transient,
                format!(
                    "cannot reach AWS ({cause}): check the network, the region, and --endpoint-url or AWS_ENDPOINT_URL"
                ),
            )
        })
}

pub(crate) fn classify<E>(err: &SdkError<E, HttpResponse>) -> ErrorClass
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Transient
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            classify_code(err.code().unwrap_or(""), status)
        }
        _ => ErrorClass::Invalid,
    }
}

/// Classifies an AWS error code (and HTTP status when known).
pub fn classify_code(code: &str, status: u16) -> ErrorClass {
    const THROTTLED: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "PriorRequestNotComplete",
        "SlowDown",
    ];
    const DENIED: &[&str] = &[
        "UnauthorizedOperation",
        "AuthFailure",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "OptInRequired",
        // Amazon MQ: 403 and 401.
        "ForbiddenException",
        "UnauthorizedException",
    ];
    const DEPENDENCY: &[&str] = &[
        "DependencyViolation",
        "InvalidIPAddress.InUse",
        "Resource.AlreadyAssociated",
        "IncorrectState",
        "InvalidState",
        "IncorrectInstanceState",
        "InvalidNetworkInterface.InUse",
        // IAM: a role still has policies or instance profiles, a profile still has a role.
        "DeleteConflict",
        // ECS: a cluster still runs services, tasks or container instances.
        "ClusterContainsServicesException",
        "ClusterContainsTasksException",
        "ClusterContainsContainerInstancesException",
        // ELBv2 and Auto Scaling: a target group or launch template still in use.
        "ResourceInUse",
        "ResourceInUseException",
        "ResourceInUseFault",
        // Auto Scaling: a scaling activity is running.
        "ScalingActivityInProgress",
        "ScalingActivityInProgressFault",
    ];
    // Another change of the same object was running: AWS says to try again.
    const CONCURRENT: &[&str] = &[
        // IAM: "multiple requests to change this object were submitted simultaneously".
        "ConcurrentModification",
        "ConcurrentModificationException",
        // CloudWatch Logs: "multiple concurrent requests to update the same resource".
        "OperationAbortedException",
    ];
    // `InvalidDBClusterStateFault`, `IncorrectFileSystemLifeCycleState`…: the resource is busy.
    let state_conflict =
        (code.starts_with("Invalid") || code.starts_with("Incorrect")) && code.contains("State");
    if THROTTLED.contains(&code) {
        ErrorClass::Throttled
    } else if DENIED.contains(&code) {
        ErrorClass::Denied
    } else if DEPENDENCY.contains(&code)
        || state_conflict
        || code.ends_with("InUse")
        || code.ends_with("NotEmpty")
    {
        ErrorClass::DependencyViolation
    } else if code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
        || code.ends_with("NotFoundException")
        || code.starts_with("NoSuch")
    {
        ErrorClass::NotFound
    } else if code == "InternalError"
        || code == "ServiceUnavailable"
        || code == "Unavailable"
        || CONCURRENT.contains(&code)
        || status >= 500
    {
        ErrorClass::Transient
    } else {
        ErrorClass::Invalid
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// An AWS-shaped service error for an operation, as the SDK hands it to a driver.
    fn service_error<E>(
        make: fn(ErrorMetadata) -> E,
        status: u16,
        code: &str,
    ) -> SdkError<E, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("AWS says no")
            .build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(make(meta), raw)
    }

    /// The codes each service answers for the situations the engine must tell apart: gone
    /// (right after a create, or already deleted), busy or still used (a delete's dependency),
    /// throttled, and a bad request. Each runs through the driver boundary (`sdk`), not only
    /// the code table, and keeps the code for the summary.
    #[test]
    fn each_services_errors_are_classified_at_the_boundary() {
        use ErrorClass::*;
        let check = |err: ProviderError, class: ErrorClass, code: &str| {
            assert_eq!(err.class, class, "{code}: {}", err.message);
            assert_eq!(err.code.as_deref(), Some(code));
            assert!(err.message.contains(code) && err.message.contains("AWS says no"));
        };
        use aws_sdk_ec2::operation::{
            create_vpc::CreateVpcError, delete_subnet::DeleteSubnetError,
            describe_vpcs::DescribeVpcsError,
        };
        for (code, status, class) in [
            ("InvalidVpcID.NotFound", 400, NotFound),
            ("InvalidGroup.NotFound", 400, NotFound),
            ("InvalidRouteTableID.NotFound", 400, NotFound),
            ("RequestLimitExceeded", 503, Throttled),
            ("InvalidParameterValue", 400, Invalid),
            ("UnauthorizedOperation", 403, Denied),
            ("InternalError", 500, Transient),
        ] {
            check(
                sdk(
                    "describe VPC",
                    service_error(DescribeVpcsError::generic, status, code),
                ),
                class,
                code,
            );
        }
        check(
            sdk(
                "delete subnet",
                service_error(DeleteSubnetError::generic, 400, "DependencyViolation"),
            ),
            DependencyViolation,
            "DependencyViolation",
        );
        check(
            sdk(
                "create VPC",
                service_error(CreateVpcError::generic, 400, "VpcLimitExceeded"),
            ),
            Invalid,
            "VpcLimitExceeded",
        );

        use aws_sdk_rds::operation::{
            delete_db_cluster::DeleteDBClusterError,
            delete_db_subnet_group::DeleteDBSubnetGroupError,
        };
        for (code, class) in [
            ("DBClusterNotFoundFault", NotFound),
            ("InvalidDBClusterStateFault", DependencyViolation),
            ("Throttling", Throttled),
        ] {
            check(
                sdk(
                    "delete cluster",
                    service_error(DeleteDBClusterError::generic, 400, code),
                ),
                class,
                code,
            );
        }
        check(
            sdk(
                "delete DB subnet group",
                service_error(
                    DeleteDBSubnetGroupError::generic,
                    400,
                    "InvalidDBSubnetGroupStateFault",
                ),
            ),
            DependencyViolation,
            "InvalidDBSubnetGroupStateFault",
        );

        use aws_sdk_elasticache::operation::delete_replication_group::DeleteReplicationGroupError;
        for (code, class) in [
            ("ReplicationGroupNotFoundFault", NotFound),
            ("InvalidReplicationGroupState", DependencyViolation),
            ("CacheSubnetGroupInUse", DependencyViolation),
        ] {
            check(
                sdk(
                    "delete replication group",
                    service_error(DeleteReplicationGroupError::generic, 400, code),
                ),
                class,
                code,
            );
        }

        use aws_sdk_efs::operation::delete_file_system::DeleteFileSystemError;
        for (code, status, class) in [
            ("FileSystemNotFound", 404, NotFound),
            ("FileSystemInUse", 409, DependencyViolation),
            ("MountTargetNotFound", 404, NotFound),
            ("AccessPointNotFound", 404, NotFound),
            ("ThrottlingException", 429, Throttled),
        ] {
            check(
                sdk(
                    "delete file system",
                    service_error(DeleteFileSystemError::generic, status, code),
                ),
                class,
                code,
            );
        }

        // Amazon MQ's errors are generic: a busy broker is a `BadRequestException` too, which
        // its driver tells apart by the broker's state (`mq::broker`'s `refusal`).
        use aws_sdk_mq::operation::update_broker::UpdateBrokerError;
        for (code, status, class) in [
            ("NotFoundException", 404, NotFound),
            ("BadRequestException", 400, Invalid),
            ("ForbiddenException", 403, Denied),
            ("UnauthorizedException", 401, Denied),
            ("InternalServerErrorException", 500, Transient),
        ] {
            check(
                sdk(
                    "update broker mq.broker",
                    service_error(UpdateBrokerError::generic, status, code),
                ),
                class,
                code,
            );
        }

        use aws_sdk_route53::operation::delete_hosted_zone::DeleteHostedZoneError;
        for (code, class) in [
            ("NoSuchHostedZone", NotFound),
            ("HostedZoneNotEmpty", DependencyViolation),
            ("PriorRequestNotComplete", Throttled),
        ] {
            check(
                sdk(
                    "delete zone",
                    service_error(DeleteHostedZoneError::generic, 400, code),
                ),
                class,
                code,
            );
        }
    }

    #[test]
    fn transport_failures_are_transient_and_carry_no_code() {
        use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
        let err: SdkError<DescribeVpcsError, HttpResponse> =
            SdkError::timeout_error("connection timed out");
        let err = sdk("list VPCs", err);
        assert_eq!(err.class, ErrorClass::Transient);
        assert_eq!(err.code, None);
    }

    #[test]
    fn dependency_codes_of_the_services_to_come_are_dependency_violations() {
        for code in [
            "DeleteConflict",
            "ClusterContainsServicesException",
            "ClusterContainsTasksException",
            "ClusterContainsContainerInstancesException",
            "ResourceInUse",
            "ResourceInUseException",
            "ScalingActivityInProgress",
        ] {
            assert_eq!(
                classify_code(code, 400),
                ErrorClass::DependencyViolation,
                "{code}"
            );
        }
        for code in [
            "ClusterNotFoundException",
            "ServiceNotFoundException",
            "NoSuchEntity",
            "TargetGroupNotFound",
            "LoadBalancerNotFound",
        ] {
            assert_eq!(classify_code(code, 400), ErrorClass::NotFound, "{code}");
        }
    }

    /// IAM's `ConcurrentModification` and CloudWatch Logs' `OperationAbortedException` ask the
    /// caller to try again (another change of the object was running): transient. The retry
    /// that then succeeds: `iam::role`'s `a_concurrent_change_of_the_role_is_retried_and_the_attach_goes_through`.
    #[test]
    fn concurrent_changes_of_one_object_are_transient() {
        use aws_sdk_cloudwatchlogs::operation::put_retention_policy::PutRetentionPolicyError;
        use aws_sdk_iam::operation::attach_role_policy::AttachRolePolicyError;
        let iam = sdk(
            "attach a policy to iam.task",
            service_error(
                AttachRolePolicyError::generic,
                409,
                "ConcurrentModification",
            ),
        );
        assert_eq!(iam.class, ErrorClass::Transient, "{}", iam.message);
        let logs = sdk(
            "set the retention of logs.frontend",
            service_error(
                PutRetentionPolicyError::generic,
                400,
                "OperationAbortedException",
            ),
        );
        assert_eq!(logs.class, ErrorClass::Transient, "{}", logs.message);
    }

    #[test]
    fn codes_are_classified() {
        assert_eq!(
            classify_code("RequestLimitExceeded", 503),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify_code("InvalidVpcID.NotFound", 400),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code("InvalidAllocationID.NotFound", 400),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code("DependencyViolation", 400),
            ErrorClass::DependencyViolation
        );
        assert_eq!(
            classify_code("UnauthorizedOperation", 403),
            ErrorClass::Denied
        );
        assert_eq!(
            classify_code("InvalidParameterValue", 400),
            ErrorClass::Invalid
        );
        assert_eq!(classify_code("", 500), ErrorClass::Transient);
        assert_eq!(
            classify_code("DBClusterNotFoundFault", 404),
            ErrorClass::NotFound
        );
        assert_eq!(classify_code("NoSuchHostedZone", 404), ErrorClass::NotFound);
        assert_eq!(
            classify_code("InvalidDBClusterStateFault", 400),
            ErrorClass::DependencyViolation
        );
        assert_eq!(
            classify_code("FileSystemInUse", 409),
            ErrorClass::DependencyViolation
        );
        assert_eq!(
            classify_code("HostedZoneNotEmpty", 400),
            ErrorClass::DependencyViolation
        );
        assert_eq!(
            classify_code("PriorRequestNotComplete", 400),
            ErrorClass::Throttled
        );
    }

    /// Credential and permission errors say what to do, in one line, and are never retried.
    #[test]
    fn credential_errors_name_the_cause_and_the_fix() {
        use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
        for (code, fix) in [
            (
                "UnauthorizedOperation",
                "grant this permission to the identity mck runs as",
            ),
            ("AccessDenied", "grant this permission"),
            (
                "ExpiredToken",
                "the AWS credentials have expired: refresh them",
            ),
            ("RequestExpired", "have expired"),
            ("AuthFailure", "the AWS credentials are not valid"),
            ("InvalidClientTokenId", "not valid"),
        ] {
            let err = sdk(
                "list VPCs",
                service_error(DescribeVpcsError::generic, 403, code),
            );
            assert_eq!(err.class, ErrorClass::Denied, "{code}");
            assert!(err.message.contains(fix), "{code}: {}", err.message);
            assert!(!err.message.contains('\n'), "one line: {}", err.message);
        }
    }

    #[test]
    fn failures_before_aws_answers_say_what_to_check() {
        let (class, text) = transport_problem(
            "dispatch failure: other: CredentialsNotLoaded(CredentialsNotLoaded { source: None })",
        )
        .unwrap();
        assert_eq!(class, ErrorClass::Denied, "not retried");
        assert!(
            text.contains("AWS_PROFILE") && text.contains("aws sso login"),
            "{text}"
        );
        let (class, text) = transport_problem(
            "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused (os error 111)",
        )
        .unwrap();
        assert_eq!(class, ErrorClass::Transient, "retried: networks recover");
        assert!(
            text.contains("connection refused") && text.contains("AWS_ENDPOINT_URL"),
            "{text}"
        );
        let (_, text) =
            transport_problem("dns error: failed to lookup address information").unwrap();
        assert!(text.contains("does not resolve"), "{text}");
        assert_eq!(transport_problem("unhandled error (Something)"), None);
    }

    /// A 500 answered with an HTML page (a proxy, an emulator) has no AWS error code: the
    /// message gives its status and the start of its body, never the response's debug dump,
    /// and it is retried like any server error.
    #[test]
    fn an_answer_that_is_not_an_aws_error_is_one_short_line() {
        use aws_sdk_elasticache::operation::increase_replica_count::IncreaseReplicaCountError;
        let html = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>";
        let raw = HttpResponse::new(StatusCode::try_from(500).unwrap(), SdkBody::from(html));
        let err = sdk(
            "add replicas to redis.cache",
            SdkError::service_error(
                IncreaseReplicaCountError::generic(ErrorMetadata::builder().build()),
                raw,
            ),
        );
        assert_eq!(err.class, ErrorClass::Transient, "{}", err.message);
        assert_eq!(
            err.message,
            "failed to add replicas to redis.cache: HTTP 500 without an AWS error code (<!doctype html> <html lang=en> <title>500 Internal Server Error</title> <h1>Internal Server Error</h1>)"
        );
        assert!(!err.message.contains("ServiceError"));
    }
}
