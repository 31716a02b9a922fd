//! `mck drift`: one stack, or every stack found by its tags in the regions of the stack files,
//! each checked on a reader and reported together.

#![expect(
    clippy::print_stdout,
    reason = "the drift report is the command's product"
)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use mck_aws::AwsReader;
use mck_core::Engine;
use mck_core::drift::{self, DriftReport, Format, StackDrift};
use mck_core::stack::Stack;

use super::release::keep_live_release;
use super::{Failure, aws_config, check_region, load_stack};
use crate::args::{AwsArgs, DriftFormat};
use crate::ui;

/// Which stacks `mck drift` checks.
pub(super) enum DriftTarget {
    /// One stack: its file, or a preview of the second (`--from`).
    One(String, Option<String>),
    /// Every stack found by its tags, in the regions of the stack files (or `--region`).
    All,
}

fn drift_format(format: DriftFormat) -> Format {
    match format {
        DriftFormat::Text => Format::Text,
        DriftFormat::Json => Format::Json,
        DriftFormat::Markdown => Format::Markdown,
        DriftFormat::Junit => Format::Junit,
        DriftFormat::Sarif => Format::Sarif,
    }
}

/// `mck drift`: read-only by construction, on an [`AwsReader`], which has no mutating
/// operation. Exit 0 in sync, 2 drift, 1 error (also when a report file cannot be written).
/// How `mck drift` reports.
pub(super) struct DriftOptions {
    pub(super) format: DriftFormat,
    pub(super) outputs: Vec<(DriftFormat, PathBuf)>,
    pub(super) who: bool,
    pub(super) stats: bool,
}

pub(super) async fn drift(
    target: DriftTarget,
    dir: &Path,
    aws: &AwsArgs,
    options: &DriftOptions,
) -> Result<u8, Failure> {
    let DriftOptions {
        format,
        outputs,
        who,
        stats,
    } = options;
    let (format, who) = (*format, *who);
    let started = Instant::now();
    let mut requests = 0;
    let today = drift::today_utc();
    let config = aws_config(aws, "drift");
    let mut stacks: Vec<StackDrift> = Vec::new();
    match target {
        DriftTarget::One(name, from) => {
            let (source, _) = load_stack(dir, from.as_deref().unwrap_or(&name))?;
            check_region(aws, &source.name, &source.config.region)?;
            let reader = AwsReader::connect(&config, &source.config.region).await;
            let stack = match &from {
                None => source,
                // A preview: what its VPC's tags recorded.
                Some(from) => {
                    let of = mck_core::preview::existing(&reader, &name, from)
                        .await
                        .map_err(|e| Failure(format!("preview {name}: {e}")))?
                        .ok_or_else(|| {
                            Failure(format!(
                                "there is no preview {name} of {from}: nothing of it exists"
                            ))
                        })?;
                    mck_core::stack::load_preview(dir, &name, &of, &[])
                        .map_err(|e| Failure(format!("invalid stack `{name}`:\n{e}")))?
                }
            };
            stacks.push(check_one(&reader, &stack, &today, who).await);
            requests += mck_core::provider::Reader::request_count(&reader);
        }
        DriftTarget::All => {
            // The stack files say which regions to look in; `--region` overrides them.
            let names = mck_core::stack::list(dir)
                .map_err(|e| Failure(format!("cannot list stacks in {}: {e}", dir.display())))?;
            let mut files = std::collections::BTreeMap::new();
            for name in &names {
                files.insert(name.clone(), load_stack(dir, name)?.0);
            }
            let regions = super::regions(dir, aws, files.values())?;
            for region in regions {
                let reader = AwsReader::connect(&config, &region).await;
                let found = mck_core::provider::Reader::list_stacks(&reader)
                    .await
                    .map_err(|e| Failure(format!("failed to list stacks in {region}: {e}")))?;
                // Previews have no file: their VPCs say what they are made from.
                let networks = mck_core::provider::Reader::list_networks(&reader)
                    .await
                    .map_err(|e| Failure(format!("failed to list the VPCs in {region}: {e}")))?;
                let previews: std::collections::BTreeMap<String, mck_core::stack::PreviewOf> =
                    mck_core::preview::live_previews(&networks)
                        .into_iter()
                        .map(|p| (p.name, p.of))
                        .collect();
                for name in found {
                    match (files.get(&name), previews.get(&name)) {
                        (Some(stack), _)
                            if aws.region.is_some() || stack.config.region == region =>
                        {
                            stacks.push(check_one(&reader, stack, &today, who).await);
                        }
                        (Some(_), _) => {}
                        (None, Some(of)) => {
                            match mck_core::stack::load_preview(dir, &name, of, &[]) {
                                Ok(stack) => {
                                    stacks.push(check_one(&reader, &stack, &today, who).await);
                                }
                                Err(err) => stacks.push(StackDrift::failed(
                                    &name,
                                    &region,
                                    format!("preview of {}: {err}", of.from),
                                )),
                            }
                        }
                        (None, None) => stacks.push(StackDrift::failed(
                            &name,
                            &region,
                            format!(
                                "found in AWS by its mck:stack tags but there is no {}/{name}.yaml to compare it with",
                                dir.display()
                            ),
                        )),
                    }
                }
                requests += mck_core::provider::Reader::request_count(&reader);
            }
        }
    }
    let report = DriftReport::new(stacks);
    if *stats {
        ui::note(&format!(
            "stats: {requests} AWS requests for {} resources in {} ms",
            report.counts.checked,
            started.elapsed().as_millis()
        ));
    }
    for (format, file) in outputs.iter() {
        std::fs::write(file, report.render(drift_format(*format)))
            .map_err(|e| Failure(format!("cannot write {}: {e}", file.display())))?;
    }
    print!("{}", report.render(drift_format(format)));
    Ok(report.exit_code())
}

async fn check_one(reader: &AwsReader, stack: &Stack, today: &str, who: bool) -> StackDrift {
    // A release made from the command line is in effect, not drift.
    let live = match Engine::desired(stack) {
        Ok(desired) => keep_live_release(reader, stack.clone(), desired, &[])
            .await
            .ok(),
        Err(_) => None,
    };
    let stack = live.as_ref().map_or(stack, |(s, _)| s);
    let mut report = drift::check(reader, stack, today).await;
    if who {
        report.annotate_who(reader).await;
    }
    report
}
