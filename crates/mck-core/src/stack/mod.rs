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
pub use load::{MAX_FILE_BYTES, list, load, load_with, parse_str};
pub use node::{Loc, Node};
pub use overrides::{Override, live_release_overrides};
pub use schema::{
    AlarmThresholds, AlarmsConfig, AlbConfig, AppClusterConfig, AppConfig, BastionConfig,
    CacheConfig, CacheEngine, Capacity, ContainerConfig, DatabaseConfig, DnsConfig, DriftConfig,
    ECS_AMI_OWNER, ECS_AMI_PATTERN, FileSystemConfig, InstallConfig, NatMode, NetworkConfig,
    QueueConfig, QueueDeployment, ReleaseConfig, ScalingConfig, SearchConfig, ServersAmiConfig,
    ServersConfig, StackConfig, SubnetTiers, Suppression, Timeouts,
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
}

impl Stack {
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
