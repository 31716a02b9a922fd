//! Secrets Manager: the generated logins of the stack's services (`mck/<stack>/<service>`),
//! read with one paginated ListSecrets filtered by the name prefix, owners checked by tags.

mod secret;

use crate::driver::Listed;
use aws_sdk_secretsmanager::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

pub(crate) use secret::{Login, generate_password, login, parse_login};

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::Secret];

pub(crate) async fn read(sm: &Client, stack: &str) -> Result<Listed, ProviderError> {
    Ok(Listed::default().with(ResourceKind::Secret, secret::read(sm, stack).await?))
}
