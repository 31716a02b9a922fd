//! Stack files: schema, overlay loading (`extends:`) and validation.
//!
//! Loading never calls the cloud. Every problem is reported with file, line and column, what is
//! wrong and how to fix it; all problems of a file are reported at once.

mod app;
mod node;
mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::Ipv4Net;

pub use node::{Loc, Node};
pub use schema::{
    AlbConfig, AppClusterConfig, AppConfig, BastionConfig, CacheConfig, CacheEngine, Capacity,
    ContainerConfig, DatabaseConfig, DnsConfig, DriftConfig, ECS_AMI_OWNER, ECS_AMI_PATTERN,
    FileSystemConfig, NatMode, NetworkConfig, ReleaseConfig, ServersAmiConfig, ServersConfig,
    StackConfig, SubnetTiers, Suppression, Timeouts,
};

/// One problem in a stack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where, when known.
    pub loc: Option<Loc>,
    /// What went wrong, in words.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.loc {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// All problems found while loading a stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct StackError {
    /// Every problem found.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, diag) in self.diagnostics.iter().enumerate() {
            if idx > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diag}")?;
        }
        Ok(())
    }
}

impl StackError {
    fn one(loc: Option<Loc>, message: impl Into<String>, help: Option<String>) -> StackError {
        StackError {
            diagnostics: vec![Diagnostic {
                loc,
                message: message.into(),
                help,
            }],
        }
    }
}

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

/// The supported stack file format version.
pub const FORMAT_VERSION: i64 = 1;

/// Loads `<dir>/<name>.yaml`, applies its `extends:` chain and validates the result.
pub fn load(dir: &Path, name: &str) -> Result<Stack, StackError> {
    load_with(dir, name, &[])
}

/// One `--set PATH=VALUE`: a value given on the command line that overrides the stack files
/// (`release.tag=$GIT_SHA`). It is merged over the files like one more overlay, so it is typed
/// and validated exactly like the file, and its errors are located at "command line".
///
/// `PATH` is map keys separated by dots (`apps.frontend.count`). `VALUE` takes the type the
/// schema gives that key: `release.tag=0123` is a string, `apps.frontend.count=3` a number.
/// A list or map is written in YAML flow style (`network.zones=[us-east-1a,us-east-1b]`);
/// quotes make a string of anything.
#[derive(Debug, Clone)]
pub struct Override {
    /// The argument as given.
    pub arg: String,
    keys: Vec<node::Key>,
    value: Node,
}

impl Override {
    /// Parses `PATH=VALUE`.
    pub fn parse(arg: &str) -> Result<Override, StackError> {
        Self::parse_from(arg, &format!("command line (--set {arg})"))
    }

    /// Parses `PATH=VALUE` that comes from `origin` (errors and locations name it).
    pub fn parse_from(arg: &str, origin: &str) -> Result<Override, StackError> {
        let file: std::sync::Arc<str> = std::sync::Arc::from(origin);
        let at = |col: usize| Loc {
            file: file.clone(),
            line: 1,
            col,
        };
        let Some((path, value)) = arg.split_once('=') else {
            return Err(StackError::one(
                Some(at(1)),
                "expected PATH=VALUE",
                Some("e.g. `--set release.tag=$GIT_SHA`".into()),
            ));
        };
        let value_col = path.len() + 2;
        let leaf = if value.starts_with('[') || value.starts_with('{') {
            let padded = format!("{}{value}", " ".repeat(value_col - 1));
            node::parse_file(&file, &padded)
                .map_err(|e| StackError::one(Some(e.loc), e.message, e.help))?
        } else {
            let quoted = value.len() >= 2
                && ((value.starts_with('"') && value.ends_with('"'))
                    || (value.starts_with('\'') && value.ends_with('\'')));
            Node {
                loc: at(value_col),
                value: if quoted {
                    node::NodeValue::Str(value[1..value.len() - 1].to_string())
                } else {
                    node::NodeValue::Plain(value.to_string())
                },
            }
        };
        let mut segments = Vec::new();
        let mut col = 1;
        for seg in path.split('.') {
            if seg.is_empty() || seg.chars().any(char::is_whitespace) {
                return Err(StackError::one(
                    Some(at(col)),
                    format!("`{path}` is not a path of stack keys"),
                    Some("write keys separated by dots, e.g. `apps.frontend.count=2`".into()),
                ));
            }
            segments.push((seg, col));
            col += seg.len() + 1;
        }
        if segments[0].0 == "extends" {
            return Err(StackError::one(
                Some(at(1)),
                "`extends` cannot be set on the command line",
                Some("choose the stack with --stack; its file names its base".into()),
            ));
        }
        Ok(Override {
            arg: arg.to_string(),
            keys: segments
                .into_iter()
                .map(|(seg, col)| node::Key {
                    name: seg.to_string(),
                    loc: at(col),
                })
                .collect(),
            value: leaf,
        })
    }
}

impl Override {
    /// The path it sets, keys joined by dots.
    pub fn path(&self) -> String {
        self.keys
            .iter()
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

pub use crate::model::{LiveRelease, ReleaseValues};

/// What keeps a release made from the command line in effect for a run without `--set`: when
/// `overrides` set neither `release.tag` nor `release.revision` and the files still say what the
/// live release was made over (`file_release`), the live tag and revision, located at "live
/// release". Otherwise none: the command line, or an edited file (a newer decision), wins.
pub fn live_release_overrides(
    file_release: &ReleaseValues,
    overrides: &[Override],
    live: &LiveRelease,
) -> Vec<Override> {
    let set_here = overrides.iter().any(|o| {
        matches!(
            o.path().as_str(),
            "release" | "release.tag" | "release.revision"
        )
    });
    if set_here || live.file != *file_release {
        return Vec::new();
    }
    [
        ("tag", &live.in_effect.tag),
        ("revision", &live.in_effect.revision),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value.as_ref()?)))
    .filter_map(|(key, value)| {
        let arg = format!("release.{key}='{value}'");
        Override::parse_from(
            &arg,
            &format!("live release (recorded on the cluster: release.{key}={value})"),
        )
        .ok()
    })
    .collect()
}

impl std::str::FromStr for Override {
    type Err = StackError;

    fn from_str(arg: &str) -> Result<Override, StackError> {
        Override::parse(arg)
    }
}

/// [`load`], then `overrides` merged over the files in order (a later one wins), before the
/// schema and validation see the result.
pub fn load_with(dir: &Path, name: &str, overrides: &[Override]) -> Result<Stack, StackError> {
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || name.len() > 20
    {
        return Err(StackError::one(
            None,
            format!("invalid stack name `{name}`"),
            Some(
                "use 1 to 20 letters, digits or dashes; the name prefixes AWS resource names"
                    .into(),
            ),
        ));
    }
    let path = dir.join(format!("{name}.yaml"));
    if !path.exists() {
        let available = list(dir).unwrap_or_default();
        return Err(StackError::one(
            None,
            format!("no stack file {}", path.display()),
            Some(if available.is_empty() {
                format!("create {} or pass --stacks-dir", path.display())
            } else {
                format!("stacks in {}: {}", dir.display(), available.join(", "))
            }),
        ));
    }
    let (mut merged, files) = load_chain(&path)?;
    let file_release = release_of(&merged);
    for over in overrides {
        merged.set(&over.keys, over.value.clone());
    }
    let stack = from_merged(name, &merged, files, file_release)?;
    Ok(stack)
}

/// Parses stack text that has no `extends:` (for tests and embedding).
pub fn parse_str(name: &str, file_label: &str, text: &str) -> Result<Stack, StackError> {
    let mut root = parse_one(file_label, text)?;
    if let Some(ext) = root.take("extends") {
        return Err(StackError::one(
            Some(ext.loc),
            "`extends` needs a stack directory",
            Some("load the stack with stack::load".into()),
        ));
    }
    let file_release = release_of(&root);
    from_merged(name, &root, vec![PathBuf::from(file_label)], file_release)
}

/// What a tree's `release:` says of `tag` and `revision`.
fn release_of(root: &Node) -> ReleaseValues {
    let value = |key: &str| {
        root.get("release")
            .and_then(|r| r.get(key))
            .and_then(|n| match &n.value {
                node::NodeValue::Str(s) | node::NodeValue::Plain(s) => Some(s.clone()),
                node::NodeValue::Int(i) => Some(i.to_string()),
                _ => None,
            })
    };
    ReleaseValues {
        tag: value("tag"),
        revision: value("revision"),
    }
}

/// Names of the stacks in `dir` (files `*.yaml`, except `base.yaml`).
pub fn list(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            && stem != "base"
        {
            names.push(stem.to_string());
        }
    }
    names.sort();
    Ok(names)
}

fn parse_one(label: &str, text: &str) -> Result<Node, StackError> {
    node::parse_file(label, text).map_err(|e| StackError::one(Some(e.loc), e.message, e.help))
}

/// Stack files are small (the shipped prod is about 1 kB): anything larger is a mistake (a
/// wrong file, a generated dump) and is refused before it is read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads one stack file: a regular file, at most [`MAX_FILE_BYTES`], UTF-8. `from` is the
/// `extends:` that named it, if any.
fn read_stack_file(path: &Path, from: Option<&Loc>) -> Result<String, StackError> {
    let shown = path.display();
    let (at, help_path) = match from {
        Some(loc) => (
            Some(loc.clone()),
            "check the `extends:` path; it is relative to the file that names it",
        ),
        // The file itself is at fault: point at it.
        None => (
            Some(Loc {
                file: std::sync::Arc::from(shown.to_string()),
                line: 1,
                col: 1,
            }),
            "check the stack name and --stacks-dir",
        ),
    };
    let meta = std::fs::metadata(path).map_err(|err| {
        StackError::one(
            at.clone(),
            format!("failed to read {shown}: {err}"),
            Some(help_path.into()),
        )
    })?;
    if meta.is_dir() {
        return Err(StackError::one(
            at,
            format!("{shown} is a directory, not a stack file"),
            Some("a stack is one YAML file, <stacks-dir>/<name>.yaml".into()),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(StackError::one(
            at,
            format!(
                "{shown} is {:.1} MB; stack files are at most {} kB",
                meta.len() as f64 / 1e6,
                MAX_FILE_BYTES / 1024
            ),
            Some("is this the right file? A stack describes resources; it holds no data".into()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|err| {
        StackError::one(
            at.clone(),
            format!("failed to read {shown}: {err}"),
            Some(help_path.into()),
        )
    })?;
    String::from_utf8(bytes).map_err(|err| {
        let good = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        let byte = err.as_bytes()[err.utf8_error().valid_up_to()];
        StackError::one(
            Some(Loc {
                file: std::sync::Arc::from(shown.to_string()),
                line,
                col,
            }),
            format!("the file is not UTF-8 (byte 0x{byte:02X})"),
            Some("save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)".into()),
        )
    })
}

/// Reads a file and its `extends:` ancestors, returning the merged tree (ancestors below).
fn load_chain(top: &Path) -> Result<(Node, Vec<PathBuf>), StackError> {
    let mut chain: Vec<(PathBuf, Node)> = Vec::new();
    let mut next = Some((top.to_path_buf(), None::<Loc>));
    while let Some((path, from)) = next.take() {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        if chain
            .iter()
            .any(|(p, _)| p.canonicalize().unwrap_or_else(|_| p.clone()) == canonical)
        {
            let cycle: Vec<String> = chain
                .iter()
                .map(|(p, _)| p.display().to_string())
                .chain(std::iter::once(path.display().to_string()))
                .collect();
            return Err(StackError::one(
                from,
                format!("`extends` cycle: {}", cycle.join(" -> ")),
                Some("remove one `extends:` so the chain ends at a base file".into()),
            ));
        }
        let text = read_stack_file(&path, from.as_ref())?;
        let mut root = parse_one(&path.display().to_string(), &text)?;
        if let Some(ext) = root.take("extends") {
            let node::NodeValue::Str(rel) = &ext.value else {
                return Err(StackError::one(
                    Some(ext.loc),
                    "`extends` must be a file name",
                    Some("write e.g. `extends: base.yaml`".into()),
                ));
            };
            let parent = path.parent().unwrap_or(Path::new(".")).join(rel);
            next = Some((parent, Some(ext.loc.clone())));
        }
        chain.push((path, root));
    }
    let files = chain.iter().map(|(p, _)| p.clone()).collect();
    let mut merged: Option<Node> = None;
    for (_, node) in chain.into_iter().rev() {
        merged = Some(match merged {
            None => node,
            Some(base) => base.merge(node),
        });
    }
    Ok((merged.expect("chain holds at least the top file"), files))
}

fn from_merged(
    name: &str,
    root: &Node,
    files: Vec<PathBuf>,
    file_release: ReleaseValues,
) -> Result<Stack, StackError> {
    let config: StackConfig = node::from_node(root).map_err(|e| {
        let password = e.message.starts_with("unknown key `") && e.message.to_lowercase().contains("password");
        let help = if password {
            "the master password is managed by RDS in Secrets Manager; no password belongs in a stack file"
        } else {
            "see docs/stack-format.md for the schema"
        };
        StackError::one(e.loc, e.message, Some(help.into()))
    })?;
    let mut diags = Vec::new();
    validate(name, &config, root, &mut diags);
    if diags.is_empty() {
        Ok(Stack {
            name: name.to_string(),
            config,
            files,
            source: root.clone(),
            file_release,
        })
    } else {
        Err(StackError { diagnostics: diags })
    }
}

fn diag(root: &Node, path: &[&str], message: String, help: impl Into<String>) -> Diagnostic {
    Diagnostic {
        loc: Some(root.locate(path).loc.clone()),
        message,
        help: Some(help.into()),
    }
}

fn validate(name: &str, config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    if config.version != FORMAT_VERSION {
        diags.push(diag(
            root,
            &["version"],
            format!("unsupported stack format version {}", config.version),
            format!("this mck reads version {FORMAT_VERSION}"),
        ));
    }
    if let Some(stack) = &config.stack
        && stack != name
    {
        diags.push(diag(
            root,
            &["stack"],
            format!("`stack: {stack}` does not match the file name `{name}.yaml`"),
            format!("write `stack: {name}` or remove the key"),
        ));
    }
    if !is_region(&config.region) {
        diags.push(diag(
            root,
            &["region"],
            format!("`{}` is not an AWS region name", config.region),
            "write a region such as us-east-1",
        ));
    }
    for (key, value) in &config.tags {
        if key.starts_with("mck:") || key.starts_with("aws:") {
            diags.push(diag(
                root,
                &["tags", key],
                format!("tag key `{key}` is reserved"),
                "mck sets mck:* tags itself; AWS reserves aws:*",
            ));
        }
        if key.len() > 128 || value.len() > 256 {
            diags.push(diag(
                root,
                &["tags", key],
                format!("tag `{key}` is too long"),
                "keys ≤ 128, values ≤ 256 characters",
            ));
        }
    }
    validate_network(config, root, diags);
    app::validate_app(name, config, root, diags);
    if let Some(bastion) = &config.bastion {
        for (idx, cidr) in bastion.ssh_cidrs.iter().enumerate() {
            let idx_s = idx.to_string();
            let path = ["bastion", "ssh_cidrs", idx_s.as_str()];
            match cidr.parse::<Ipv4Net>() {
                Err(_) => diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` is not an IPv4 CIDR block"),
                    "write e.g. 203.0.113.0/24",
                )),
                Ok(net) if net.prefix_len() == 0 && !bastion.allow_ssh_from_anywhere => diags.push(diag(
                    root,
                    &path,
                    "SSH open to the whole internet (0.0.0.0/0)".to_string(),
                    "list your office or VPN ranges, or set `bastion.allow_ssh_from_anywhere: true`",
                )),
                Ok(net) if net.trunc() != net => diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` has host bits set"),
                    format!("write {}", net.trunc()),
                )),
                Ok(_) => {}
            }
        }
        if !config.network.zones.is_empty() && bastion.instance_type.is_empty() {
            diags.push(diag(
                root,
                &["bastion", "instance_type"],
                "empty instance type".into(),
                "write e.g. t3.micro",
            ));
        }
        // gp3 volumes: 1 GiB to 16 TiB; the images need 8.
        if !(8..=16_384).contains(&bastion.root_volume_gb) {
            diags.push(diag(
                root,
                &["bastion", "root_volume_gb"],
                format!("a root volume of {} GiB", bastion.root_volume_gb),
                "use 8 to 16384 GiB",
            ));
        }
    }
    validate_data(name, config, root, diags);
    for (key, value) in config.timeouts.entries() {
        if let Some(text) = value
            && parse_duration(text).is_none()
        {
            diags.push(diag(
                root,
                &["timeouts", key],
                format!("`{text}` is not a duration"),
                "write a number followed by s, m or h, e.g. 10m",
            ));
        }
    }
}

fn is_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn validate_data(name: &str, config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let n_zones = config.network.zones.len();
    if let Some(db) = &config.database {
        if n_zones < 2 {
            diags.push(diag(
                root,
                &["database"],
                "Aurora needs subnets in at least two zones".into(),
                "list at least two zones in network.zones",
            ));
        }
        if !(1..=16).contains(&db.instances) {
            diags.push(diag(
                root,
                &["database", "instances"],
                format!("{} database instances", db.instances),
                "use 1 (writer only) to 16",
            ));
        }
        if !db.instance_class.starts_with("db.") {
            diags.push(diag(
                root,
                &["database", "instance_class"],
                format!("`{}` is not an RDS instance class", db.instance_class),
                "write e.g. db.t4g.medium or db.r6g.large",
            ));
        }
        if !(1..=35).contains(&db.backup_retention_days) {
            diags.push(diag(
                root,
                &["database", "backup_retention_days"],
                format!("backup retention of {} days", db.backup_retention_days),
                "Aurora keeps automated backups 1 to 35 days",
            ));
        }
        for (key, value) in [
            ("database_name", &db.database_name),
            ("master_username", &db.master_username),
        ] {
            let ok = value.len() <= 16
                && value
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                diags.push(diag(
                    root,
                    &["database", key],
                    format!("`{value}` is not a valid MySQL {key}"),
                    "use 1 to 16 letters, digits or underscores, starting with a letter",
                ));
            }
        }
    }
    for (cache_name, cache) in &config.caches {
        let path = ["caches", cache_name.as_str()];
        if !is_name(cache_name) || name.len() + 1 + cache_name.len() > 40 {
            diags.push(diag(
                root,
                &path,
                format!("cache name `{cache_name}` is not usable"),
                "use lowercase letters, digits and dashes; `<stack>-<name>` must fit in 40 characters",
            ));
        }
        if !cache.node_type.starts_with("cache.") {
            diags.push(diag(
                root,
                &["caches", cache_name, "node_type"],
                format!("`{}` is not an ElastiCache node type", cache.node_type),
                "write e.g. cache.t3.medium",
            ));
        }
        if !(0..=5).contains(&cache.replicas) {
            diags.push(diag(
                root,
                &["caches", cache_name, "replicas"],
                format!("{} replicas", cache.replicas),
                "use 0 to 5",
            ));
        }
        if !(1..=40).contains(&cache.nodes) {
            diags.push(diag(
                root,
                &["caches", cache_name, "nodes"],
                format!("{} nodes", cache.nodes),
                "use 1 to 40",
            ));
        }
    }
    if let Some(fs) = &config.filesystem {
        for (idx, ap) in fs.access_points.iter().enumerate() {
            let idx_s = idx.to_string();
            if !is_name(ap) {
                diags.push(diag(
                    root,
                    &["filesystem", "access_points", &idx_s],
                    format!("access point name `{ap}` is not usable"),
                    "use lowercase letters, digits and dashes",
                ));
            }
            if fs.access_points[..idx].contains(ap) {
                diags.push(diag(
                    root,
                    &["filesystem", "access_points", &idx_s],
                    format!("access point `{ap}` listed twice"),
                    "list each once",
                ));
            }
        }
        if !["generalPurpose", "maxIO"].contains(&fs.performance_mode.as_str()) {
            diags.push(diag(
                root,
                &["filesystem", "performance_mode"],
                format!("unknown performance mode `{}`", fs.performance_mode),
                "use generalPurpose or maxIO",
            ));
        }
    }
    if let Some(dns) = &config.dns {
        if let Some(zone) = &dns.zone {
            let ok = zone.len() <= 253
                && zone.split('.').count() >= 2
                && zone
                    .split('.')
                    .all(|label| !label.is_empty() && label.len() <= 63 && is_name(label));
            if !ok {
                diags.push(diag(
                    root,
                    &["dns", "zone"],
                    format!("`{zone}` is not a usable zone name"),
                    "write a lowercase domain such as prod.magecloudkit.internal, without a trailing dot",
                ));
            }
        }
        if !(0..=86_400).contains(&dns.ttl) {
            diags.push(diag(
                root,
                &["dns", "ttl"],
                format!("TTL of {} seconds", dns.ttl),
                "use 0 to 86400",
            ));
        }
    }
}

/// Whether `region` is shaped like an AWS region name (`us-east-1`, `ap-southeast-2`).
pub fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn validate_network(config: &StackConfig, root: &Node, diags: &mut Vec<Diagnostic>) {
    let net = &config.network;
    if net.zones.is_empty() {
        diags.push(diag(
            root,
            &["network", "zones"],
            "no availability zones".into(),
            "list 1 to 6 zones of the region",
        ));
    }
    let mut seen_zones = Vec::new();
    for (idx, zone) in net.zones.iter().enumerate() {
        let idx_s = idx.to_string();
        let suffix = zone.strip_prefix(config.region.as_str());
        let valid =
            suffix.is_some_and(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase()));
        if !valid {
            diags.push(diag(
                root,
                &["network", "zones", &idx_s],
                format!("zone `{zone}` is not in region {}", config.region),
                format!("write zones such as {}a, {}b", config.region, config.region),
            ));
        }
        if seen_zones.contains(zone) {
            diags.push(diag(
                root,
                &["network", "zones", &idx_s],
                format!("zone `{zone}` listed twice"),
                "list each zone once",
            ));
        }
        seen_zones.push(zone.clone());
    }
    let vpc = match net.cidr.parse::<Ipv4Net>() {
        Ok(vpc) if vpc.trunc() != vpc => {
            diags.push(diag(
                root,
                &["network", "cidr"],
                format!("`{}` has host bits set", net.cidr),
                format!("write {}", vpc.trunc()),
            ));
            return;
        }
        Ok(vpc) if !(16..=28).contains(&vpc.prefix_len()) => {
            diags.push(diag(
                root,
                &["network", "cidr"],
                format!(
                    "VPC CIDR `{}` must have a prefix between /16 and /28",
                    net.cidr
                ),
                "AWS allows VPC blocks from /16 to /28",
            ));
            return;
        }
        Ok(vpc) => vpc,
        Err(_) => {
            diags.push(diag(
                root,
                &["network", "cidr"],
                format!("`{}` is not an IPv4 CIDR block", net.cidr),
                "write e.g. 10.0.0.0/16",
            ));
            return;
        }
    };
    let mut taken: Vec<(Ipv4Net, String)> = Vec::new();
    for (tier, cidrs) in net.subnet_cidrs(vpc) {
        let explicit = net.subnets.as_ref().is_some_and(|s| s.get(tier).is_some());
        let tier_path: Vec<&str> = if explicit {
            vec!["network", "subnets", tier]
        } else {
            vec!["network", "cidr"]
        };
        if cidrs.len() != net.zones.len() {
            diags.push(diag(
                root,
                &tier_path,
                format!(
                    "{} {tier} subnet CIDRs for {} zones",
                    cidrs.len(),
                    net.zones.len()
                ),
                "give one CIDR per zone, in the order of network.zones",
            ));
        }
        for (idx, cidr) in cidrs.iter().enumerate() {
            let idx_s = idx.to_string();
            let mut path = tier_path.clone();
            if explicit {
                path.push(&idx_s);
            }
            let label = format!("network.subnets.{tier}[{idx}]");
            let Ok(subnet) = cidr.parse::<Ipv4Net>() else {
                diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` ({label}) is not an IPv4 CIDR block"),
                    "write e.g. 10.0.1.0/24",
                ));
                continue;
            };
            if subnet.trunc() != subnet {
                diags.push(diag(
                    root,
                    &path,
                    format!("`{cidr}` ({label}) has host bits set"),
                    format!("write {}", subnet.trunc()),
                ));
                continue;
            }
            if !vpc.contains(&subnet) {
                diags.push(diag(
                    root,
                    &path,
                    format!("subnet `{cidr}` ({label}) is outside the VPC CIDR {vpc}"),
                    format!("choose a block inside {vpc}, or change network.cidr"),
                ));
                continue;
            }
            if subnet.prefix_len() > 28 {
                diags.push(diag(
                    root,
                    &path,
                    format!("subnet `{cidr}` ({label}) is smaller than /28"),
                    "AWS subnets are /16 to /28",
                ));
            }
            if let Some((_, other)) = taken
                .iter()
                .find(|(net, _)| net.contains(&subnet) || subnet.contains(net))
            {
                diags.push(diag(
                    root,
                    &path,
                    format!("subnet `{cidr}` ({label}) overlaps {other}"),
                    "give every subnet its own block",
                ));
                continue;
            }
            taken.push((subnet, format!("{label} ({cidr})")));
        }
    }
}

/// Parses `90s`, `10m`, `1h` (or a bare number of seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (num, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((idx, _)) => text.split_at(idx),
        None => (text, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Default subnet CIDRs of a /16 VPC: public x.y.{1,2,3}.0/24, private x.y.{101..}, data x.y.{201..}.
fn default_tier(vpc: Ipv4Net, base: u8, n_zones: usize) -> Vec<String> {
    let octets = vpc.network().octets();
    (0..n_zones)
        .map(|idx| {
            let third = base.saturating_add(u8::try_from(idx).unwrap_or(u8::MAX));
            format!("{}/24", Ipv4Addr::new(octets[0], octets[1], third, 0))
        })
        .collect()
}

impl NetworkConfig {
    /// The subnet CIDRs per tier (`public`, `private`, `data`), explicit or derived from a /16.
    pub fn subnet_cidrs(&self, vpc: Ipv4Net) -> Vec<(&'static str, Vec<String>)> {
        let explicit = self.subnets.clone().unwrap_or_default();
        let n = self.zones.len();
        [
            ("public", explicit.public, 1u8),
            ("private", explicit.private, 101),
            ("data", explicit.data, 201),
        ]
        .into_iter()
        .map(|(tier, given, base)| (tier, given.unwrap_or_else(|| default_tier(vpc, base, n))))
        .collect()
    }

    /// The subnet CIDRs of the validated config.
    pub fn tiers(&self) -> BTreeMap<&'static str, Vec<String>> {
        let vpc: Ipv4Net = self.cidr.parse().expect("validated");
        self.subnet_cidrs(vpc).into_iter().collect()
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
