//! Error classification, done once at the driver boundary.
//!
//! EC2 models no error shapes: every service error is "unhandled" with a code, so the code is
//! what we classify (`ProvideErrorMetadata::code`). Services that model errors (RDS, ECS…) match
//! their variants first in their own modules and fall back to this.

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
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
    if THROTTLED.contains(&code) {
        ErrorClass::Throttled
    } else if DENIED.contains(&code) {
        ErrorClass::Denied
    } else if DEPENDENCY.contains(&code) {
        ErrorClass::DependencyViolation
    } else if code.ends_with(".NotFound")
        || code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
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
    }
}
