//! Releases: the release in effect kept over the stack files (`keep_live_release`, for every
//! command that plans or compares), `releases` and `rollback`.

#![expect(
    clippy::print_stdout,
    reason = "the list of releases is the command's product"
)]

use std::sync::Arc;

use mck_aws::AwsReader;
use mck_core::exec::CancelToken;
use mck_core::graph::DesiredGraph;
use mck_core::stack::Stack;

use super::lock::{let_go, take_lock};
use super::{
    ERROR, Failure, OK, aws_config, check_region, confirm, engine, load_failure, load_stack_with,
    overrides, read_failure,
};
use crate::args::{AwsArgs, StackArgs};
use crate::ui;

/// The stack as the command line gives it, with the release recorded after the last
/// successful `up` kept in effect when the command line sets no `release.*` and the files still
/// say what that release was made over (docs/releases.md; [`mck_core::engine::keep_live_release`]).
pub(super) async fn keep_live_release(
    reader: &dyn mck_core::provider::Reader,
    stack: Stack,
    desired: Arc<DesiredGraph>,
    sets: &[String],
) -> Result<(Stack, Arc<DesiredGraph>), Failure> {
    let name = stack.name.clone();
    let loaded = mck_core::engine::LoadedStack {
        stack,
        desired,
        kept_release: None,
    };
    let loaded = mck_core::engine::keep_live_release(reader, loaded, &overrides(&name, sets)?)
        .await
        .map_err(|err| load_failure(&name, err))?;
    if let Some(live) = &loaded.kept_release {
        ui::note(&format!(
            "release: keeping the build released from the command line ({}; the stack file says {}); --set release.tag=… or an edit of the file's release.tag changes it",
            live.in_effect, loaded.stack.file_release
        ));
    }
    Ok((loaded.stack, loaded.desired))
}

pub(super) async fn releases(args: &StackArgs, aws: &AwsArgs, json: bool) -> Result<u8, Failure> {
    let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
    check_region(aws, desired.stack(), desired.region())?;
    let reader = AwsReader::connect(&aws_config(aws, "releases"), desired.region()).await;
    let (_, desired) = keep_live_release(&reader, stack, desired, &args.set).await?;
    let releases = mck_core::release::releases(&reader, &desired)
        .await
        .map_err(|e| read_failure(&desired, e))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&releases)?);
    } else {
        print!("{}", releases.render_text());
    }
    Ok(OK)
}

pub(super) async fn rollback(
    args: &StackArgs,
    aws: &AwsArgs,
    yes: bool,
    json: bool,
) -> Result<u8, Failure> {
    let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
    let engine = engine(aws, &desired, "rollback").await?;
    let (_, desired) =
        keep_live_release(engine.provider().as_ref(), stack, desired, &args.set).await?;
    let cancel = CancelToken::default();
    let lock = take_lock(&engine, desired.stack(), &cancel).await?;
    let result = async {
        let releases = mck_core::release::releases(engine.provider().as_ref(), &desired)
            .await
            .map_err(|e| read_failure(&desired, e))?;
        let steps = mck_core::release::plan_rollback(&releases)
            .map_err(|e| Failure(format!("nothing was changed: {e}")))?;
        for step in &steps {
            ui::note(&format!(
                "{}: {} -> revision {} ({})",
                step.app,
                step.from.number,
                step.to.number,
                step.to
                    .images
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        ui::note(
            "the database is not rolled back; the stack file still describes the newest revision, so `plan` and `drift` show this until the next `up`",
        );
        confirm(
            yes,
            &format!("Roll back the services of stack {}?", desired.stack()),
        )?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = if json {
            tokio::spawn(ui::json_events(rx))
        } else {
            tokio::spawn(ui::progress(rx, steps.len()))
        };
        let summary = mck_core::release::rollback(
            engine.provider().clone(),
            engine.config(),
            desired.clone(),
            &steps,
            tx,
            cancel.clone(),
        )
        .await
        .map_err(|e| read_failure(&desired, e))?;
        let _ = printer.await;
        let requests = engine.provider().request_count();
        if json {
            ui::json_line(&serde_json::json!({
                "event": "summary",
                "verb": "rollback",
                "success": summary.is_success(),
                "summary": summary,
                "requests": requests,
            }));
        } else {
            ui::summary(&summary, "rollback", requests);
        }
        Ok(if summary.is_success() { OK } else { ERROR })
    }
    .await;
    let_go(lock).await;
    result
}
