//! Reading stack files (size, type and encoding checked before parsing), following the
//! `extends:` chain down to its base, merging it with the `--set` overrides on top, and turning
//! the merged tree into a validated [`Stack`].

use std::path::{Path, PathBuf};

use super::errors::StackError;
use super::node::{self, Loc, Node};
use super::overrides::Override;
use super::schema::StackConfig;
use super::validate::validate;
use super::{PreviewOf, ReleaseValues, Stack};

/// Loads `<dir>/<name>.yaml`, applies its `extends:` chain and validates the result.
pub fn load(dir: &Path, name: &str) -> Result<Stack, StackError> {
    load_with(dir, name, &[])
}

/// [`load`], then `overrides` merged over the files in order (a later one wins), before the
/// schema and validation see the result.
pub fn load_with(dir: &Path, name: &str, overrides: &[Override]) -> Result<Stack, StackError> {
    check_name(name)?;
    let path = stack_file(dir, name)?;
    let (mut merged, files) = load_chain(&path)?;
    let file_release = release_of(&merged);
    for over in overrides {
        merged.set(&over.keys, over.value.clone());
    }
    let stack = from_merged(name, &merged, files, file_release)?;
    Ok(stack)
}

/// Loads the preview `name` of the stack `preview.from` (`mck up --stack pr-123 --from
/// stage`): the source's files, its `preview.overlay` merged over them, the preview's own
/// CIDR (subnets derived from it), `protected: false`, then `overrides`; validated as any
/// stack, and tagged with what makes it a preview ([`PreviewOf::tags`]).
pub fn load_preview(
    dir: &Path,
    name: &str,
    preview: &PreviewOf,
    overrides: &[Override],
) -> Result<Stack, StackError> {
    check_name(name)?;
    if dir.join(format!("{name}.yaml")).exists() {
        return Err(StackError::one(
            None,
            format!("`{name}` has a stack file of its own, so it cannot be a preview"),
            Some("give the preview another name (e.g. pr-<number>), or drop --from".into()),
        ));
    }
    let path = stack_file(dir, &preview.from)?;
    let (mut merged, files) = load_chain(&path)?;
    let Some(mut section) = merged.take("preview") else {
        return Err(StackError::one(
            Some(merged.loc.clone()),
            format!("stack {} has no `preview:` section, so it makes no previews", preview.from),
            Some("add `preview: {}` (and its `scrub:` or `customer_data:`) to allow them; docs/previews.md".into()),
        ));
    };
    let overlay = section.take("overlay");
    merged.set(&[key("preview", &section.loc)], section.clone());
    let file_release = release_of(&merged);
    // Where the source's media are read: its storefront's `media/`, or where it reads its own.
    let source_media = text_at(&merged, &["app", "base_url"])
        .map(|url| format!("{url}media/"))
        .or_else(|| text_at(&merged, &["app", "media_fallback_url"]));
    let shared_media = text_at(&section, &["media"]).as_deref() == Some("shared");
    // The source's certificate names the source's address, not the preview's load balancer:
    // the preview serves HTTP on its own name unless its overlay gives a certificate.
    if let Some(mut alb) = merged.take("alb") {
        alb.take("certificate_arn");
        merged.set(&[key("alb", &alb.loc)], alb);
    }
    if let Some(overlay) = overlay {
        merged = merged.merge(overlay);
    }
    // Its own address (its load balancer's): the source's base URL would send the preview's
    // shop to the source's. Its media come from the source only if the source shares them.
    if let Some(mut app) = merged.take("app") {
        app.take("base_url");
        app.take("media_fallback_url");
        merged.set(&[key("app", &app.loc)], app);
    }
    // Its own name and address space: the source's `stack:` and explicit subnets are the
    // source's.
    merged.take("stack");
    if let Some(mut network) = merged.take("network") {
        network.take("subnets");
        merged.set(&[key("network", &network.loc)], network);
    }
    let origin = format!("preview {name} of {}", preview.from);
    let mut set = vec![
        ("network.cidr", preview.cidr.clone()),
        ("protected", "false".to_string()),
    ];
    if let Some(url) = source_media.filter(|_| shared_media) {
        set.push(("app.media_fallback_url", url));
    }
    for (path, value) in set {
        let set = Override::parse_from(&format!("{path}={value}"), &origin)?;
        merged.set(&set.keys, set.value);
    }
    for over in overrides {
        merged.set(&over.keys, over.value.clone());
    }
    let mut stack = from_merged(name, &merged, files, file_release)?;
    stack.config.tags.extend(preview.tags());
    stack.preview = Some(preview.clone());
    Ok(stack)
}

/// The text at `path` in `root`, if it is a string or an integer.
fn text_at(root: &Node, path: &[&str]) -> Option<String> {
    let node = path.iter().try_fold(root, |node, key| node.get(key))?;
    match &node.value {
        node::NodeValue::Str(s) | node::NodeValue::Plain(s) => Some(s.clone()),
        node::NodeValue::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn key(name: &str, loc: &Loc) -> node::Key {
    node::Key {
        name: name.to_string(),
        loc: loc.clone(),
    }
}

fn check_name(name: &str) -> Result<(), StackError> {
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
    Ok(())
}

/// `<dir>/<name>.yaml`, which must exist.
fn stack_file(dir: &Path, name: &str) -> Result<PathBuf, StackError> {
    let path = dir.join(format!("{name}.yaml"));
    if !path.exists() {
        let available = list(dir).unwrap_or_default();
        return Err(StackError::one(
            None,
            format!("no stack file {}", path.display()),
            Some(if available.is_empty() {
                format!("create {} or pass --stacks-dir", path.display())
            } else {
                format!(
                    "stacks in {}: {} (a preview? add --from <stack>; `mck ls` lists them)",
                    dir.display(),
                    available.join(", ")
                )
            }),
        ));
    }
    Ok(path)
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
    let value = |key: &str| text_at(root, &["release", key]);
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
    // `preview.overlay` is a part of a stack for the previews, not of this one: checked when
    // a preview is loaded.
    let mut root = root.clone();
    if let Some(mut section) = root.take("preview") {
        section.take("overlay");
        root.set(&[key("preview", &section.loc)], section);
    }
    let root = &root;
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
            preview: None,
        })
    } else {
        Err(StackError { diagnostics: diags })
    }
}
