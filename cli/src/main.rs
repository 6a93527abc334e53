//! `lakeline`: the command line of lakeline.
//!
//! - `lakeline validate FILE --dataset NAME` checks a local file with exactly the rules the
//!   Lambda applies, before anyone uploads it.
//! - `lakeline curate FILE --dataset NAME --out OUT.parquet` converts a local file exactly as
//!   the curate Lambda does, so a team sees what the lake will hold.
//! - `lakeline table sync|append|show`: the datasets' Iceberg tables (`lakeline_cli::table`).
//! - `lakeline registry check|push` (the registry, and the datasets' tables with it),
//!   `lakeline compaction-report` (the small-file report of a real lake).
//! - `lakeline redrive|rerun|replay|redrive-dlq`: run a failure again once its cause is fixed
//!   (`lakeline_cli::again`); every alert's "What to do" names one of them.
//!
//! The emulator harness (demo, router) is `lakeline-local`, in `local/`.

mod compaction;

use lakeline_cli::again;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use lakeline_core::registry::{Format, KeyRoute, Registry};
use lakeline_core::validate::{self, Report};

#[derive(Parser)]
#[command(name = "lakeline", version, about = "Guard and run an S3 data lake")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a local file against a dataset; prints the report as JSON.
    /// Exit status: 0 valid, 1 invalid, 2 usage or configuration error.
    Validate {
        /// The file to check (`-` for standard input; not for Parquet).
        file: PathBuf,
        /// The dataset it belongs to.
        #[arg(long)]
        dataset: String,
        /// The dataset registry.
        #[arg(long, default_value = "config/datasets.yaml")]
        config: PathBuf,
        /// The raw key it would be uploaded to; also checks the key's naming and partition.
        #[arg(long)]
        key: Option<String>,
        /// The day `partition_freshness` judges the key's date against (YYYY-MM-DD; default:
        /// today in UTC, as validate-upload uses).
        #[arg(long)]
        today: Option<String>,
    },
    /// Convert a local file exactly as the curate Lambda would, into a local Parquet file; prints
    /// what was written as JSON (or the validation report when the file is invalid).
    /// Exit status: 0 written, 1 invalid (nothing written), 2 usage or configuration error.
    Curate {
        /// The file to convert (`-` for standard input; not for Parquet).
        file: PathBuf,
        /// The dataset it belongs to.
        #[arg(long)]
        dataset: String,
        /// Where to write the Parquet file (written next to it first, renamed when complete).
        #[arg(long)]
        out: PathBuf,
        /// The dataset registry.
        #[arg(long, default_value = "config/datasets.yaml")]
        config: PathBuf,
        /// The raw key it would be uploaded to: decides gzip and the provenance recorded.
        #[arg(long)]
        key: Option<String>,
    },
    /// The datasets' Apache Iceberg tables: sync, append a file, show.
    Table {
        #[command(subcommand)]
        cmd: lakeline_cli::table::TableCmd,
    },
    /// Check or publish the dataset registry.
    Registry {
        #[command(subcommand)]
        cmd: RegistryCmd,
    },
    /// Report small files under an S3 prefix, per folder, worst first, with totals and the
    /// check-compaction decision (default settings; expects AWS credentials or AWS_ENDPOINT_URL).
    CompactionReport {
        /// Where to look, e.g. `s3://lake/curated/orders/`.
        uri: String,
        /// Target file size (small = below 75 % of it).
        #[arg(long)]
        target: Option<lakeline_core::size::ByteSize>,
        /// Folders listed at the same time.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Resume a failed, timed-out or aborted execution at the step that failed
    /// (Step Functions RedriveExecution; same input, same ARN). Re-runs: that execution, from
    /// the failed step, with the input Step Functions kept, under the state machine's role.
    Redrive {
        /// The execution's ARN.
        execution_arn: String,
    },
    /// Run the upload of a failed, timed-out, aborted or superseded execution again: validated
    /// and routed by validate-upload with today's registry, as a new execution named after the
    /// old one (`…-r1`, `…-r2`); asking twice starts it once. Re-runs: one upload, from
    /// validation on; from the execution's input (bucket, key, ETag) and the object in raw/;
    /// under validate-upload's and the pipeline's roles.
    Rerun {
        /// The execution's ARN.
        execution_arn: String,
        /// validate-upload's function name or ARN (default: $LAKELINE_VALIDATE_FUNCTION).
        #[arg(long, env = FUNCTION_ENV)]
        function: String,
    },
    /// Put a quarantined object back at its raw key, with an audit trail in its metadata
    /// (when, why, the previous verdict); its upload event has it validated again. Re-runs:
    /// one quarantined file, from its upload event; from its copy in quarantine/; the copy as
    /// the operator, the rest under validate-upload's role.
    Replay {
        /// The quarantined object, `s3://bucket/quarantine/raw/…`.
        uri: String,
        /// Why (recorded in the object's metadata).
        #[arg(long)]
        reason: String,
        /// The lake's quarantine prefix.
        #[arg(long, default_value = "quarantine/")]
        quarantine_prefix: String,
    },
    /// A stack's datasets at a glance: the last delivery and the SLA, files and rows today
    /// and over 7 days, quarantine in 24 h with the top reasons, failed executions with the
    /// command that fixes each, the table (snapshots, files, small files, last compaction),
    /// commit lag and the estimated cost per day. What needs attention comes first under the
    /// table. Exit 0 when nothing needs attention, 1 when something does, 2 on error.
    Status {
        /// The stack.
        #[arg(long)]
        stack: String,
        /// One dataset only.
        #[arg(long)]
        dataset: Option<String>,
        /// Print JSON (schema `lakeline.status/1`, docs/status.md) instead of the table.
        #[arg(long)]
        json: bool,
        /// Also write a self-contained HTML page with charts to this file.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Validate and curate every raw object of a date range again under today's registry,
    /// through the pipeline (each handed to validate-upload, run under the stack's roles).
    /// Re-runs: every upload of the range, from validation on; from the objects in raw/ (not
    /// quarantined ones: `replay` those); under validate-upload's and the pipeline's roles. A valid
    /// file's rows replace what the table held of it in one snapshot; a file that now fails
    /// is quarantined with an alert and its rows leave the table. Idempotent: each object's
    /// pass is named after it and the dataset's rules, so a second run does no work for
    /// objects already done. Prints the summary as JSON (progress on standard error).
    /// Exit 0 when nothing failed, 1 when an object failed or is still running, 2 usage or
    /// configuration error.
    Reprocess {
        /// The dataset.
        #[arg(long)]
        dataset: String,
        /// The first date (YYYY-MM-DD; the key's `{date}`, or the upload's day for keys
        /// without one).
        #[arg(long)]
        from: String,
        /// The last date, inclusive.
        #[arg(long)]
        to: String,
        /// The stack (its outputs name the registry, the bucket, validate-upload and the
        /// state machine).
        #[arg(long)]
        stack: String,
        /// List what would be reprocessed (and what is done already); touch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Objects handed to validate-upload per second.
        #[arg(long, default_value_t = 5.0)]
        rate: f64,
        /// Seconds to wait for the started executions before reporting them as running.
        #[arg(long, default_value_t = 900)]
        wait: u64,
    },
    /// Hand the events in validate-upload's dead-letter queue (stack output
    /// `DeadLetterQueueUrl`) to it again; each is deleted once processed. Re-runs: the upload
    /// events validate-upload gave up on, from its dead-letter queue, under its role.
    RedriveDlq {
        /// The queue URL.
        queue_url: String,
        /// validate-upload's function name or ARN (default: $LAKELINE_VALIDATE_FUNCTION).
        #[arg(long, env = FUNCTION_ENV)]
        function: String,
        /// At most this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
}

/// Where `rerun` and `redrive-dlq` find validate-upload (the stack output
/// `ValidateUploadFunctionName`).
const FUNCTION_ENV: &str = "LAKELINE_VALIDATE_FUNCTION";

#[derive(Subcommand)]
enum RegistryCmd {
    /// Validate a registry offline, exactly as the functions load it. Exit 0 valid, 2 invalid.
    Check {
        /// The registry file.
        #[arg(default_value = "config/datasets.yaml")]
        file: PathBuf,
        /// The stack's artifact prefix (`s3://bucket/artifacts/`): Spark entry points must
        /// live under it (the functions check the same with LAKELINE_ARTIFACT_PREFIX).
        #[arg(long)]
        artifact_prefix: Option<String>,
        /// Print the registry as lakeline reads it, as JSON (YAML 1.2 scalars resolved,
        /// defaults filled in, timestamp bounds with their offsets), instead of the summary
        /// line: the snapshot a Spark run is handed.
        #[arg(long, conflicts_with_all = ["warehouse", "stack"])]
        json: bool,
        /// Also compare each dataset's columns with its table (offline without one): prints
        /// the schema changes `registry push` would make (add, drop, rename, widen, reorder),
        /// and exits 2 on one it would refuse (a type change other than a promotion).
        #[command(flatten)]
        tables: lakeline_cli::table::TargetArgs,
    },
    /// Validate, create or evolve every dataset's Iceberg table to it, then publish: a
    /// versioned copy (`<dir>/versions/<time>-<sha12>.yaml`) and the live key the functions
    /// read, both carrying the content hash (x-amz-meta-lakeline-sha256). Tables first, so a
    /// function on the new registry never meets an older table; a table change the registry
    /// asks for and lakeline refuses (a column's type) publishes nothing.
    Push {
        /// The registry file.
        file: PathBuf,
        /// The live registry, e.g. `s3://lake/config/datasets.yaml` (default with `--stack`:
        /// the stack's `RegistryUri` output).
        #[arg(long)]
        to: Option<String>,
        /// Where the datasets' tables are (`--stack NAME` names both the registry and them).
        #[command(flatten)]
        tables: lakeline_cli::table::TargetArgs,
        /// Publish the registry alone, without touching tables (curate then fails with
        /// Lakeline.Config until each dataset's table exists and matches).
        #[arg(long, conflicts_with_all = ["warehouse", "catalog"])]
        no_tables: bool,
        /// As for `check` (default with `--stack`: the stack's `ArtifactUri`).
        #[arg(long)]
        artifact_prefix: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    };
    let result = match cli.cmd {
        Cmd::Validate {
            file,
            dataset,
            config,
            key,
            today,
        } => validate_cmd(&file, &dataset, &config, key.as_deref(), today.as_deref()),
        Cmd::Curate {
            file,
            dataset,
            out,
            config,
            key,
        } => curate_cmd(&file, &dataset, &out, &config, key.as_deref()),
        Cmd::Table { cmd } => runtime().block_on(lakeline_cli::table::run(cmd, load_registry)),
        Cmd::Registry { cmd } => match cmd {
            RegistryCmd::Check {
                file,
                artifact_prefix,
                json,
                tables,
            } => registry_check(&file, artifact_prefix.as_deref(), &placeholder_vars(), json)
                .and_then(|(reg, _)| {
                    if tables.is_none() || json {
                        return Ok(ExitCode::SUCCESS);
                    }
                    runtime().block_on(registry_plan(&reg, &tables))
                }),
            RegistryCmd::Push {
                file,
                to,
                tables,
                no_tables,
                artifact_prefix,
            } => runtime().block_on(registry_push(
                &file,
                to.as_deref(),
                &tables,
                no_tables,
                artifact_prefix.as_deref(),
            )),
        },
        Cmd::CompactionReport {
            uri,
            target,
            concurrency,
        } => runtime().block_on(compaction::run(&uri, target, concurrency)),
        Cmd::Redrive { execution_arn } => runtime().block_on(async {
            let conf = lakeline_aws::sdk_config().await;
            let sfn = aws_sdk_sfn::Client::new(&conf);
            print_json(again::redrive(&sfn, &execution_arn).await?)
        }),
        Cmd::Rerun {
            execution_arn,
            function,
        } => runtime().block_on(async {
            let conf = lakeline_aws::sdk_config().await;
            let out = again::rerun(
                &aws_sdk_sfn::Client::new(&conf),
                &lakeline_aws::s3_client(&conf),
                &aws_sdk_lambda::Client::new(&conf),
                &execution_arn,
                &function,
            )
            .await?;
            // Started, or nothing to start (a superseded upload's successor has its own run).
            let started = out["outcome"] == "valid" || out["outcome"] == "superseded";
            print_json(out)?;
            Ok(if started {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }),
        Cmd::Replay {
            uri,
            reason,
            quarantine_prefix,
        } => runtime().block_on(async {
            let conf = lakeline_aws::sdk_config().await;
            let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
                .fmt(aws_smithy_types::date_time::Format::DateTime)?;
            print_json(
                again::replay(
                    &lakeline_aws::s3_client(&conf),
                    &uri,
                    &reason,
                    &quarantine_prefix,
                    &now,
                    &again::Copying::default(),
                )
                .await?,
            )
        }),
        Cmd::Status {
            stack,
            dataset,
            json,
            html,
        } => runtime().block_on(status_cmd(
            &stack,
            dataset.as_deref(),
            json,
            html.as_deref(),
        )),
        Cmd::Reprocess {
            dataset,
            from,
            to,
            stack,
            dry_run,
            rate,
            wait,
        } => runtime().block_on(reprocess_cmd(
            &dataset,
            &from,
            &to,
            &stack,
            lakeline_cli::reprocess::Options {
                dry_run,
                rate,
                wait: std::time::Duration::from_secs(wait),
            },
        )),
        Cmd::RedriveDlq {
            queue_url,
            function,
            max,
        } => runtime().block_on(async {
            let conf = lakeline_aws::sdk_config().await;
            let out = again::redrive_dlq(
                &aws_sdk_sqs::Client::new(&conf),
                &aws_sdk_lambda::Client::new(&conf),
                &queue_url,
                &function,
                max,
                300,
                &mut lakeline_cli::progress::Progress::new("redrive-dlq", 0),
            )
            .await?;
            let clean = out["failed"].as_array().is_some_and(Vec::is_empty);
            print_json(out)?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lakeline: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `lakeline status`.
async fn status_cmd(
    stack: &str,
    dataset: Option<&str>,
    json: bool,
    html: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use lakeline_cli::status;
    let conf = lakeline_aws::sdk_config().await;
    let clients = status::Clients {
        s3: lakeline_aws::s3_client(&conf),
        sfn: aws_sdk_sfn::Client::new(&conf),
        conf: conf.clone(),
    };
    let (outputs, registry) = status::stack_and_registry(&conf, &clients.s3, stack).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let s = status::gather(&clients, stack, &outputs, &registry, dataset, now).await?;
    if let Some(path) = html {
        std::fs::write(path, status::render::html(&s))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", status::render::terminal(&s));
    }
    Ok(if s.datasets.iter().all(|d| d.attention.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `lakeline reprocess`: the stack's outputs, its live registry, the plan, the run.
async fn reprocess_cmd(
    dataset: &str,
    from: &str,
    to: &str,
    stack: &str,
    opts: lakeline_cli::reprocess::Options,
) -> anyhow::Result<ExitCode> {
    use lakeline_cli::reprocess;
    let conf = lakeline_aws::sdk_config().await;
    let outputs = lakeline_cli::stack::StackOutputs::read(&conf, stack).await?;
    let clients = reprocess::Clients {
        s3: lakeline_aws::s3_client(&conf),
        sfn: aws_sdk_sfn::Client::new(&conf),
        lambda: aws_sdk_lambda::Client::new(&conf),
    };
    let registry = lakeline_aws::load_registry(
        outputs.registry_uri()?,
        &clients.s3,
        &outputs.placeholder_vars(),
    )
    .await?;
    let (name, ds) = registry.dataset(dataset).with_context(|| {
        format!(
            "no dataset {dataset:?} in the live registry {}",
            outputs.registry_uri().unwrap_or_default()
        )
    })?;
    let pipeline = reprocess::Pipeline {
        bucket: outputs.get("LakeBucketName")?.to_string(),
        state_machine_arn: outputs.get("StateMachineArn")?.to_string(),
        function: outputs.get("ValidateUploadFunctionName")?.to_string(),
    };
    let plan = reprocess::plan(&clients, &pipeline, name, ds, from, to).await?;
    let mut progress =
        lakeline_cli::progress::Progress::new("reprocess", plan.objects.len() as u64);
    let out = reprocess::run(&clients, &pipeline, &plan, &opts, &mut progress).await?;
    let clean =
        out["failed"].as_u64().unwrap_or(0) == 0 && out["running"].as_u64().unwrap_or(0) == 0;
    print_json(out)?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_json(v: serde_json::Value) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}

/// Loads and checks a registry file; (registry, its text).
fn registry_check(
    file: &Path,
    artifact_prefix: Option<&str>,
    vars: &lakeline_core::placeholders::Vars,
    json: bool,
) -> anyhow::Result<(Registry, String)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let origin = file.display().to_string();
    let reg = lakeline_core::placeholders::load(&text, &origin, vars)?;
    if let Some(p) = artifact_prefix {
        reg.check_entry_points(p, &origin)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reg)?);
        return Ok((reg, text));
    }
    println!(
        "{origin}: valid, {} datasets ({}), content sha256 {}",
        reg.datasets.len(),
        reg.datasets
            .keys()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        reg.content_hash()
    );
    Ok((reg, text))
}

/// `registry check` against tables: each dataset's planned schema changes, or why one is
/// refused (exit 2).
async fn registry_plan(
    reg: &Registry,
    target: &lakeline_cli::table::TargetArgs,
) -> anyhow::Result<ExitCode> {
    let conf = lakeline_aws::sdk_config().await;
    let target = target
        .target_if_any(Some(&conf))
        .await?
        .context("no table target")?;
    let tables = lakeline_table::Tables::open_with(Some(&conf), &target).await?;
    let mut refused = 0;
    for (name, ds) in reg.datasets.iter() {
        match lakeline_table::sync::plan_sync(&tables, name, ds).await {
            Ok(None) => println!("table {}: would be created", tables.ident(name)),
            Ok(Some(changes)) if changes.is_empty() => {
                println!("table {}: matches", tables.ident(name))
            }
            Ok(Some(changes)) => {
                println!("table {}: `registry push` would:", tables.ident(name));
                for c in changes {
                    println!("  - {c}");
                }
            }
            Err(lakeline_table::Error::Schema(why)) => {
                refused += 1;
                println!("table {}: REFUSED: {why}", tables.ident(name));
            }
            Err(e) => return Err(e).with_context(|| format!("dataset {name}")),
        }
    }
    Ok(if refused > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn registry_push(
    file: &Path,
    to: Option<&str>,
    tables: &lakeline_cli::table::TargetArgs,
    no_tables: bool,
    artifact_prefix: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let conf = lakeline_aws::sdk_config().await;
    // With --stack, the registry is checked with that stack's placeholder values and artifact
    // prefix (its outputs), not the shell's.
    let outputs = match tables.stack() {
        Some(stack) => Some(lakeline_cli::stack::StackOutputs::read(&conf, stack).await?),
        None => None,
    };
    let (vars, artifact_prefix) = match &outputs {
        Some(o) => (
            o.placeholder_vars(),
            artifact_prefix.or_else(|| o.artifact_prefix()),
        ),
        None => (placeholder_vars(), artifact_prefix),
    };
    let (reg, text) = registry_check(file, artifact_prefix, &vars, false)?;
    lakeline_cli::registry::push(&conf, &reg, &text, to, outputs.as_ref(), tables, no_tables)
        .await?;
    Ok(ExitCode::SUCCESS)
}

fn load_registry(path: &Path) -> anyhow::Result<Registry> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(lakeline_core::placeholders::load(
        &text,
        &path.display().to_string(),
        &placeholder_vars(),
    )?)
}

/// `${LAKELINE_…}` placeholder values from this shell (a stack's, when its settings are
/// exported; else the registry's defaults apply).
fn placeholder_vars() -> lakeline_core::placeholders::Vars {
    use lakeline_aws::Env;
    lakeline_aws::ProcessEnv.placeholder_vars()
}

/// A dataset of the registry, or an error listing the ones there are.
fn dataset_of<'r>(
    reg: &'r Registry,
    dataset: &str,
    config: &Path,
) -> anyhow::Result<(
    &'r lakeline_core::registry::DatasetName,
    &'r lakeline_core::registry::Dataset,
)> {
    reg.dataset(dataset).ok_or_else(|| {
        let known: Vec<&str> = reg.datasets.keys().map(|n| n.as_str()).collect();
        anyhow::anyhow!(
            "no dataset {dataset:?} in {}; known: {}",
            config.display(),
            known.join(", ")
        )
    })
}

fn validate_cmd(
    file: &Path,
    dataset: &str,
    config: &Path,
    key: Option<&str>,
    today: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let reg = load_registry(config)?;
    let (name, ds) = dataset_of(&reg, dataset, config)?;
    let today = match today {
        Some(t) => lakeline_core::types::parse_date(t.as_bytes())
            .with_context(|| format!("--today {t:?} is not a date (YYYY-MM-DD)"))?,
        None => validate::day_of_unix_seconds(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        ),
    };
    let shown = key
        .map(str::to_string)
        .unwrap_or_else(|| file.display().to_string());
    let file_name = key
        .and_then(|k| k.rsplit('/').next())
        .or_else(|| file.file_name().and_then(|f| f.to_str()))
        .unwrap_or_default()
        .to_string();

    let mut early = Vec::new();
    if let Some(k) = key {
        match reg.route(k) {
            KeyRoute::Matched { name: n, m, .. } if n == name => {
                early.extend(validate::partition_problem(ds, &m, today))
            }
            KeyRoute::Matched { name: n, .. } => {
                bail!("key {k:?} belongs to dataset {n}, not {dataset}")
            }
            KeyRoute::Misnamed {
                name: n,
                dataset: d,
                why,
            } if n == name => early.push(validate::key_problem(&why, d.key_pattern.as_str())),
            _ => bail!(
                "key {k:?} is not under dataset {dataset}'s prefix {}",
                ds.key_pattern.prefix()
            ),
        }
    }
    let stdin = file.as_os_str() == "-";
    if !stdin {
        let size = std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        early.extend(validate::precheck(ds, &file_name, size));
    }
    let max = reg.lake.max_problems;
    let report = if !early.is_empty() {
        validate::rejected_unread(name.as_str(), ds, &shown, early)
    } else if ds.format == Format::Parquet {
        if stdin {
            bail!("Parquet is checked by its footer: give a file, not standard input");
        }
        parquet_report(file, name.as_str(), ds, &shown, max)?
    } else {
        let source: Box<dyn Read> = if stdin {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
            )
        };
        // The key decides gzip with `compression: auto`, so pass the name the file would have.
        let gz_name = if file_name.is_empty() {
            shown.clone()
        } else {
            file_name.clone()
        };
        let mut r = validate::validate_stream(name.as_str(), ds, &gz_name, max, source)?;
        r.key = shown;
        r
    };
    let mut report = report;
    if ds.checksum.is_some() {
        // Judged on arrival from the checksum S3 verified: a local file has none.
        report
            .unchecked
            .push("checksum: judged on upload (x-amz-checksum-sha256, which S3 verifies)".into());
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if report.verdict == validate::Verdict::Valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn curate_cmd(
    file: &Path,
    dataset: &str,
    out: &Path,
    config: &Path,
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use lakeline_core::curate::{self, Provenance};
    let reg = load_registry(config)?;
    let (name, ds) = dataset_of(&reg, dataset, config)?;
    let stdin = file.as_os_str() == "-";
    let shown = key
        .map(str::to_string)
        .unwrap_or_else(|| file.display().to_string());
    let prov = Provenance {
        source: shown.clone(),
        source_version: String::new(),
        dataset: name.to_string(),
        registry_sha256: reg.content_hash(),
    };
    // Written beside the target and renamed at the end, so OUT is whole or untouched.
    let tmp = out.with_extension("parquet.partial");
    let sink = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
    );
    let res = if ds.format == Format::Parquet {
        if stdin {
            bail!("Parquet is read by its footer: give a file, not standard input");
        }
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .with_context(|| format!("reading the Parquet footer of {}", file.display()));
        match b {
            Ok(b) => {
                let declared: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
                let mask = parquet::arrow::ProjectionMask::columns(
                    b.parquet_schema(),
                    declared.iter().copied(),
                );
                let rows = curate::input::batch_rows(b.metadata(), &declared);
                let batches = b.with_projection(mask).with_batch_size(rows).build()?;
                curate::curate_batches(name.as_str(), ds, &shown, batches, sink, &prov)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
    } else {
        let source: Box<dyn Read> = if stdin {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
            )
        };
        let gz_name = key
            .or_else(|| file.file_name().and_then(|f| f.to_str()))
            .unwrap_or_default();
        let max = reg.lake.max_problems;
        curate::curate_stream(name.as_str(), ds, gz_name, max, source, sink, &prov)
    };
    let curated = match res {
        Ok((c, mut w)) => {
            use std::io::Write;
            w.flush()?;
            drop(w);
            std::fs::rename(&tmp, out)
                .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
            c
        }
        Err(lakeline_core::Error::Invalid(mut report)) => {
            let _ = std::fs::remove_file(&tmp);
            report.key = shown;
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    let bytes = std::fs::metadata(out)?.len();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "status": "CURATED",
            "out": out.display().to_string(),
            "dataset": name.as_str(),
            "rows": curated.rows,
            "rowGroups": curated.row_groups,
            "bytes": bytes,
            "columns": curated.columns,
        }))?
    );
    Ok(ExitCode::SUCCESS)
}

/// The same two reads the Lambda makes with ranged GETs, as seeks in a local file.
fn parquet_report(
    file: &Path,
    name: &str,
    ds: &lakeline_core::registry::Dataset,
    shown: &str,
    max: usize,
) -> anyhow::Result<Report> {
    let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = f.metadata()?.len();
    let mut read = |start: u64, len: u64| -> anyhow::Result<Vec<u8>> {
        let mut buf = vec![0u8; usize::try_from(len)?];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        Ok(buf)
    };
    let tail_len = validate::PARQUET_TAIL_LEN.min(size);
    Ok(
        match validate::parquet_tail(name, ds, shown, size, &read(size - tail_len, tail_len)?) {
            validate::ParquetStep::Done(report) => report,
            validate::ParquetStep::NeedMetadata(footer, report) => validate::parquet_finish(
                report,
                &read(footer.metadata_start, footer.metadata_len)?,
                ds,
                max,
            ),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command that runs something again says what it re-runs, from where and under
    /// whose role (docs/faults-and-recovery.md has them side by side).
    #[test]
    fn every_command_that_runs_something_again_says_what_and_from_where() {
        let cli = Cli::command();
        let about = |path: &[&str]| {
            let mut c = &cli;
            for p in path {
                c = c
                    .find_subcommand(p)
                    .unwrap_or_else(|| panic!("no command {p}"));
            }
            c.get_long_about()
                .or(c.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default()
        };
        for path in [
            &["redrive"][..],
            &["rerun"],
            &["replay"],
            &["redrive-dlq"],
            &["reprocess"],
        ] {
            let text = about(path);
            assert!(text.contains("Re-runs:"), "{path:?}: {text}");
            assert!(text.contains(" from "), "{path:?}: {text}");
            assert!(text.contains("role"), "{path:?}: {text}");
        }
        for path in [&["table", "undo"][..], &["table", "rollback"]] {
            let text = about(path);
            assert!(text.contains("Runs nothing again"), "{path:?}: {text}");
        }
    }
}
