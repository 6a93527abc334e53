//! `lakeline-local demo`: the whole pipeline on the sample data, against the local AWS emulator.
//!
//! It deploys a stack the way template.yaml does (see [`lakeline_local::stack`]), uploads every
//! sample plus the mistakes data teams really make, lets moto's S3 notifications reach the real
//! validate-upload handler, lets moto execute the real state machine (job → status checks),
//! and prints what happened to each file; then each dataset's Iceberg table, a corrected
//! re-upload replacing one file's rows, and a DuckDB query over the table; then a day of small
//! exports backfilled into the orders table and the scheduled maintenance sweep compacting that
//! partition in one `replace` snapshot. It exits non-zero when anything did not happen as it
//! should.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use lakeline_local::stack::{entered, receive, transitions, Stack, StackOptions};
use serde_json::Value;

/// The partition the samples land in: a closed day, so its table partition can be compacted.
const DT: &str = "2026-11-20";
/// Hourly exports backfilled into the orders table's partition: the small-file problem to find.
const SMALL_FILES: usize = 24;
/// Rows the corrected re-upload of the orders sample keeps.
const CORRECTED_ROWS: usize = 5;

/// What should become of an upload.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Valid, and curated: its execution succeeds and its Parquet object reads back.
    Curated,
    /// Valid and large: routed to the dataset's Glue job, which this emulator does not have,
    /// so the pipeline fails and alerts.
    PipelineFails,
    /// Rejected: quarantined with an alert.
    Quarantined,
}

/// Above this, orders files go to Glue in the demo (the sample registry says 2 GiB; a demo
/// cannot upload 2 GiB), so one generated export shows the Spark route.
const DEMO_GLUE_ABOVE: u64 = 64 << 10;

struct Upload {
    key: String,
    expect: Expect,
}

pub async fn run(samples: &Path, config: &Path) -> anyhow::Result<ExitCode> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").context(
        "AWS_ENDPOINT_URL is not set: run `make demo`, which starts the local AWS first",
    )?;
    let router = std::env::var("LAKELINE_ROUTER_URL")
        .context("LAKELINE_ROUTER_URL is not set: run `make demo`")?;
    let t0 = Instant::now();
    let mut registry = crate::load_registry(config)?;
    // Large orders files go to Glue: make "large" small enough for a demo.
    if let Some(lakeline_core::jobs::JobSpec::Glue(g)) = registry
        .datasets
        .iter_mut()
        .find(|(n, _)| n.as_str() == "orders")
        .and_then(|(_, d)| d.job.as_mut())
    {
        g.above = Some(lakeline_core::size::ByteSize(DEMO_GLUE_ABOVE));
    }
    let definition = std::fs::read_to_string("statemachine/pipeline.asl.json")
        .context("reading statemachine/pipeline.asl.json")?;
    let conf = lakeline_aws::sdk_config().await;
    let stack = Stack::deploy(
        &conf,
        &router,
        StackOptions {
            definition,
            registry,
            // No Glue job: the large file's route to Glue ends in an alert, as it would in an
            // account where the job was never deployed.
            glue_job_exists: false,
            glue_max_concurrent_runs: 10,
            tables_in_glue: false,
            glue_optimizers: false,
            maintenance_definition: std::fs::read_to_string("statemachine/maintenance.asl.json")
                .context("reading statemachine/maintenance.asl.json")?,
        },
    )
    .await?;
    // Glue runs stay RUNNING for two checks (moto's state manager), so the polling shows.
    moto_api(
        &endpoint,
        "/moto-api/state-manager/set-transition",
        r#"{"model_name":"glue::job_run","transition":{"progression":"manual","times":2}}"#,
    )
    .await?;
    let uploads_queue = stack.notify_uploads_to_queue().await?;
    println!(
        "deployed: bucket s3://{}, pipeline {}, alerts {}",
        stack.bucket, stack.state_machine_arn, stack.topic_arn
    );

    let csv_text = std::fs::read_to_string(samples.join("orders/good.csv"))
        .context("samples/orders/good.csv")?;

    // The uploads are a producer's (RawWriterArns), so the permissions check holds them to the
    // producer's least policy (docs/permissions.md).
    let producer = lakeline_aws::s3_client(&lakeline_local::identity::as_person(
        &conf,
        lakeline_local::identity::Person::Producer,
    ));
    let mut uploads = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(samples)
        .with_context(|| format!("reading {}", samples.display()))?
        .collect::<Result<_, _>>()?;
    dirs.sort_by_key(|d| d.file_name());
    for dir in dirs.iter().filter(|d| d.path().is_dir()) {
        let dataset = dir.file_name().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
        files.sort_by_key(|f| f.file_name());
        for f in files {
            let name = f.file_name().to_string_lossy().to_string();
            let key = format!("raw/{dataset}/dt={DT}/{name}");
            producer
                .put_object()
                .bucket(&stack.bucket)
                .key(&key)
                .body(std::fs::read(f.path())?.into())
                .send()
                .await?;
            let expect = if name.starts_with("good") {
                Expect::Curated
            } else {
                Expect::Quarantined
            };
            uploads.push(Upload { key, expect });
        }
    }
    let csv = std::fs::read(samples.join("orders/good.csv")).context("samples/orders/good.csv")?;
    // A large export: the good rows again and again, past the demo's Glue threshold.
    let mut big = csv.clone();
    let body = csv.splitn(2, |&b| b == b'\n').nth(1).unwrap_or_default();
    while big.len() as u64 <= DEMO_GLUE_ABOVE {
        big.extend_from_slice(body);
    }
    let big_key = format!("raw/orders/dt={DT}/big-export.csv");
    producer
        .put_object()
        .bucket(&stack.bucket)
        .key(&big_key)
        .body(big.into())
        .send()
        .await?;
    uploads.push(Upload {
        key: big_key,
        expect: Expect::PipelineFails,
    });
    for key in [
        format!("raw/orders/{DT}/forgot the dt.csv"),
        format!("raw/inventory/dt={DT}/actually-a-csv.parquet"),
    ] {
        producer
            .put_object()
            .bucket(&stack.bucket)
            .key(&key)
            .body(csv.clone().into())
            .send()
            .await?;
        uploads.push(Upload {
            key,
            expect: Expect::Quarantined,
        });
    }

    // S3 → validate-upload: each notification goes through the Lambda Invoke API.
    let mut outcomes: BTreeMap<String, Value> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while uploads.iter().any(|u| !outcomes.contains_key(&u.key)) && Instant::now() < deadline {
        for ev in receive(&stack.c.sqs, &uploads_queue, 1).await? {
            let (err, res) = stack.invoke("validate-upload", &ev).await?;
            if let Some(e) = err {
                bail!("validate-upload failed: {e}: {res}");
            }
            for o in res["outcomes"].as_array().into_iter().flatten() {
                outcomes.insert(o["key"].as_str().unwrap_or_default().to_string(), o.clone());
            }
        }
    }

    // The executions run in moto meanwhile; wait for each.
    let mut failures = Vec::new();
    let mut total_transitions = 0;
    let mut executions = 0;
    let mut alerts: Vec<Value> = Vec::new();
    for u in &uploads {
        let Some(o) = outcomes.get(&u.key) else {
            failures.push(format!(
                "{}: no S3 notification reached validate-upload",
                u.key
            ));
            continue;
        };
        let verdict = o["outcome"].as_str().unwrap_or("?");
        println!(
            "{}  {}",
            if verdict == "valid" {
                "VALID  "
            } else {
                "INVALID"
            },
            u.key
        );
        match verdict {
            "valid" => {
                println!(
                    "         stays in raw/, tagged lakeline:status=validated; {} rows",
                    o["rows"]
                );
                let name = o["execution"].as_str().unwrap_or_default();
                let arn = stack.execution_arn(name);
                let d = stack.finished(&arn, Duration::from_secs(120)).await?;
                let history = stack.history(&arn).await?;
                let n = transitions(&history);
                total_transitions += n;
                executions += 1;
                let secs = match (d.start_date(), d.stop_date()) {
                    (s, Some(e)) => (e.as_secs_f64() - s.as_secs_f64()).max(0.0),
                    _ => 0.0,
                };
                println!(
                    "         execution {name}: {} in {secs:.1} s, {n} state transitions",
                    d.status().as_str()
                );
                if let Some(out) = d
                    .output()
                    .and_then(|o| serde_json::from_str::<Value>(o).ok())
                {
                    if let Err(e) = print_success(&stack, &out, entered(&history, "CheckJob")).await
                    {
                        failures.push(format!("{}: {e:#}", u.key));
                    }
                }
                if let Some(err) = d.error() {
                    println!(
                        "         failed: {err}: {}",
                        lakeline_core::text::shorten(d.cause().unwrap_or_default(), 150)
                    );
                }
                let want = if u.expect == Expect::Curated {
                    "SUCCEEDED"
                } else {
                    "FAILED"
                };
                if d.status().as_str() != want {
                    failures.push(format!(
                        "{}: execution {}, expected {want}",
                        u.key,
                        d.status().as_str()
                    ));
                }
            }
            "quarantined" => {
                println!(
                    "         moved to s3://{}/{}",
                    stack.bucket,
                    o["quarantine_key"].as_str().unwrap_or_default()
                );
                for p in o["report"]["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(3)
                {
                    let line =
                        serde_json::from_value::<lakeline_core::validate::Problem>(p.clone())
                            .map(|p| p.to_string())
                            .unwrap_or_else(|_| p.to_string());
                    println!("         - {}", lakeline_core::text::shorten(&line, 140));
                }
            }
            other => println!("         {other}"),
        }
        let as_expected = match u.expect {
            Expect::Quarantined => verdict == "quarantined",
            Expect::Curated | Expect::PipelineFails => verdict == "valid",
        };
        if !as_expected {
            failures.push(format!("{}: verdict {verdict}", u.key));
        }
    }

    let want_alerts = uploads
        .iter()
        .filter(|u| u.expect != Expect::Curated)
        .count();
    let deadline = Instant::now() + Duration::from_secs(20);
    while alerts.len() < want_alerts && Instant::now() < deadline {
        alerts.extend(receive(&stack.c.sqs, &stack.alert_queue_url, 1).await?);
    }
    println!("\nAlerts received ({}):", alerts.len());
    for a in &alerts {
        println!("  {}", a["Subject"].as_str().unwrap_or_default());
    }
    if alerts.len() != want_alerts {
        failures.push(format!(
            "{} alerts arrived, expected {want_alerts}",
            alerts.len()
        ));
    }
    let pipeline_alert = alerts
        .iter()
        .find(|a| a["MessageAttributes"]["stage"]["Value"] == "job");
    if let Some(a) = pipeline_alert.or(alerts.first()) {
        let doc: Value =
            serde_json::from_str(a["Message"].as_str().unwrap_or("{}")).unwrap_or_default();
        println!(
            "\nOne alert as a human reads it (email):\nSubject: {}\n{}",
            a["Subject"].as_str().unwrap_or_default(),
            doc["text"].as_str().unwrap_or_default()
        );
    }

    // The tables: what the pipeline committed, a corrected re-upload, a DuckDB query.
    let corrected: Vec<u8> = csv
        .split_inclusive(|&b| b == b'\n')
        .take(1 + CORRECTED_ROWS)
        .flatten()
        .copied()
        .collect();
    failures.extend(
        crate::demo_tables::run(
            &stack,
            &producer,
            &uploads_queue,
            &format!("raw/orders/dt={DT}/good.csv"),
            corrected,
        )
        .await?,
    );

    // A day of hourly exports, backfilled with `lakeline table append` (as the table writer):
    // one small data file each in the orders table's partition, the small-file problem.
    backfill(&stack, &csv_text).await?;
    println!(
        "\nBackfilled {SMALL_FILES} hourly exports into lakeline.orders (`lakeline table append`, one small data file each)"
    );

    // The scheduled sweep, as it runs two hours from now: the partition is closed (its day is
    // past the grace days, and nothing was written for more than quiet_minutes).
    let now = std::time::SystemTime::now() + Duration::from_secs(2 * 3600);
    let now =
        aws_smithy_types::DateTime::from(now).fmt(aws_smithy_types::date_time::Format::DateTime)?;
    let partition = format!("lakeline.orders, partition _lakeline_date={DT}");
    let before = table_partition(&stack).await?;
    let name = lakeline_local::stack::unique("sweep");
    stack
        .schedule_sfn()
        .start_execution()
        .state_machine_arn(&stack.maintenance_arn)
        .name(&name)
        .input(serde_json::json!({"bucket": stack.bucket, "now": now}).to_string())
        .send()
        .await?;
    let arn = stack
        .maintenance_arn
        .replace(":stateMachine:", ":execution:")
        + ":"
        + &name;
    let d = stack.finished(&arn, Duration::from_secs(120)).await?;
    let history = stack.history(&arn).await?;
    println!(
        "\nMaintenance sweep (as at {now}): {} in {} state transitions",
        d.status().as_str(),
        transitions(&history)
    );
    let after = table_partition(&stack).await?;
    println!(
        "  {partition}: {} data files, {} rows, {} bytes  ->  {} file(s), {} rows, {} bytes (one replace snapshot by the compact Lambda; rows read back from the files)",
        before.files, before.rows, before.bytes, after.files, after.rows, after.bytes
    );
    for k in &after.keys {
        println!("    {k}");
    }
    if d.status().as_str() != "SUCCEEDED" {
        failures.push(format!(
            "maintenance sweep {}: {:?} {:?}",
            d.status().as_str(),
            d.error(),
            d.cause()
        ));
    }
    if after.rows != before.rows {
        failures.push(format!(
            "compaction changed the row count: {} before, {} after",
            before.rows, after.rows
        ));
    }
    if after.files != 1 {
        failures.push(format!(
            "compaction planned one file for the partition, {} are there",
            after.files
        ));
    }

    let valid = outcomes
        .values()
        .filter(|o| o["outcome"] == "valid")
        .count();
    println!(
        "{} files: {valid} valid, {} quarantined; {executions} executions, {total_transitions} state transitions (${:.5} at $0.025 per 1,000); {} alerts; {:.1} s",
        uploads.len(),
        outcomes.values().filter(|o| o["outcome"] == "quarantined").count(),
        total_transitions as f64 * 0.025 / 1000.0,
        alerts.len(),
        t0.elapsed().as_secs_f64()
    );
    let quarantined = outcomes
        .values()
        .filter(|o| o["outcome"] == "quarantined")
        .count() as u64;
    if let Err(e) = print_erase_dry_run(&stack).await {
        failures.push(format!(
            "lakeline table erase --dry-run --include-raw: {e:#}"
        ));
    }
    if let Err(e) = print_status(&stack, &conf, quarantined).await {
        failures.push(format!("lakeline status: {e:#}"));
    }
    if failures.is_empty() {
        println!("demo: everything happened as it should");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("demo: FAILED: {f}");
        }
        Ok(ExitCode::from(1))
    }
}

/// A deletion request for one customer, as the stack's eraser would run it first
/// (`lakeline table erase --where "customer = 'Anna Müller'" --dry-run --include-raw`): the
/// rows in the orders table and the uploads that hold them, raw and quarantined; nothing is
/// deleted. An error when it finds no row or no quarantined upload (the samples hold both).
async fn print_erase_dry_run(stack: &Stack) -> anyhow::Result<()> {
    use lakeline_local::identity::{as_person, Person};
    let eraser = as_person(&stack.conf, Person::Eraser);
    let tables = stack.tables(&eraser).await?;
    let (name, ds) = stack
        .registry
        .dataset("orders")
        .context("the registry has no orders dataset")?;
    let conds = lakeline_core::erase::parse_where("customer = 'Anna Müller'")
        .map_err(anyhow::Error::msg)?;
    let found =
        lakeline_table::erase::erase(&tables, &tables.ident(name), &conds, true, &mut ()).await?;
    let s3 = lakeline_aws::s3_client(&eraser);
    let lake = lakeline_cli::erase_raw::Lake {
        s3: &s3,
        bucket: &stack.bucket,
        reg: &stack.registry,
        dataset: name.as_str(),
        ds,
    };
    let uploads = lakeline_cli::erase_raw::erase_raw(&lake, &conds, &found, true).await?;
    println!(
        "erase (dry run, as the eraser): customer = 'Anna Müller' is in {} rows of {} data files of the orders table; the uploads holding them: {} raw, {} quarantined (of {} scanned); nothing deleted",
        found.rows,
        found.files.len(),
        uploads.raw.len(),
        uploads.quarantine.len(),
        uploads.quarantine_scanned
    );
    if found.rows == 0 || uploads.quarantine.is_empty() {
        bail!("the samples hold the customer's rows, in the table and in a quarantined upload; the dry run found {} rows and {} quarantined uploads", found.rows, uploads.quarantine.len());
    }
    Ok(())
}

/// `lakeline status` of the demo's stack, as the operator runs it: the table printed, the
/// HTML page written next to the build (`<target>/demo/status.html`); an error when the
/// quarantine it reports is not the demo's.
async fn print_status(
    stack: &Stack,
    conf: &aws_config::SdkConfig,
    quarantined: u64,
) -> anyhow::Result<()> {
    use lakeline_cli::status;
    let op = lakeline_local::identity::as_person(conf, lakeline_local::identity::Person::Operator);
    let c = status::Clients {
        s3: lakeline_aws::s3_client(&op),
        sfn: aws_sdk_sfn::Client::new(&op),
        conf: op.clone(),
    };
    let (outputs, registry) = status::stack_and_registry(&op, &c.s3, &stack.bucket).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let started = std::time::Instant::now();
    let s = status::gather(&c, &stack.bucket, &outputs, &registry, None, now).await?;
    let took = started.elapsed().as_secs_f64();
    println!("\n$ lakeline status --stack {}", stack.bucket);
    print!("{}", status::render::terminal(&s));
    let dir = std::path::PathBuf::from(
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
    )
    .join("demo");
    std::fs::create_dir_all(&dir)?;
    let page = dir.join("status.html");
    std::fs::write(&page, status::render::html(&s))?;
    println!(
        "status page: {} (gathered in {took:.2} s)\n",
        page.display()
    );
    let reported: u64 = s.datasets.iter().map(|d| d.quarantine_24h.files).sum();
    if reported != quarantined {
        anyhow::bail!(
            "it reports {reported} file(s) quarantined in 24 h, the demo quarantined {quarantined}"
        );
    }
    Ok(())
}

/// The summary a successful execution ends with (compaction is the maintenance sweep's, shown
/// at the end). A curated object is read back from S3 and its footer checked against what
/// curate reported; an error when they differ.
async fn print_success(stack: &Stack, out: &Value, checks: usize) -> anyhow::Result<()> {
    let job = &out["job"];
    if job["status"] == "ALREADY_COMMITTED" {
        println!(
            "         already in table {} (snapshot {}): nothing written",
            job["table"].as_str().unwrap_or("?"),
            job["snapshotId"]
        );
    } else if job["engine"] == "lambda" {
        print_curated(stack, job).await?;
    } else if !job.is_null() {
        let run = &job["run"];
        let engine = run["engine"].as_str().unwrap_or("?");
        let what = run["jobName"]
            .as_str()
            .or(run["applicationId"].as_str())
            .unwrap_or("?");
        let mut line = format!(
            "         job: {engine} {what} run {}: {} after {checks} status checks (emulator: no Spark ran, nothing was written)",
            run["runId"].as_str().unwrap_or("?"),
            job["status"].as_str().unwrap_or("?")
        );
        if let Some(d) = job["durationSeconds"].as_i64() {
            line.push_str(&format!(", {d} s"));
        }
        println!("{line}");
    }
    Ok(())
}

/// Prints a curated object (a table's data file, or an object under curated/) after reading
/// it back: where, rows, columns with types, bytes.
async fn print_curated(stack: &Stack, job: &Value) -> anyhow::Result<()> {
    let output = job["output"]
        .as_str()
        .context("curate answered without an output")?;
    let (bucket, key) = output
        .strip_prefix("s3://")
        .and_then(|r| r.split_once('/'))
        .with_context(|| format!("curate's output {output} is not an s3:// location"))?;
    let bytes = stack
        .c
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("reading back {output}"))?
        .body
        .collect()
        .await?
        .into_bytes();
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(bytes.clone())
        .with_context(|| format!("{output} is not readable Parquet"))?;
    use parquet::file::reader::FileReader;
    let meta = reader.metadata().file_metadata();
    let rows = u64::try_from(meta.num_rows()).unwrap_or(0);
    let columns: Vec<String> = meta
        .schema_descr()
        .columns()
        .iter()
        .map(|c| {
            use parquet::basic::{LogicalType, TimeUnit};
            let ty = match c.logical_type_ref() {
                Some(LogicalType::String) => "STRING".to_string(),
                Some(LogicalType::Date) => "DATE".to_string(),
                Some(LogicalType::Timestamp {
                    unit,
                    is_adjusted_to_u_t_c,
                }) => format!(
                    "TIMESTAMP({}, {})",
                    match unit {
                        TimeUnit::MILLIS => "ms",
                        TimeUnit::MICROS => "µs",
                        _ => "ns",
                    },
                    if *is_adjusted_to_u_t_c {
                        "UTC"
                    } else {
                        "local"
                    }
                ),
                _ => c.physical_type().to_string(),
            };
            format!("{} {}", c.name(), ty)
        })
        .collect();
    if job["status"] == "COMMITTED" {
        println!(
            "         committed to table {}: snapshot {} ({})",
            job["table"].as_str().unwrap_or("?"),
            job["snapshotId"],
            job["operation"].as_str().unwrap_or("?")
        );
    }
    println!(
        "         data file: {output}\n           {rows} rows, {} bytes, zstd; columns: {}",
        bytes.len(),
        columns.join(", ")
    );
    if Some(rows) != job["rows"].as_u64() || Some(bytes.len() as u64) != job["bytes"].as_u64() {
        bail!(
            "curate reported {} rows and {} bytes, the object read back has {rows} rows and {} bytes",
            job["rows"],
            job["bytes"],
            bytes.len()
        );
    }
    Ok(())
}

/// Small export `i`: the sample's rows with order ids of its own.
fn small_export(csv: &str, i: usize) -> String {
    let mut lines = csv.lines();
    let mut out = format!("{}\n", lines.next().unwrap_or_default());
    for (n, line) in lines.filter(|l| !l.is_empty()).enumerate() {
        let rest = line.split_once(',').map_or("", |(_, r)| r);
        out.push_str(&format!("{},{rest}\n", 1_000_000 + i * 1000 + n));
    }
    out
}

/// Data files of a partition: how many, their rows (from their footers) and bytes.
struct PartitionFiles {
    files: usize,
    rows: u64,
    bytes: u64,
    keys: Vec<String>,
}

/// The hourly exports, appended to the orders table as the table writer would with `lakeline
/// table append`: each a raw key of the demo's day, distinct order ids.
async fn backfill(stack: &Stack, csv: &str) -> anyhow::Result<()> {
    let writer = lakeline_local::identity::as_person(
        &stack.conf,
        lakeline_local::identity::Person::TableWriter,
    );
    let tables = stack.tables(&writer).await?;
    let (name, ds) = stack
        .registry
        .dataset("orders")
        .context("the registry has no orders dataset")?;
    let dir = std::env::temp_dir().join(lakeline_local::stack::unique("demo-exports"));
    std::fs::create_dir_all(&dir)?;
    for i in 0..SMALL_FILES {
        let file = dir.join(format!("export-{i:02}.csv"));
        std::fs::write(&file, small_export(csv, i))?;
        let key = format!("raw/orders/dt={DT}/export-{i:02}.csv");
        let a = lakeline_table::local::Append {
            file: &file,
            key: &key,
            version: None,
            execution: Some("lakeline table append"),
        };
        match lakeline_table::local::append_file(&tables, &stack.registry, name, ds, &a).await? {
            lakeline_table::local::Appended::Done { .. } => {}
            lakeline_table::local::Appended::Invalid(r) => bail!("export {i} is invalid: {r:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The data files of the orders table's partition of the demo's day, from its manifests, each
/// read back from storage (its footer's row count, its size).
async fn table_partition(stack: &Stack) -> anyhow::Result<PartitionFiles> {
    let tables = stack.tables(&stack.conf).await?;
    let (name, _) = stack
        .registry
        .dataset("orders")
        .context("the registry has no orders dataset")?;
    let table = tables.load_table(&tables.ident(name)).await?;
    let view = lakeline_table::show::show(&table).await?;
    let mut p = PartitionFiles {
        files: 0,
        rows: 0,
        bytes: 0,
        keys: Vec::new(),
    };
    for f in view
        .files
        .iter()
        .filter(|f| f.path.contains(&format!("_lakeline_date={DT}/")))
    {
        let (bucket, key) = f
            .path
            .strip_prefix("s3://")
            .and_then(|r| r.split_once('/'))
            .with_context(|| format!("{} is not an s3:// location", f.path))?;
        let body = stack
            .c
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await?
            .body
            .collect()
            .await?
            .into_bytes();
        use parquet::file::reader::FileReader;
        let r = parquet::file::serialized_reader::SerializedFileReader::new(body.clone())
            .with_context(|| format!("{} is not readable Parquet", f.path))?;
        p.files += 1;
        p.rows += u64::try_from(r.metadata().file_metadata().num_rows()).unwrap_or(0);
        p.bytes += body.len() as u64;
        p.keys.push(f.path.clone());
    }
    Ok(p)
}

/// One call to moto's own API (no SDK has it).
async fn moto_api(endpoint: &str, path: &str, body: &str) -> anyhow::Result<()> {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<hyper::body::Bytes>>();
    let req = hyper::Request::post(format!("{}{path}", endpoint.trim_end_matches('/')))
        .body(Full::new(hyper::body::Bytes::from(body.to_string())))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    if !status.is_success() {
        bail!("moto {path}: HTTP {status}");
    }
    Ok(())
}
