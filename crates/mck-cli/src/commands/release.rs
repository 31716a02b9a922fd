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
    ERROR, Failure, OK, aws_config, check_region, confirm, engine, load_args, load_failure,
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
    if let Some(live) = &loaded.kept_release
        && let Some(sentence) = kept_release_note(&name, live, &loaded.stack.file_release)
    {
        ui::note(&sentence);
    }
    Ok((loaded.stack, loaded.desired))
}

/// What to say about a release kept in effect: one plain sentence, and only when it differs
/// from what the stack file says (`None` when they agree: nothing to explain).
fn kept_release_note(
    stack: &str,
    live: &mck_core::model::LiveRelease,
    file: &mck_core::model::ReleaseValues,
) -> Option<String> {
    if &live.in_effect == file {
        return None;
    }
    let short = |r: &mck_core::model::ReleaseValues| match (&r.tag, &r.revision) {
        (Some(tag), Some(revision)) if revision != tag => format!("{tag} (revision {revision})"),
        (Some(tag), _) => tag.clone(),
        (None, Some(revision)) => format!("revision {revision}"),
        (None, None) => "no release".to_string(),
    };
    let running = short(&live.in_effect);
    Some(format!(
        "{stack} runs release {running} (deployed with --set); the file says {}; `up` keeps {running} until --set release.tag=… or the file's release.tag changes",
        short(file)
    ))
}

pub(super) async fn releases(args: &StackArgs, aws: &AwsArgs, json: bool) -> Result<u8, Failure> {
    let (stack, desired) = load_args(args)?;
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
    let (stack, desired) = load_args(args)?;
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
            tokio::spawn(ui::progress(rx, steps.len(), false))
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

#[cfg(test)]
mod tests {
    use mck_core::model::{LiveRelease, ReleaseValues};

    use super::kept_release_note;

    fn values(tag: Option<&str>, revision: Option<&str>) -> ReleaseValues {
        ReleaseValues {
            tag: tag.map(str::to_string),
            revision: revision.map(str::to_string),
        }
    }

    #[test]
    fn a_kept_release_is_said_in_one_sentence_only_when_it_differs_from_the_file() {
        let file = values(Some("2.4.7-p1"), None);
        let same = LiveRelease {
            in_effect: file.clone(),
            file: file.clone(),
        };
        assert_eq!(kept_release_note("prod", &same, &file), None);
        let deployed = LiveRelease {
            in_effect: values(Some("2.4.8"), Some("3f2a9c1")),
            file: file.clone(),
        };
        assert_eq!(
            kept_release_note("prod", &deployed, &file).as_deref(),
            Some(
                "prod runs release 2.4.8 (revision 3f2a9c1) (deployed with --set); the file says 2.4.7-p1; `up` keeps 2.4.8 (revision 3f2a9c1) until --set release.tag=… or the file's release.tag changes"
            )
        );
    }
}
