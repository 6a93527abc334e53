//! `lakeline-local`: lakeline against the local AWS emulator (what `make demo` and
//! `scripts/local-aws` run). The `lakeline` command for real lakes lives in `cli/`.
//!
//! - `lakeline-local demo` runs the pipeline on the sample data against the emulator.
//! - `lakeline-local router` serves the Lambda Invoke API in front of moto.

mod demo;
mod demo_tables;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lakeline_core::registry::Registry;
use lakeline_local::router;

#[derive(Parser)]
#[command(
    name = "lakeline-local",
    version,
    about = "lakeline on the local AWS emulator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the pipeline locally on the sample data against the local AWS emulator
    /// (expects AWS_ENDPOINT_URL; `make demo` sets everything up).
    Demo {
        /// The folder with sample files (`<dataset>/<file>`).
        #[arg(long, default_value = "samples")]
        samples: PathBuf,
        /// The dataset registry.
        #[arg(long, default_value = "config/datasets.yaml")]
        config: PathBuf,
    },
    /// The local Lambda service for executing state machines in the emulator: serves the
    /// Lambda Invoke API with lakeline's handlers and forwards everything else to moto.
    Router {
        /// Port to listen on (127.0.0.1); moto's MOTO_PORT must name it.
        #[arg(long)]
        port: u16,
        /// moto's base URL, e.g. http://127.0.0.1:5000.
        #[arg(long)]
        moto: String,
        /// Append every AWS call (principal, IAM actions, resources) to this JSON Lines file,
        /// for the permissions check (tests/permissions).
        #[arg(long, env = "LAKELINE_CALLS_LOG")]
        calls: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cli.cmd {
        Cmd::Demo { samples, config } => runtime.block_on(demo::run(&samples, &config)),
        Cmd::Router { port, moto, calls } => runtime
            .block_on(router::serve(port, moto, calls))
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lakeline-local: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_registry(path: &Path) -> anyhow::Result<Registry> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // The local stack names its own jobs (stack.rs), so the registry's defaults do here.
    Ok(lakeline_core::placeholders::load(
        &text,
        &path.display().to_string(),
        &Default::default(),
    )?)
}
