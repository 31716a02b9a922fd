//! Previews (`--from`), `mck ls` and `mck down --expired` (docs/previews.md): the stack a
//! command works on when it has no file of its own, and the account's stacks as their tags tell
//! them.

#![expect(clippy::print_stdout, reason = "ls prints its table")]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mck_aws::{AwsProvider, AwsReader};
use mck_core::Engine;
use mck_core::graph::DesiredGraph;
use mck_core::preview::{PreviewRequest, live_previews};
use mck_core::provider::Reader;
use mck_core::stack::{PreviewOf, Stack};

use super::apply::{View, down};
use super::lock::lock_holder;
use super::{
    Failure, OK, aws_config, check_region, engine, engine_on, load_failure, load_stack,
    load_stack_with, overrides,
};
use crate::args::{ApprovalArgs, AwsArgs, StackArgs};
use crate::ui;

/// What `up --from` asks of a new preview.
#[derive(Debug, Default)]
pub(super) struct Make {
    /// `--ttl`.
    pub(super) ttl: Option<Duration>,
    /// `--empty-db`.
    pub(super) empty_db: bool,
}

/// The stack a changing or planning command works on, and an engine for it: the stack's file,
/// or with `--from`, the preview as its resources' tags record it. `make` (for `up`): a
/// preview that does not exist yet is made (its address space chosen and its VPC created under
/// the source's lock, the source's cap checked).
pub(super) async fn open(
    args: &StackArgs,
    aws: &AwsArgs,
    command: &str,
    make: Option<&Make>,
) -> Result<(Stack, Arc<DesiredGraph>, Engine), Failure> {
    let Some(from) = &args.from else {
        let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
        let engine = engine(aws, &desired, command).await?;
        return Ok((stack, desired, engine));
    };
    let name = args.stack.as_str();
    let (source, _) = load_stack(&args.stacks_dir, from)?;
    let region = source.config.region.clone();
    check_region(aws, from, &region)?;
    let cloud = AwsProvider::connect(&aws_config(aws, command), &region).await;
    let overrides = overrides(name, &args.set)?;
    let failure = |e: mck_core::preview::PreviewError| Failure(format!("preview {name}: {e}"));
    let stack = match make {
        Some(make) => {
            let request = PreviewRequest {
                dir: &args.stacks_dir,
                name,
                from,
                ttl: make.ttl,
                created_by: creator(),
                empty_db: make.empty_db,
                overrides: &overrides,
            };
            let lock = Arc::new(cloud.stack_lock());
            mck_core::preview::prepare(
                &cloud,
                lock,
                &request,
                lock_holder(),
                &mck_core::lock::is_gone_on_this_host,
            )
            .await
            .map_err(failure)?
        }
        None => match mck_core::preview::existing(&cloud, name, from)
            .await
            .map_err(failure)?
        {
            Some(of) => mck_core::stack::load_preview(&args.stacks_dir, name, &of, &overrides)
                .map_err(|e| Failure(format!("invalid stack `{name}`:\n{e}")))?,
            // Its VPC is gone (a `down` killed after it): `down` still removes whatever else
            // carries its name, found by its tags as for any stack.
            None if command == "down" => load_offline(args, from)?.0,
            None => {
                return Err(Failure(format!(
                    "there is no preview {name} of {from} in {region}: its network does not exist\n  help: `mck up --stack {name} --from {from}` makes it; `mck ls` lists the stacks"
                )));
            }
        },
    };
    if let Some(of) = &stack.preview {
        ui::note(&format!(
            "stack {name} is a preview of {from}: {}, made by {}, expires {}",
            of.cidr,
            of.created_by,
            mck_core::time::rfc3339(of.expires)
        ));
    }
    let loaded = Engine::loaded(stack).map_err(|e| load_failure(name, e))?;
    Ok((loaded.stack, loaded.desired, engine_on(aws, &cloud)))
}

/// A preview loaded without asking the cloud for its own address space (`validate`, `graph`,
/// `outputs`): its source's stands in.
pub(super) fn load_offline(
    args: &StackArgs,
    from: &str,
) -> Result<(Stack, Arc<DesiredGraph>), Failure> {
    let (source, _) = load_stack(&args.stacks_dir, from)?;
    let now = mck_core::time::now_unix();
    let of = PreviewOf {
        from: from.to_string(),
        cidr: source.config.network.cidr.clone(),
        created_by: creator(),
        created: now,
        expires: now,
        empty_db: false,
    };
    let loaded = Engine::load_preview(
        &args.stacks_dir,
        &args.stack,
        &of,
        &overrides(&args.stack, &args.set)?,
    )
    .map_err(|e| load_failure(&args.stack, e))?;
    Ok((loaded.stack, loaded.desired))
}

/// Who makes a preview: CI's actor (`GITHUB_ACTOR`), else the user; as a tag value allows.
fn creator() -> String {
    let who = ["MCK_CREATOR", "GITHUB_ACTOR", "USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into());
    tag_value(&who)
}

/// `text` as an AWS tag value: letters, digits, spaces and `_ . : / = + - @`, at most 128.
fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect()
}

/// The regions to look in: `--region`, or those of the stack files that load.
fn regions(dir: &Path, aws: &AwsArgs) -> Result<Vec<String>, Failure> {
    let stacks: Vec<Stack> = mck_core::stack::list(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| mck_core::stack::load(dir, name).ok())
        .collect();
    super::regions(dir, aws, stacks.iter())
}

/// One stack as `mck ls` shows it.
#[derive(Debug, PartialEq, Eq)]
struct Listed {
    name: String,
    region: String,
    /// `file`, `preview`, or `remains` (still tagged in AWS, no file, no network: what AWS
    /// keeps a while after a `down`, such as secrets in their recovery window).
    kind: &'static str,
    /// The source, for a preview.
    preview_of: Option<String>,
    /// Tagged resources in the region.
    resources: usize,
    created_by: Option<String>,
    /// RFC 3339.
    created: Option<String>,
    /// RFC 3339.
    expires: Option<String>,
    /// Past its expiry (`mck down --expired` removes it).
    expired: bool,
}

impl Listed {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "region": self.region,
            "kind": self.kind,
            "preview_of": self.preview_of,
            "resources": self.resources,
            "created_by": self.created_by,
            "created": self.created,
            "expires": self.expires,
            "expired": self.expired,
        })
    }
}

/// Every stack of the region, from one network listing and one tag search.
async fn list_region(
    reader: &dyn Reader,
    dir: &Path,
    region: &str,
    now: u64,
) -> Result<Vec<Listed>, Failure> {
    let failed = |e: mck_core::provider::ProviderError| {
        Failure(format!("failed to list the stacks in {region}: {e}"))
    };
    let networks = reader.list_networks().await.map_err(failed)?;
    let counts = reader.count_resources().await.map_err(failed)?;
    let previews: BTreeMap<String, PreviewOf> = live_previews(&networks)
        .into_iter()
        .map(|p| (p.name, p.of))
        .collect();
    let mut names: Vec<&String> = counts.keys().chain(previews.keys()).collect();
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .map(|name| {
            let of = previews.get(name);
            let kind = match of {
                Some(_) => "preview",
                None if dir.join(format!("{name}.yaml")).exists() => "file",
                None => "remains",
            };
            Listed {
                name: name.clone(),
                region: region.to_string(),
                kind,
                preview_of: of.map(|o| o.from.clone()),
                resources: counts.get(name).copied().unwrap_or(0),
                created_by: of.map(|o| o.created_by.clone()),
                created: of.map(|o| mck_core::time::rfc3339(o.created)),
                expires: of.map(|o| mck_core::time::rfc3339(o.expires)),
                expired: of.is_some_and(|o| o.expires <= now),
            }
        })
        .collect())
}

/// `mck ls`.
pub(super) async fn ls(dir: &Path, aws: &AwsArgs, json: bool) -> Result<u8, Failure> {
    let config = aws_config(aws, "ls");
    let now = mck_core::time::now_unix();
    let mut all = Vec::new();
    for region in regions(dir, aws)? {
        let reader = AwsReader::connect(&config, &region).await;
        all.extend(list_region(&reader, dir, &region, now).await?);
    }
    if json {
        let list: Vec<serde_json::Value> = all.iter().map(Listed::to_json).collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(OK);
    }
    if all.is_empty() {
        ui::note("no mck stacks found");
        return Ok(OK);
    }
    print!("{}", table(&all, now));
    Ok(OK)
}

/// How long ago `created` was, in the largest whole unit (`3d`, `5h`, `12m`).
fn age(created: u64, now: u64) -> String {
    let secs = now.saturating_sub(created);
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

fn table(all: &[Listed], now: u64) -> String {
    let rows: Vec<[String; 7]> = all
        .iter()
        .map(|l| {
            let created = l.created.as_deref().and_then(mck_core::time::parse_rfc3339);
            [
                l.name.clone(),
                l.region.clone(),
                match &l.preview_of {
                    Some(from) => format!("preview of {from}"),
                    None => l.kind.to_string(),
                },
                created.map_or_else(|| "-".into(), |c| age(c, now)),
                l.resources.to_string(),
                l.created_by.clone().unwrap_or_else(|| "-".into()),
                match &l.expires {
                    Some(at) if l.expired => format!("{at} (expired)"),
                    Some(at) => at.clone(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    let header = [
        "STACK",
        "REGION",
        "KIND",
        "AGE",
        "RESOURCES",
        "CREATED BY",
        "EXPIRES",
    ];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `mck down --expired`: every preview past its expiry, removed one after the other, each
/// under its own lock, then what was removed.
pub(super) async fn down_expired(
    dir: &Path,
    aws: &AwsArgs,
    approval: &ApprovalArgs,
    view: View,
    json: bool,
) -> Result<u8, Failure> {
    let config = aws_config(aws, "down");
    let now = mck_core::time::now_unix();
    // (region, preview): the VPCs' tags alone say which expired (no tag search needed).
    let mut expired = Vec::new();
    for region in regions(dir, aws)? {
        let reader = AwsReader::connect(&config, &region).await;
        let networks = reader
            .list_networks()
            .await
            .map_err(|e| Failure(format!("failed to list the previews in {region}: {e}")))?;
        expired.extend(
            live_previews(&networks)
                .into_iter()
                .filter(|p| p.of.expires <= now)
                .map(|p| (region.clone(), p)),
        );
    }
    if expired.is_empty() {
        ui::note("no preview is past its expiry: nothing to remove");
        return Ok(OK);
    }
    ui::note(&format!(
        "{} expired preview(s): {}",
        expired.len(),
        expired
            .iter()
            .map(|(_, p)| format!(
                "{} (expired {})",
                p.name,
                mck_core::time::rfc3339(p.of.expires)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let (mut removed, mut failed) = (Vec::new(), Vec::new());
    for (region, preview) in &expired {
        let args = StackArgs {
            stack: preview.name.clone(),
            stacks_dir: dir.to_path_buf(),
            set: Vec::new(),
            from: Some(preview.of.from.clone()),
        };
        let mut aws = aws.clone();
        aws.region = Some(region.clone());
        match down(&args, &aws, approval, false, view, json).await {
            Ok(OK) => removed.push(preview.name.clone()),
            Ok(code) => failed.push(format!("{} (exit {code})", preview.name)),
            Err(Failure(message)) => {
                ui::error(&message);
                failed.push(preview.name.clone());
            }
        }
    }
    ui::note(&format!(
        "removed {} expired preview(s){}{}",
        removed.len(),
        if removed.is_empty() {
            String::new()
        } else {
            format!(": {}", removed.join(", "))
        },
        if failed.is_empty() {
            String::new()
        } else {
            format!("; not removed: {}", failed.join(", "))
        }
    ));
    Ok(if failed.is_empty() { OK } else { super::ERROR })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_keep_what_aws_allows() {
        assert_eq!(tag_value("octo-cat[bot]"), "octo-cat-bot-");
        assert_eq!(tag_value("Jane Doe"), "Jane Doe");
        assert_eq!(tag_value(&"x".repeat(200)).len(), 128);
    }

    #[test]
    fn ages_are_in_the_largest_whole_unit() {
        assert_eq!(age(0, 3 * 86_400 + 5), "3d");
        assert_eq!(age(100, 100 + 5 * 3600), "5h");
        assert_eq!(age(100, 100 + 120), "2m");
        assert_eq!(age(200, 100), "0m");
    }

    #[test]
    fn the_table_says_what_each_stack_is_and_which_expired() {
        let listed = vec![
            Listed {
                name: "pr-7".into(),
                region: "us-east-1".into(),
                kind: "preview",
                preview_of: Some("stage".into()),
                resources: 90,
                created_by: Some("octocat".into()),
                created: Some("1970-01-01T00:00:00Z".into()),
                expires: Some("1970-01-04T00:00:00Z".into()),
                expired: true,
            },
            Listed {
                name: "stage".into(),
                region: "us-east-1".into(),
                kind: "file",
                preview_of: None,
                resources: 120,
                created_by: None,
                created: None,
                expires: None,
                expired: false,
            },
        ];
        let text = table(&listed, 5 * 86_400);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("STACK"), "{text}");
        assert!(
            lines[1].contains("preview of stage") && lines[1].contains("5d"),
            "{text}"
        );
        assert!(
            lines[1].contains("1970-01-04T00:00:00Z (expired)"),
            "{text}"
        );
        assert!(
            lines[2].contains("file") && lines[2].contains("120"),
            "{text}"
        );
    }
}
