//! `mck`: the MageCloudKit provisioning engine's command-line tool. Glue only: arguments are
//! resolved into a config, then mck-core does the work through the AWS provider.

mod args;
mod commands;
mod ui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            ui::error(&format!("failed to start the async runtime: {err}"));
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    // Do not wait for in-flight SDK connections to wind down.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// Logs (not UI) go to stderr, filtered by `MCK_LOG` (e.g. `MCK_LOG=mck_aws=debug`).
fn init_logging() {
    use tracing_subscriber::prelude::*;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(true)
                .with_filter(log_filter(std::env::var("MCK_LOG").ok().as_deref())),
        )
        .init();
}

/// Where the SDK and its HTTP stack log whole requests and responses at `trace`: bodies carry
/// the generated passwords mck sends (CreateSecret, CreateBroker, CreateDomain) and reads
/// (GetSecretValue). Capped at `debug` whatever `MCK_LOG` says, so no log level prints them.
const BODY_LOGGERS: &[&str] = &[
    "aws_smithy_runtime::client::orchestrator",
    "aws_smithy_http_client",
    "hyper",
    "hyper_util",
];

/// `MCK_LOG`'s filter (off when unset or invalid), and on top of it [`BODY_LOGGERS`] never
/// below `debug`: a cap, which never turns on what `MCK_LOG` leaves off.
fn log_filter<S>(spec: Option<&str>) -> impl tracing_subscriber::layer::Filter<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
    let asked = spec
        .and_then(|spec| tracing_subscriber::EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("off"));
    let caps = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(
            BODY_LOGGERS
                .iter()
                .map(|target| (*target, LevelFilter::DEBUG)),
        );
    asked.and(caps)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a subscriber with `MCK_LOG=spec` writes for an SDK request trace and one of mck's.
    fn logged(spec: &str) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        use tracing_subscriber::prelude::*;
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || Sink(sink.clone()))
                .with_filter(log_filter(Some(spec))),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(
                target: "aws_smithy_runtime::client::orchestrator",
                request = "{\"SecretString\":\"hunter2\"}",
                "transmitting request"
            );
            tracing::trace!(target: "mck_aws::request", operation = "CreateSecret", "request");
        });
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The cap never turns anything on: without `MCK_LOG` nothing is logged, SDK debug
    /// lines included.
    #[test]
    fn the_cap_turns_nothing_on() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        use tracing_subscriber::prelude::*;
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || Sink(sink.clone()))
                .with_filter(log_filter(None)),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "retry loop");
        });
        assert!(out.lock().unwrap().is_empty());
    }

    #[test]
    fn no_log_level_prints_request_bodies_but_mck_traces_stay() {
        for spec in [
            "trace",
            "aws_smithy_runtime=trace,mck_aws=trace",
            "aws_smithy_runtime::client::orchestrator=trace,trace",
        ] {
            let text = logged(spec);
            assert!(!text.contains("hunter2"), "{spec}: {text}");
            assert!(
                text.contains("CreateSecret"),
                "{spec}: mck's own trace is kept: {text}"
            );
        }
    }
}
