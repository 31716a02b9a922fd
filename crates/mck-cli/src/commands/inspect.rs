//! `validate`, `graph` and `outputs`: a stack's check, its graph, and its live outputs (read
//! on a reader, which has no mutating operation).

#![expect(
    clippy::print_stdout,
    reason = "graphs and outputs are the commands' products"
)]

use mck_aws::AwsReader;

use super::{Failure, OK, aws_config, check_region, load, read_failure};
use crate::args::{AwsArgs, GraphFormat, StackArgs};
use crate::ui;

pub(super) fn validate(args: &StackArgs) -> Result<u8, Failure> {
    let desired = load(args)?;
    ui::note(&format!(
        "stack {} is valid: {} resources",
        desired.stack(),
        desired.len()
    ));
    Ok(OK)
}

pub(super) fn graph(args: &StackArgs, format: GraphFormat) -> Result<u8, Failure> {
    let desired = load(args)?;
    match format {
        GraphFormat::Dot => print!("{}", desired.to_dot()),
        GraphFormat::Mermaid => print!("{}", desired.to_mermaid()),
    }
    Ok(OK)
}

pub(super) async fn outputs(
    args: &StackArgs,
    aws: &AwsArgs,
    json: bool,
    all: bool,
) -> Result<u8, Failure> {
    let desired = load(args)?;
    check_region(aws, desired.stack(), desired.region())?;
    // Read-only: a reader has no mutating operation.
    let reader = AwsReader::connect(&aws_config(aws, "outputs"), desired.region()).await;
    let mut observed = mck_core::engine::read_with_retries(&reader, desired.stack())
        .await
        .map_err(|e| read_failure(&desired, e))?;
    mck_core::provider::resolve_cloud_refs(&mut observed);
    let outputs = if all {
        mck_core::plan::all_outputs(&observed)
    } else {
        mck_core::plan::outputs(&desired, &observed)
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&outputs)?);
    } else if outputs.is_empty() {
        ui::note(&format!("stack {} has no live resources", desired.stack()));
    } else {
        let width = outputs.keys().map(String::len).max().unwrap_or(0);
        for (key, value) in &outputs {
            println!("{key:width$} = {value}");
        }
    }
    Ok(OK)
}
