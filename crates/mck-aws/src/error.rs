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
    let class = classify(&err);
    let detail = match (&err, err.code()) {
        (SdkError::ServiceError(_), Some(code)) => {
            format!("{code}: {}", err.message().unwrap_or("no message"))
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    tracing::debug!(error = %DisplayErrorContext(&err), ?class, "{what} failed");
    ProviderError::new(class, format!("failed to {what}: {detail}"))
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
        "SignatureDoesNotMatch",
        "OptInRequired",
    ];
    const DEPENDENCY: &[&str] = &[
        "DependencyViolation",
        "InvalidIPAddress.InUse",
        "Resource.AlreadyAssociated",
        "IncorrectState",
        "InvalidState",
        "IncorrectInstanceState",
        "InvalidNetworkInterface.InUse",
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
        || code.starts_with("NoSuch")
    {
        ErrorClass::NotFound
    } else if code == "InternalError"
        || code == "ServiceUnavailable"
        || code == "Unavailable"
        || status >= 500
    {
        ErrorClass::Transient
    } else {
        ErrorClass::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
