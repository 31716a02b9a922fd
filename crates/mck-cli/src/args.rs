//! Command-line arguments as typed; resolved into a config by `commands`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `mck --version`: the crate's version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MCK_GIT_COMMIT"),
    ")"
);

/// Provision and keep in shape the MageCloudKit AWS reference architecture.
///
/// Exit codes: 0 success (no changes), 1 error, 2 changes present (plan --detailed-exitcode).
#[derive(Debug, Parser)]
#[command(name = "mck", version = VERSION, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    /// Stack name: reads <stacks-dir>/<NAME>.yaml.
    #[arg(long = "stack", short = 's', value_name = "NAME")]
    pub stack: String,
    /// Directory holding the stack files.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "stacks",
        env = "MCK_STACKS_DIR"
    )]
    pub stacks_dir: PathBuf,
    /// Override one stack value (repeatable), typed and validated like the file:
    /// `--set release.tag=$GIT_SHA`, `--set apps.frontend.count=3`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// The stack is a preview of STACK, made from its file (no file of its own):
    /// `--stack pr-123 --from stage` (docs/previews.md).
    #[arg(long, value_name = "STACK")]
    pub from: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// AWS region (default: the stack's `region`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile from the AWS config files.
    #[arg(long, value_name = "NAME", env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// Send every AWS request to this endpoint (e.g. the local emulator). `AWS_ENDPOINT_URL` is
    /// honoured too.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Steps run at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub concurrency: usize,
    /// Wait at most this long for any resource to become ready or deleted (e.g. 90s, 10m),
    /// whatever the stack's timeouts say.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_wait: Option<std::time::Duration>,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    mck_core::stack::parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration; write e.g. 90s, 10m or 1h"))
}

/// How `up` and `down` may proceed.
#[derive(Debug, Clone, Args)]
pub struct ApprovalArgs {
    /// Change AWS without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Allow replacing or deleting resources that hold data (DB cluster, caches, file system).
    #[arg(long)]
    pub allow_data_loss: bool,
    /// When resources claim one logical id (duplicates), delete the extra copies of kinds that
    /// hold no data (after the confirmation) and go on; data-holding copies are left for you.
    #[arg(long)]
    pub dedupe: bool,
    /// Do not take the stack lock. Dangerous: two runs at once build two of everything. For
    /// when the lock store itself is unavailable (like Terraform's `-lock=false`).
    #[arg(long)]
    pub no_lock: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a stack file (schema, CIDRs, zones, references) without calling AWS.
    Validate {
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Show what `up` would change, reading live state from AWS.
    Plan {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Exit 2 when there are changes (0 when none, 1 on error).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Show the full field-level diff even at a terminal (a terminal shows a plan of more
        /// than 25 changes as a summary first; pipes, CI logs and `--json` always get everything).
        #[arg(long, conflicts_with = "summary")]
        detail: bool,
        /// Show the plan as its summary (per tier and action) wherever the output goes.
        #[arg(long)]
        summary: bool,
        /// Print the plan as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Print the number of AWS requests and the wall time.
        #[arg(long)]
        stats: bool,
    },
    /// Create, update, replace and delete resources until AWS matches the stack.
    Up {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        approval: ApprovalArgs,
        /// Show the full field-level diff even at a terminal (a terminal shows a plan of more
        /// than 25 changes as a summary first; pipes, CI logs and `--json` always get everything).
        #[arg(long, conflicts_with = "summary")]
        detail: bool,
        /// Show the plan as its summary (per tier and action) wherever the output goes.
        #[arg(long)]
        summary: bool,
        /// Stream the plan, every progress event and the summary as JSON, one object per line
        /// on stdout (`event`: `plan`, `started`, `waiting`, `retrying`, `finished`, `summary`).
        #[arg(long)]
        json: bool,
        /// With --from: how long the preview lives from now, e.g. 3d or 12h (a new one:
        /// default the source's `preview.ttl`; an existing one is extended when this is later).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "from")]
        ttl: Option<std::time::Duration>,
        /// With --from: an empty database instead of a clone of the source's.
        #[arg(long, requires = "from")]
        empty_db: bool,
    },
    /// Delete every resource of the stack (or, with --expired, of every expired preview).
    Down {
        /// Stack name: reads <stacks-dir>/<NAME>.yaml.
        #[arg(
            long = "stack",
            short = 's',
            value_name = "NAME",
            required_unless_present = "expired",
            conflicts_with = "expired"
        )]
        stack: Option<String>,
        /// Directory holding the stack files.
        #[arg(
            long,
            value_name = "DIR",
            default_value = "stacks",
            env = "MCK_STACKS_DIR"
        )]
        stacks_dir: PathBuf,
        /// Override one stack value (repeatable), as for `up`.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// The stack is a preview of STACK (`--stack pr-123 --from stage`).
        #[arg(long, value_name = "STACK")]
        from: Option<String>,
        /// Remove every preview past its expiry (in the region(s) of the stack files, or
        /// --region), each under its lock, and report what was removed.
        #[arg(long)]
        expired: bool,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        approval: ApprovalArgs,
        /// Delete a stack marked `protected: true` (prod).
        #[arg(long)]
        force: bool,
        /// Show the full field-level diff even at a terminal (a terminal shows a plan of more
        /// than 25 changes as a summary first; pipes, CI logs and `--json` always get everything).
        #[arg(long, conflicts_with = "summary")]
        detail: bool,
        /// Show the plan as its summary (per tier and action) wherever the output goes.
        #[arg(long)]
        summary: bool,
        /// Stream the plan, every progress event and the summary as JSON, one object per line
        /// on stdout (`event`: `plan`, `started`, `waiting`, `retrying`, `finished`, `summary`).
        #[arg(long)]
        json: bool,
    },
    /// Print the resource graph of a stack (no AWS call).
    Graph {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Print the stack's outputs (VPC id, subnet ids, bastion IP…) from live state.
    Outputs {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Print a JSON object on stdout.
        #[arg(long)]
        json: bool,
        /// Every output of every resource (`<id>.<output>`), not only the short list.
        #[arg(long)]
        all: bool,
    },
    /// What each app's service runs (revision, images, `REVISION`) and the earlier revisions
    /// still registered, from live state (read-only).
    Releases {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Move every app's service back to the revision before the one it runs (after a
    /// confirmation). An exception to the stack file: `plan` and `drift` show it until the next
    /// `up`. The database is not rolled back.
    Rollback {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Roll back without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Stream progress events and the summary as JSON lines on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Report whether AWS still matches the stack (read-only). Exit 0 in sync, 2 drift, 1 error.
    Drift {
        /// Stack name: reads <stacks-dir>/<NAME>.yaml.
        #[arg(
            long = "stack",
            short = 's',
            value_name = "NAME",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        stack: Option<String>,
        /// The stack is a preview of STACK (`--stack pr-123 --from stage`).
        #[arg(long, value_name = "STACK", requires = "stack")]
        from: Option<String>,
        /// Every stack found by its tags in the region(s) of the stack files, in one report.
        #[arg(long)]
        all: bool,
        /// Directory holding the stack files.
        #[arg(
            long,
            value_name = "DIR",
            default_value = "stacks",
            env = "MCK_STACKS_DIR"
        )]
        stacks_dir: PathBuf,
        #[command(flatten)]
        aws: AwsArgs,
        /// The format printed on stdout.
        #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
        format: DriftFormat,
        /// Also write the report in FORMAT to FILE (repeatable), e.g. `--output sarif=drift.sarif`.
        #[arg(long, value_name = "FORMAT=FILE", value_parser = parse_output)]
        output: Vec<(DriftFormat, PathBuf)>,
        /// For each drifted resource, the last write event on it from CloudTrail.
        #[arg(long)]
        who: bool,
        /// Print the number of AWS requests and the wall time (stderr).
        #[arg(long)]
        stats: bool,
    },
    /// Break the stack's lock, after showing who holds it (when that run is gone for good).
    Unlock {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Break it without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Rotate a login without a failed request: `db` sets a new password on the apps' other
    /// database user, rolls every service onto it behind its health gate, then locks the old
    /// user. Safe to interrupt: run it again to resume.
    Rotate {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// What to rotate.
        #[arg(value_enum)]
        target: RotateTarget,
        /// Rotate without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Run a command in a running task of an app (ECS Exec through AWS's Session Manager
    /// plugin): `mck exec --stack prod -- bin/magento indexer:status`; a shell without one.
    Exec {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// The app whose task to enter (default: admin, else the first app).
        #[arg(long, value_name = "APP")]
        app: Option<String>,
        /// The container (default: php-fpm, else the app's first container without a port).
        #[arg(long, value_name = "NAME")]
        container: Option<String>,
        /// The command and its arguments (default: sh).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Forward a local port to a data service of the stack through a running task (Session
    /// Manager port forwarding): prints where to connect and which secret holds the login.
    Tunnel {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// What to reach.
        #[arg(value_enum)]
        to: TunnelTarget,
        /// The local port (default: the service's own port).
        #[arg(long, value_name = "N")]
        port: Option<u16>,
        /// Also print the password (only to a terminal).
        #[arg(long)]
        show_password: bool,
    },
    /// List every mck stack in the region(s) of the stack files (or --region): its kind (a
    /// file, or a preview of another stack), age, resource count, creator and expiry.
    Ls {
        /// Directory holding the stack files.
        #[arg(
            long,
            value_name = "DIR",
            default_value = "stacks",
            env = "MCK_STACKS_DIR"
        )]
        stacks_dir: PathBuf,
        #[command(flatten)]
        aws: AwsArgs,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// What `mck tunnel` reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TunnelTarget {
    /// The Aurora cluster's writer (3306).
    Db,
    /// The Aurora cluster's readers (3306).
    DbRo,
    /// Redis `cache` (6379, TLS).
    RedisCache,
    /// Redis `session` (6379, TLS).
    RedisSession,
    /// The OpenSearch domain (443).
    Search,
    /// The RabbitMQ broker (AMQPS 5671).
    Mq,
}

/// What `mck rotate` rotates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RotateTarget {
    /// The apps' database login (`database.app_user`).
    Db,
}

/// `mck drift` report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    Text,
    Json,
    Markdown,
    Junit,
    Sarif,
}

fn parse_output(text: &str) -> Result<(DriftFormat, PathBuf), String> {
    let (format, file) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: write FORMAT=FILE, e.g. sarif=drift.sarif"))?;
    let format = DriftFormat::from_str(format, true).map_err(|_| {
        format!("`{format}` is not a report format; use text, json, markdown, junit or sarif")
    })?;
    if file.is_empty() {
        return Err(format!("`{text}`: the file name is missing"));
    }
    Ok((format, PathBuf::from(file)))
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::{Cli, DriftFormat, parse_output};

    /// clap checks the whole definition (conflicting names, bad defaults, a positional after a
    /// variadic one) only when asked, so a mistake would otherwise surface at a user's command.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_drift_output_is_format_equals_file() {
        assert_eq!(
            parse_output("sarif=drift.sarif"),
            Ok((DriftFormat::Sarif, "drift.sarif".into()))
        );
        for (bad, says) in [
            ("drift.sarif", "write FORMAT=FILE"),
            ("pdf=drift.pdf", "`pdf` is not a report format"),
            ("json=", "the file name is missing"),
        ] {
            let err = parse_output(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
