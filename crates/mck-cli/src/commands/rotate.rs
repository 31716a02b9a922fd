//! `mck rotate --stack NAME db`: rotates the apps' database login with no failed request
//! ([`mck_core::rotation`]), under the stack's lock.

use mck_aws::AwsDbLogins;
use mck_core::exec::CancelToken;

use super::lock::{let_go, take_lock};
use super::release::keep_live_release;
use super::{Failure, OK, aws_engine, confirm, load_args};
use crate::args::{AwsArgs, RotateTarget, StackArgs};
use crate::ui;

pub(super) async fn rotate(
    args: &StackArgs,
    aws: &AwsArgs,
    target: RotateTarget,
    yes: bool,
) -> Result<u8, Failure> {
    let RotateTarget::Db = target;
    let (stack, desired) = load_args(args)?;
    let (engine, cloud) = aws_engine(aws, &desired, "rotate").await?;
    let (_, desired) =
        keep_live_release(engine.provider().as_ref(), stack, desired, &args.set).await?;
    let name = desired.stack().to_string();
    confirm(
        yes,
        &format!(
            "Rotate the database login of stack {name} (every service is rolled onto the new login)?"
        ),
    )?;
    let cancel = CancelToken::default();
    let guard = take_lock(&engine, &name, &cancel).await?;
    let result = async {
        let plan = engine
            .plan(desired.clone())
            .await
            .map_err(|e| Failure(format!("failed to read stack {name}: {e}")))?;
        let logins = AwsDbLogins::new(cloud, desired.clone(), plan.observed().clone())
            .map_err(|e| Failure(format!("nothing was changed: {e}")))?;
        let today = mck_core::time::today_utc();
        let done = mck_core::rotation::rotate(&logins, &today, &|step| ui::note(step))
            .await
            .map_err(|e| {
                Failure(format!(
                    "the rotation of stack {name}'s database login stopped: {e}\n  \
                     the services keep a login the database accepts; run `mck rotate --stack {name} db` again to resume"
                ))
            })?;
        ui::note(&format!(
            "rotated: the services ({}) use {}; {} is locked{}",
            done.services.join(", "),
            done.to,
            done.from,
            if done.resumed { " (resumed an earlier run)" } else { "" }
        ));
        Ok(OK)
    }
    .await;
    let_go(guard).await;
    result
}
