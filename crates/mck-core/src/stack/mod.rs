//! Stack files: schema, overlay loading (`extends:`) and validation.
//!
//! Loading never calls the cloud. Every problem is reported with file, line and column, what is
//! wrong and how to fix it; all problems of a file are reported at once.
//!
//! This module is the facade: [`Stack`] and the re-exports that make up `mck_core::stack`.
//! `errors` has the error types, `overrides` the `--set` values, `load` reads the files and
//! merges the `extends:` chain, `validate` holds the semantic rules (`app` those of the app
//! tier), `node` the located YAML tree and `schema` the typed configuration.

mod app;
mod errors;
mod load;
mod node;
mod overrides;
mod schema;
mod validate;
mod workers;

pub use errors::{Diagnostic, StackError};
pub use load::{MAX_FILE_BYTES, list, load, load_preview, load_with, parse_str};
pub use node::{Loc, Node};
pub use overrides::{Override, live_release_overrides};
pub use schema::{
    AlarmThresholds, AlarmsConfig, AlbConfig, AppClusterConfig, AppConfig, BastionConfig,
    CacheConfig, CacheEngine, Capacity, ContainerConfig, DatabaseConfig, DnsConfig, DriftConfig,
    ECS_AMI_OWNER, ECS_AMI_PATTERN, FileSystemConfig, InstallConfig, NatMode, NetworkConfig,
    PreviewConfig, PreviewDatabase, QueueConfig, QueueDeployment, ReleaseConfig, ScalingConfig,
    SearchConfig, ServersAmiConfig, ServersConfig, StackConfig, SubnetTiers, Suppression, Timeouts,
};
pub use validate::{FORMAT_VERSION, backup_days, backup_hours, is_region, parse_duration};

use std::path::PathBuf;

/// A loaded, validated stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The name.
    pub name: String,
    /// The merged, validated configuration.
    pub config: StackConfig,
    /// The files read, top file first.
    pub files: Vec<PathBuf>,
    /// The merged YAML tree, every node with the file and line it came from.
    pub source: Node,
    /// The files' own `release.tag` and `release.revision` (before any `--set`): what a
    /// release from the command line is recorded over ([`crate::model::ReleaseRecordSpec`]).
    pub file_release: ReleaseValues,
    /// What it is a preview of, when it was made from another stack's file (`--from`).
    pub preview: Option<PreviewOf>,
}

/// A preview: a stack made from another's file (`mck up --stack pr-123 --from stage`), with
/// that file's `preview.overlay` merged over it, its own address space and no file of its own.
/// What makes it is recorded in tags on its resources ([`PreviewOf::tags`]), which is how
/// later commands and `mck ls` know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewOf {
    /// The stack it is made from.
    pub from: String,
    /// Its VPC's CIDR block (a free /16 chosen at its first `up`).
    pub cidr: String,
    /// Who made it (CI's actor, or the user).
    pub created_by: String,
    /// When it was made, in seconds since the epoch.
    pub created: u64,
    /// When it may be removed by `mck down --expired`, in seconds since the epoch.
    pub expires: u64,
    /// An empty database instead of a clone of the source's.
    pub empty_db: bool,
}

impl PreviewOf {
    /// Tag `mck:preview-of`: the stack it is made from.
    pub const TAG_FROM: &str = "mck:preview-of";
    /// Tag `mck:created-by`.
    pub const TAG_CREATED_BY: &str = "mck:created-by";
    /// Tag `mck:created`: RFC 3339 in UTC.
    pub const TAG_CREATED: &str = "mck:created";
    /// Tag `mck:expires`: RFC 3339 in UTC.
    pub const TAG_EXPIRES: &str = "mck:expires";
    /// Tag `mck:database`: `clone` or `empty`.
    pub const TAG_DATABASE: &str = "mck:database";

    /// The tags every resource of the preview carries (besides `mck:stack` and `mck:id`).
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            (Self::TAG_FROM.into(), self.from.clone()),
            (Self::TAG_CREATED_BY.into(), self.created_by.clone()),
            (Self::TAG_CREATED.into(), crate::time::rfc3339(self.created)),
            (Self::TAG_EXPIRES.into(), crate::time::rfc3339(self.expires)),
            (
                Self::TAG_DATABASE.into(),
                if self.empty_db { "empty" } else { "clone" }.into(),
            ),
        ]
    }

    /// The preview a stack's anchor (its VPC) says it is, from the VPC's tags and CIDR:
    /// `None` when the tags do not name a source.
    pub fn from_tags(
        tags: &std::collections::BTreeMap<String, String>,
        cidr: &str,
    ) -> Option<PreviewOf> {
        Some(PreviewOf {
            from: tags.get(Self::TAG_FROM)?.clone(),
            cidr: cidr.to_string(),
            created_by: tags.get(Self::TAG_CREATED_BY).cloned().unwrap_or_default(),
            created: tags
                .get(Self::TAG_CREATED)
                .and_then(|t| crate::time::parse_rfc3339(t))
                .unwrap_or(0),
            expires: tags
                .get(Self::TAG_EXPIRES)
                .and_then(|t| crate::time::parse_rfc3339(t))
                .unwrap_or(0),
            empty_db: tags.get(Self::TAG_DATABASE).is_some_and(|d| d == "empty"),
        })
    }
}

impl Stack {
    /// The Aurora cluster this stack's database is cloned from: a preview's source stack's
    /// (`<from>-db`), unless the preview was asked for an empty one or the source's
    /// `preview.database` is `empty`.
    pub fn database_source(&self) -> Option<String> {
        let preview = self.preview.as_ref()?;
        let cloned = self
            .config
            .preview
            .as_ref()
            .is_none_or(|p| p.database == PreviewDatabase::Clone);
        (cloned && !preview.empty_db).then(|| format!("{}-db", preview.from))
    }

    /// Where the stack declares `path` (map keys and sequence indices): the key of the deepest
    /// entry of the path that exists (or the item, for an index), in the file it came from (an
    /// overlay or `base.yaml`); the top of the file when not even the first key exists.
    pub fn locate(&self, path: &[&str]) -> &Loc {
        let mut node = &self.source;
        let mut at = &self.source.loc;
        for seg in path {
            let next = match &node.value {
                node::NodeValue::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k.name == *seg)
                    .map(|(k, v)| (&k.loc, v)),
                node::NodeValue::Seq(items) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|v| (&v.loc, v)),
                _ => None,
            };
            match next {
                Some((loc, value)) => {
                    at = loc;
                    node = value;
                }
                None => break,
            }
        }
        at
    }
}

pub use crate::model::{LiveRelease, ReleaseValues};

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
