//! Amazon OpenSearch Service: the stack's search domain (`<stack>-search`, Magento's catalog
//! search engine).
//!
//! Read with `ListDomainNames` (engine type OpenSearch), then `DescribeDomains` for the names
//! that start with `<stack>-`, five at a time (the most the call takes), and `ListTags` for each
//! of those domains: ownership is by the `mck:stack`/`mck:id` tags, as for every named data
//! resource; the name prefix only spares the tag reads of other stacks' domains.

mod domain;

use crate::driver::Listed;
use aws_sdk_opensearch::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::SearchDomain];

pub(crate) async fn read(os: &Client, stack: &str) -> Result<Listed, ProviderError> {
    Ok(Listed::default().with(ResourceKind::SearchDomain, domain::read(os, stack).await?))
}
