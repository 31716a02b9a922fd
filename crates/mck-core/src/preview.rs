//! Previews: short-lived stacks made from another stack's file (`mck up --stack pr-123 --from
//! stage`), each with its own name, its own address space and a lifetime (docs/previews.md).
//!
//! A preview has no file. What it is lives in the tags of its resources
//! ([`PreviewOf::tags`]): its VPC, which every stack has, is its anchor, read with
//! [`Reader::list_networks`]. A new preview's address space is chosen, and its VPC made, under
//! a lock of its source (`previews-of-<source>`), which also holds the count of live previews
//! to the source's `preview.max`: two previews made at once never get the same CIDR, and the
//! cap cannot be passed by racing it. The lock is released once the VPC is visible to reads,
//! so the next one to choose sees it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::exec::CancelToken;
use crate::graph::GraphError;
use crate::lock::{LeaseTiming, LockError, LockGuard, LockHolder, StackLock};
use crate::provider::{Context, Network, Provider, ProviderError, Reader, Readiness};
use crate::stack::{Override, PreviewOf, Stack, StackError};

/// The lock a source's previews are made under.
pub fn lock_key(from: &str) -> String {
    format!("previews-of-{from}")
}

/// How long a new preview waits for another to finish choosing its address space.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// How long a new VPC may take to show in reads before the lock is released anyway.
const VISIBLE_WAIT: Duration = Duration::from_secs(120);

/// What a preview is asked to be.
#[derive(Debug)]
pub struct PreviewRequest<'a> {
    /// The stack files.
    pub dir: &'a Path,
    /// The preview's name.
    pub name: &'a str,
    /// The stack it is made from.
    pub from: &'a str,
    /// How long it lives (default: the source's `preview.ttl`). A preview that exists lives
    /// on until the later of its expiry and now + `ttl`.
    pub ttl: Option<Duration>,
    /// Who makes it (CI's actor).
    pub created_by: String,
    /// An empty database instead of a clone.
    pub empty_db: bool,
    /// `--set` values over the preview.
    pub overrides: &'a [Override],
}

/// A live preview, as its VPC's tags tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LivePreview {
    /// Its name.
    pub name: String,
    /// What it is.
    pub of: PreviewOf,
}

/// Why a preview was not made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// A stack file did not load.
    #[error("{0}")]
    Stack(#[from] StackError),
    /// The preview's graph is invalid.
    #[error("{0}")]
    Graph(#[from] GraphError),
    /// The cloud could not be read or changed.
    #[error("{0}")]
    Cloud(#[from] ProviderError),
    /// The source's lock could not be taken.
    #[error("{0}")]
    Lock(#[from] LockError),
    /// The source has as many live previews as its `preview.max`.
    #[error(
        "stack {from} already has {} live previews (its `preview.max` is {max}): {}; remove one (`mck down --stack NAME --from {from}`, or `mck down --expired`) or raise `preview.max`",
        live.len(),
        live.iter().map(describe).collect::<Vec<_>>().join(", ")
    )]
    Cap {
        /// The source.
        from: String,
        /// Its cap.
        max: usize,
        /// Its live previews.
        live: Vec<LivePreview>,
    },
    /// No /16 of 10.0.0.0/8 from 10.100.0.0 up is free in the account and region.
    #[error(
        "no free /16 address space for a preview between 10.100.0.0 and 10.255.0.0: every one overlaps a VPC of the account in this region"
    )]
    NoAddressSpace,
    /// A stack of the name exists and is not a preview of the source.
    #[error("stack {name} exists and is not a preview of {from}{}; pick another name", match is_of { Some(other) => format!(" (it is a preview of {other})"), None => String::new() })]
    NotAPreviewOf {
        /// The name asked for.
        name: String,
        /// The source asked for.
        from: String,
        /// What it is a preview of, if it is one.
        is_of: Option<String>,
    },
}

fn describe(p: &LivePreview) -> String {
    format!(
        "{} (by {}, expires {})",
        p.name,
        p.of.created_by,
        crate::time::rfc3339(p.of.expires)
    )
}

/// The previews among `networks`, by their VPCs' tags, sorted by name.
pub fn live_previews(networks: &[Network]) -> Vec<LivePreview> {
    let mut out: Vec<LivePreview> = networks
        .iter()
        .filter_map(|n| {
            Some(LivePreview {
                name: n.stack()?.to_string(),
                of: PreviewOf::from_tags(&n.tags, &n.cidr)?,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// The first /16 from 10.100.0.0/16 to 10.255.0.0/16 that overlaps none of `taken`.
pub fn free_cidr(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    (100..=255u8)
        .filter_map(|second| Ipv4Net::new(std::net::Ipv4Addr::new(10, second, 0, 0), 16).ok())
        .find(|candidate| {
            !taken
                .iter()
                .any(|t| t.contains(&candidate.network()) || candidate.contains(&t.network()))
        })
}

/// Loads the preview `request.name` of `request.from`: the one that exists (its recorded
/// address space, creator and expiry), or a new one, whose address space is chosen and whose
/// VPC is made under the source's lock (see the module's documentation). `holder` and
/// `is_stale` are the lock's, as for `up`.
pub async fn prepare(
    provider: &dyn Provider,
    lock: Arc<dyn StackLock>,
    request: &PreviewRequest<'_>,
    holder: LockHolder,
    is_stale: &(dyn Fn(&LockHolder) -> bool + Send + Sync),
) -> Result<Stack, PreviewError> {
    if let Some((network, mut of)) = find(provider, request.name, request.from).await? {
        // A longer life asked for (CI's next push): the VPC's tag, which `ls` and
        // `down --expired` read, says so; never a shorter one.
        if let Some(ttl) = request.ttl {
            let expires = crate::time::now_unix() + ttl.as_secs();
            if expires > of.expires {
                let tag = (
                    PreviewOf::TAG_EXPIRES.to_string(),
                    crate::time::rfc3339(expires),
                );
                provider.tag_network(&network.id, &[tag]).await?;
                of.expires = expires;
            }
        }
        return Ok(crate::stack::load_preview(
            request.dir,
            request.name,
            &of,
            request.overrides,
        )?);
    }
    let source = crate::stack::load(request.dir, request.from)?;
    let (max, default_ttl) = match &source.config.preview {
        Some(p) => (
            usize::try_from(p.max).unwrap_or(0),
            crate::stack::parse_duration(&p.ttl).unwrap_or(Duration::from_secs(3 * 86_400)),
        ),
        // load_preview says why below.
        None => (0, Duration::ZERO),
    };
    let guard = take_lock(lock, &lock_key(request.from), holder, is_stale).await?;
    let result = claim(provider, request, &source, max, default_ttl).await;
    // Released whatever the outcome; a lost release expires with the holding.
    if let Err(err) = guard.unlock().await {
        tracing::warn!(%err, "could not release the previews' lock; it expires by itself");
    }
    result
}

/// The preview `name` of `from` that exists, from its VPC's tags; an error when a stack of the
/// name exists and is not one.
pub async fn existing(
    reader: &dyn Reader,
    name: &str,
    from: &str,
) -> Result<Option<PreviewOf>, PreviewError> {
    Ok(find(reader, name, from).await?.map(|(_, of)| of))
}

/// [`existing`], with the network that records it.
async fn find(
    reader: &dyn Reader,
    name: &str,
    from: &str,
) -> Result<Option<(Network, PreviewOf)>, PreviewError> {
    let networks = reader.list_networks().await?;
    let Some(network) = networks.into_iter().find(|n| n.stack() == Some(name)) else {
        return Ok(None);
    };
    match PreviewOf::from_tags(&network.tags, &network.cidr) {
        Some(of) if of.from == from => Ok(Some((network, of))),
        other => Err(PreviewError::NotAPreviewOf {
            name: name.to_string(),
            from: from.to_string(),
            is_of: other.map(|o| o.from),
        }),
    }
}

/// Takes `key`, waiting while another run holds it (another preview choosing its address
/// space takes seconds).
async fn take_lock(
    lock: Arc<dyn StackLock>,
    key: &str,
    holder: LockHolder,
    is_stale: &(dyn Fn(&LockHolder) -> bool + Send + Sync),
) -> Result<LockGuard, PreviewError> {
    let deadline = tokio::time::Instant::now() + LOCK_WAIT;
    loop {
        match LockGuard::acquire(
            lock.clone(),
            key,
            holder.clone(),
            LeaseTiming::default(),
            is_stale,
            CancelToken::default(),
        )
        .await
        {
            Ok(guard) => return Ok(guard),
            Err(LockError::Held { holder: other, .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tracing::info!(key, holder = %other, "waiting for another preview to choose its address space");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Under the source's lock: the cap, the address space, the VPC.
async fn claim(
    provider: &dyn Provider,
    request: &PreviewRequest<'_>,
    source: &Stack,
    max: usize,
    default_ttl: Duration,
) -> Result<Stack, PreviewError> {
    // Read again under the lock: a preview made while this one waited counts.
    let networks = provider.list_networks().await?;
    let live: Vec<LivePreview> = live_previews(&networks)
        .into_iter()
        .filter(|p| p.of.from == request.from)
        .collect();
    if let Some(mine) = live.iter().find(|p| p.name == request.name) {
        return Ok(crate::stack::load_preview(
            request.dir,
            request.name,
            &mine.of,
            request.overrides,
        )?);
    }
    if source.config.preview.is_some() && live.len() >= max {
        return Err(PreviewError::Cap {
            from: request.from.to_string(),
            max,
            live,
        });
    }
    let mut taken: Vec<Ipv4Net> = networks
        .iter()
        .filter_map(|n| n.cidr.parse().ok())
        .collect();
    taken.extend(source.config.network.cidr.parse::<Ipv4Net>().ok());
    let cidr = free_cidr(&taken).ok_or(PreviewError::NoAddressSpace)?;
    let of = PreviewOf {
        from: request.from.to_string(),
        cidr: cidr.to_string(),
        created_by: request.created_by.clone(),
        created: crate::time::now_unix(),
        expires: crate::time::now_unix() + request.ttl.unwrap_or(default_ttl).as_secs(),
        empty_db: request.empty_db,
    };
    let stack = crate::stack::load_preview(request.dir, request.name, &of, request.overrides)?;
    make_vpc(provider, &stack).await?;
    Ok(stack)
}

/// Creates the preview's VPC (as `up` would: its spec and tags) and waits until reads show it.
async fn make_vpc(provider: &dyn Provider, stack: &Stack) -> Result<(), PreviewError> {
    let desired = crate::lower::lower(stack)?;
    let Some(vpc) = desired
        .iter()
        .find(|r| r.spec.kind() == crate::model::ResourceKind::Vpc)
    else {
        return Ok(());
    };
    let resolved = HashMap::new();
    let ctx = Context {
        stack: &stack.name,
        tags: desired.tags(),
        resolved: &resolved,
    };
    let made = provider.create(&ctx, &vpc.id, &vpc.spec).await?;
    let deadline = tokio::time::Instant::now() + VISIBLE_WAIT;
    loop {
        let ready = matches!(provider.poll(&ctx, &made).await?, Readiness::Ready(_));
        let visible = provider
            .list_networks()
            .await?
            .iter()
            .any(|n| n.id == made.cloud_id);
        if (ready && visible) || tokio::time::Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests;
