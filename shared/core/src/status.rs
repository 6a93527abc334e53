//! `lakeline status`: a lake at a glance, per dataset, decided from facts the command gathered
//! (uploads listed, quarantined objects, the table's snapshots and files, failed executions).
//! Plain functions over data: "now" is an argument, nothing here calls AWS.
//!
//! What an on-call engineer looks at first is [`DatasetStatus::attention`]: a missed or late
//! delivery, failures that still wait for a command, quarantined files, a table that needs
//! compaction. The JSON form ([`Status`]) is a stable schema (`docs/status.md`): fields are
//! added, never renamed or removed, within a `schema` version.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::registry::{Compression, Dataset, Format};
use crate::sla::{self, Evidence, Expect, Seen};

/// The version of the JSON schema ([`Status::schema`]).
pub const SCHEMA: &str = "lakeline.status/1";

/// Days the daily series cover (today and the six before).
pub const DAYS: i64 = 7;

/// Lambda arm64, us-east-1 list price per GB-second (docs/engines-and-costs.md).
pub const LAMBDA_GB_SECOND_USD: f64 = 0.000_013_333_4;
/// Per Lambda request.
pub const LAMBDA_REQUEST_USD: f64 = 0.000_000_2;
/// Step Functions Standard, per state transition; a file curated by the Lambda takes 5.
pub const TRANSITION_USD: f64 = 0.000_025;
/// Transitions of one delivery curated by the Lambda (tests/tests/it/pipeline.rs counts them).
pub const TRANSITIONS_PER_DELIVERY: f64 = 5.0;
/// The least a Spark run costs: Glue's 1-minute minimum at 2 DPU.
pub const SPARK_RUN_MIN_USD: f64 = 0.0147;
/// curate's memory (the template's `CurateMemoryMb` default), GB.
pub const CURATE_GB: f64 = 2.0;
/// validate-upload's memory, GB.
pub const VALIDATE_GB: f64 = 0.25;
/// validate-upload's measured rate at its memory (one eighth of a core), MiB/s.
pub const VALIDATE_MIB_S: f64 = 90.0;

/// curate's measured one-core rate for a format, MiB/s of decompressed input
/// (docs/performance.md, "Function sizing").
pub fn curate_rate(format: Format, gzip: bool) -> f64 {
    match (format, gzip) {
        (Format::Csv, false) => 81.0,
        (Format::Csv, true) => 68.0,
        (Format::Jsonl, _) => 75.0,
        (Format::Tsv, _) => 59.0,
        (Format::Parquet, _) => 34.0,
    }
}

/// One upload the listing found (raw/ or, once quarantined, quarantine/).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Its raw key.
    pub key: String,
    /// S3 LastModified, Unix seconds.
    pub at: i64,
    /// Bytes as stored.
    pub bytes: u64,
}

/// A quarantined object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// Its quarantine key.
    pub key: String,
    /// When it was quarantined (LastModified), Unix seconds.
    pub at: i64,
    /// Its reason code (`x-amz-meta-lakeline-reason`), when read.
    pub reason: Option<String>,
}

/// One snapshot of the dataset's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Commit time, Unix milliseconds.
    pub at_ms: i64,
    /// The raw keys it added rows of (a delivery), none for a rewrite.
    pub sources: Vec<String>,
    /// Rows added.
    pub added_rows: u64,
    /// What a rewrite did (`compact`, `undo`, `erase`), `None` for a delivery.
    pub rewrite: Option<String>,
    /// The engine that wrote its files (`lambda`, `spark`, `glue`, …).
    pub engine: Option<String>,
}

/// The dataset's table as loaded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableFacts {
    /// Every snapshot still in the metadata, oldest first.
    pub commits: Vec<Commit>,
    /// Sizes of the current snapshot's data files.
    pub file_bytes: Vec<u64>,
    /// Rows in the current snapshot.
    pub rows: u64,
}

/// A pipeline execution that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its ARN.
    pub arn: String,
    /// When it stopped, Unix seconds.
    pub at: i64,
    /// FAILED, TIMED_OUT or ABORTED.
    pub status: String,
    /// Its error (`Lakeline.…`), when it has one.
    pub error: Option<String>,
    /// The upload it was for.
    pub key: Option<String>,
    /// Whether a later run of the same upload (its rerun) exists: then nothing waits.
    pub rerun: bool,
}

/// What the command gathered for one dataset.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The dataset's name.
    pub dataset: String,
    /// Its delivery expectation.
    pub expect: Option<Expect>,
    /// Its format and compression (decide the cost rate of each file).
    pub format: Format,
    /// Whether a file is gzip, by its key.
    pub compression: Compression,
    /// Files strictly below this many bytes are small.
    pub small_below: u64,
    /// Fewest small files that make a compaction worth running.
    pub min_small_files: u64,
    /// Uploads of the last [`DAYS`] days (valid or not).
    pub uploads: Vec<Upload>,
    /// Quarantined objects of the last [`DAYS`] days.
    pub quarantined: Vec<Quarantined>,
    /// The table, or why it could not be read.
    pub table: Result<TableFacts, String>,
    /// Executions that did not succeed, in the last [`DAYS`] days.
    pub failures: Vec<Failure>,
}

impl Facts {
    /// The facts' settings from the registry's dataset (lists still empty).
    pub fn of(name: &str, ds: &Dataset) -> Facts {
        let compaction = ds.compaction.clone().unwrap_or_default();
        Facts {
            dataset: name.to_string(),
            expect: ds.expect,
            format: ds.format,
            compression: ds.compression,
            small_below: compaction.small_below(),
            min_small_files: compaction.min_small_files,
            uploads: Vec::new(),
            quarantined: Vec::new(),
            table: Ok(TableFacts::default()),
            failures: Vec::new(),
        }
    }
}

/// The whole answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The stack.
    pub stack: String,
    /// When, RFC 3339.
    pub generated_at: String,
    /// Per dataset, in registry order.
    pub datasets: Vec<DatasetStatus>,
}

/// One dataset.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetStatus {
    /// The dataset.
    pub dataset: String,
    /// What to look at first, most urgent first; empty when all is well.
    pub attention: Vec<String>,
    /// The newest upload.
    pub last_delivery: Option<LastDelivery>,
    /// The delivery expectation's state.
    pub sla: Sla,
    /// Deliveries committed today (UTC).
    pub today: Volume,
    /// Deliveries committed in the last [`DAYS`] days.
    pub last_7_days: Volume,
    /// Quarantined in the last 24 hours.
    pub quarantine_24h: QuarantineSummary,
    /// Executions that failed and still wait for a command.
    pub failures: Vec<FailureView>,
    /// The table.
    pub table: TableSummary,
    /// Upload to commit, over the last [`DAYS`] days.
    pub commit_lag: Lag,
    /// The estimated cost.
    pub cost: Cost,
    /// Per day, oldest first, [`DAYS`] of them: the charts' series.
    pub days: Vec<Day>,
}

/// The newest upload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastDelivery {
    /// Its raw key.
    pub key: String,
    /// When, RFC 3339.
    pub at: String,
    /// Seconds ago.
    pub age_seconds: i64,
}

/// The SLA state: `on_time`, `late` (the file came after the deadline), `missed` (none has
/// come), or `none` (no `expect:`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sla {
    /// `on_time`, `late`, `missed` or `none`.
    pub state: &'static str,
    /// The period judged (`2026-12-06`, `2026-12-06T06`).
    pub period: Option<String>,
    /// Its deadline, RFC 3339.
    pub deadline: Option<String>,
}

/// Files and rows.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Deliveries (raw keys committed).
    pub files: u64,
    /// Rows they added.
    pub rows: u64,
}

/// Quarantine in the last 24 hours.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineSummary {
    /// Objects.
    pub files: u64,
    /// Reasons, most frequent first (at most 3).
    pub top_reasons: Vec<Reason>,
}

/// A reason and how many files it stopped.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// The reason code (`max`, `type`, `header`, …).
    pub reason: String,
    /// Files.
    pub files: u64,
}

/// A failure that waits for a command.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureView {
    /// The execution.
    pub execution: String,
    /// FAILED, TIMED_OUT or ABORTED.
    pub status: String,
    /// Its error.
    pub error: Option<String>,
    /// The upload.
    pub key: Option<String>,
    /// When, RFC 3339.
    pub at: String,
    /// The command that runs it again once the cause is fixed.
    pub fix: String,
}

/// The table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableSummary {
    /// Why it could not be read (then the counts are zero).
    pub error: Option<String>,
    /// Snapshots in its metadata.
    pub snapshots: u64,
    /// Live data files.
    pub data_files: u64,
    /// Rows.
    pub rows: u64,
    /// Live data files below the compaction target's small-file share.
    pub small_files: u64,
    /// `small_files / data_files` (0 when empty).
    pub small_file_share: f64,
    /// The last compaction, RFC 3339.
    pub last_compaction: Option<String>,
}

/// Commit lag, seconds.
#[derive(Debug, Clone, Copy, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Lag {
    /// Deliveries measured.
    pub samples: u64,
    /// Median.
    pub p50_seconds: Option<f64>,
    /// 99th percentile.
    pub p99_seconds: Option<f64>,
}

/// The estimated cost per day, averaged over the last [`DAYS`] days.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// Lambda (validate-upload and curate) and Step Functions, USD per day.
    pub lambda_usd_per_day: f64,
    /// Spark deliveries per day.
    pub spark_runs_per_day: f64,
    /// Their cost at least (each run's minimum), USD per day.
    pub spark_usd_per_day_at_least: f64,
    /// How it was estimated.
    pub basis: &'static str,
}

/// One day of the series.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Deliveries committed.
    pub deliveries: u64,
    /// Rows they added.
    pub rows: u64,
    /// Files quarantined.
    pub quarantined: u64,
    /// `quarantined / (deliveries + quarantined)`, 0 without either.
    pub quarantine_rate: f64,
    /// Median commit lag of the day's deliveries, seconds.
    pub lag_p50_seconds: Option<f64>,
}

/// The basis of [`Cost`], said wherever the figure is shown.
pub const COST_BASIS: &str = "estimated from the bytes delivered at lakeline's measured rates and list prices (Lambda arm64, Step Functions); Spark at each run's minimum: billed DPU-seconds are on the Glue / EMR Serverless console";

/// RFC 3339 of Unix seconds.
pub fn time_text(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// A nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// `3 m`, `5 h`, `2 d`: an age for people.
pub fn age_text(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} m", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// The status of one dataset at `now` (Unix seconds).
pub fn summarize(f: &Facts, now: i64) -> DatasetStatus {
    let today = now.div_euclid(86_400);
    let first_day = today - (DAYS - 1);
    let day_of = |secs: i64| secs.div_euclid(86_400);
    let uploaded: BTreeMap<&str, &Upload> = f.uploads.iter().map(|u| (u.key.as_str(), u)).collect();
    let (table, commits): (TableSummary, &[Commit]) = match &f.table {
        Ok(t) => {
            let small = t.file_bytes.iter().filter(|&&b| b < f.small_below).count() as u64;
            let files = t.file_bytes.len() as u64;
            (
                TableSummary {
                    error: None,
                    snapshots: t.commits.len() as u64,
                    data_files: files,
                    rows: t.rows,
                    small_files: small,
                    small_file_share: if files == 0 {
                        0.0
                    } else {
                        small as f64 / files as f64
                    },
                    last_compaction: t
                        .commits
                        .iter()
                        .filter(|c| c.rewrite.as_deref() == Some("compact"))
                        .map(|c| c.at_ms)
                        .max()
                        .map(|ms| time_text(ms.div_euclid(1000))),
                },
                &t.commits,
            )
        }
        Err(e) => (
            TableSummary {
                error: Some(e.clone()),
                snapshots: 0,
                data_files: 0,
                rows: 0,
                small_files: 0,
                small_file_share: 0.0,
                last_compaction: None,
            },
            &[],
        ),
    };
    // Deliveries: snapshots that added a raw key's rows, in the window.
    let deliveries: Vec<(&Commit, i64)> = commits
        .iter()
        .filter(|c| c.rewrite.is_none() && !c.sources.is_empty())
        .map(|c| (c, c.at_ms.div_euclid(1000)))
        // A commit stamped after `now` (another clock, a little ahead) is not of these days.
        .filter(|(_, at)| (first_day..=today).contains(&day_of(*at)))
        .collect();
    let mut days: Vec<Day> = (first_day..=today)
        .map(|d| Day {
            date: crate::validate::day_text(d as i32),
            deliveries: 0,
            rows: 0,
            quarantined: 0,
            quarantine_rate: 0.0,
            lag_p50_seconds: None,
        })
        .collect();
    let mut lags_by_day: Vec<Vec<f64>> = vec![Vec::new(); days.len()];
    let mut all_lags = Vec::new();
    let (mut week, mut now_day) = (Volume::default(), Volume::default());
    // Lambda GB-seconds of the week's deliveries, at the measured rate of each file's form.
    let (mut gb_seconds, mut lambda_files, mut spark_runs) = (0f64, 0u64, 0u64);
    let seconds_per_gib = |mib_s: f64| 1024.0 / mib_s;
    for (c, at) in &deliveries {
        let i = (day_of(*at) - first_day) as usize;
        let files = c.sources.len() as u64;
        days[i].deliveries += files;
        days[i].rows += c.added_rows;
        week.files += files;
        week.rows += c.added_rows;
        if day_of(*at) == today {
            now_day.files += files;
            now_day.rows += c.added_rows;
        }
        let spark = c
            .engine
            .as_deref()
            .is_some_and(|e| e != "lambda" && e != "cli");
        if spark {
            spark_runs += 1;
        }
        for s in &c.sources {
            if let Some(u) = uploaded.get(s.as_str()) {
                // A later upload of the key (its LastModified after the commit) is not this
                // delivery's: no lag from it.
                if u.at <= *at {
                    let lag = (*at - u.at) as f64;
                    lags_by_day[i].push(lag);
                    all_lags.push(lag);
                }
                if !spark {
                    let gzip = f.compression.is_gzip(&u.key);
                    // The rates are per byte of data: a gzip file's stored bytes times the
                    // expansion engine routing assumes.
                    let data = if gzip {
                        u.bytes.saturating_mul(crate::jobs::GZIP_EXPANSION)
                    } else {
                        u.bytes
                    };
                    let gib = data as f64 / f64::from(1u32 << 30);
                    gb_seconds += gib
                        * (seconds_per_gib(curate_rate(f.format, gzip)) * CURATE_GB
                            + seconds_per_gib(VALIDATE_MIB_S) * VALIDATE_GB);
                    lambda_files += 1;
                }
            }
        }
    }
    for (d, lags) in days.iter_mut().zip(lags_by_day.iter_mut()) {
        lags.sort_by(f64::total_cmp);
        d.lag_p50_seconds = percentile(lags, 50.0);
    }
    all_lags.sort_by(f64::total_cmp);
    let commit_lag = Lag {
        samples: all_lags.len() as u64,
        p50_seconds: percentile(&all_lags, 50.0),
        p99_seconds: percentile(&all_lags, 99.0),
    };
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut quarantined_24h = 0;
    for q in &f.quarantined {
        let d = day_of(q.at);
        if d >= first_day && d <= today {
            days[(d - first_day) as usize].quarantined += 1;
        }
        if q.at > now - 86_400 {
            quarantined_24h += 1;
            *reasons
                .entry(q.reason.clone().unwrap_or_else(|| "unknown".into()))
                .or_default() += 1;
        }
    }
    for d in &mut days {
        let all = d.deliveries + d.quarantined;
        d.quarantine_rate = if all == 0 {
            0.0
        } else {
            d.quarantined as f64 / all as f64
        };
    }
    let mut top: Vec<Reason> = reasons
        .into_iter()
        .map(|(reason, files)| Reason { reason, files })
        .collect();
    top.sort_by(|a, b| b.files.cmp(&a.files).then(a.reason.cmp(&b.reason)));
    top.truncate(3);
    let failures: Vec<FailureView> = f
        .failures
        .iter()
        .filter(|x| !x.rerun)
        .map(|x| FailureView {
            execution: x.arn.rsplit(':').next().unwrap_or_default().to_string(),
            status: x.status.clone(),
            error: x.error.clone(),
            key: x.key.clone(),
            at: time_text(x.at),
            // The command the alert names for this failure (crate::failure::Remedy): redrive for
            // a step that failed, rerun for what the state machine decided.
            fix: format!(
                "fix the cause (see the alert), {}",
                crate::failure::Remedy::of(x.error.as_deref().unwrap_or_default(), "pipeline")
                    .command(Some(&x.arn))
            ),
        })
        .collect();
    let last = f.uploads.iter().max_by_key(|u| (u.at, u.key.clone()));
    let last_delivery = last.map(|u| LastDelivery {
        key: u.key.clone(),
        at: time_text(u.at),
        age_seconds: now - u.at,
    });
    let sla = sla_state(f, now);
    let lambda_usd = gb_seconds * LAMBDA_GB_SECOND_USD
        + lambda_files as f64
            * (2.0 * LAMBDA_REQUEST_USD + TRANSITIONS_PER_DELIVERY * TRANSITION_USD);
    let cost = Cost {
        lambda_usd_per_day: lambda_usd / DAYS as f64,
        spark_runs_per_day: spark_runs as f64 / DAYS as f64,
        spark_usd_per_day_at_least: spark_runs as f64 * SPARK_RUN_MIN_USD / DAYS as f64,
        basis: COST_BASIS,
    };
    let mut attention = Vec::new();
    match sla.state {
        "missed" => attention.push(format!(
            "missed: no file for {} by {}",
            sla.period.as_deref().unwrap_or("?"),
            sla.deadline.as_deref().unwrap_or("?")
        )),
        "late" => attention.push(format!(
            "late: the file for {} came after {}",
            sla.period.as_deref().unwrap_or("?"),
            sla.deadline.as_deref().unwrap_or("?")
        )),
        _ => {}
    }
    if !failures.is_empty() {
        attention.push(format!(
            "{} failed execution(s) wait for a command (redrive or rerun)",
            failures.len()
        ));
    }
    if quarantined_24h > 0 {
        let why: Vec<String> = top
            .iter()
            .map(|r| format!("{} {}", r.files, r.reason))
            .collect();
        attention.push(format!(
            "{quarantined_24h} file(s) quarantined in 24 h ({})",
            why.join(", ")
        ));
    }
    if let Some(e) = &table.error {
        attention.push(format!("table unreadable: {e}"));
    } else if table.small_files >= f.min_small_files.max(1) {
        attention.push(format!(
            "{} small data files ({:.0} %): compaction due",
            table.small_files,
            table.small_file_share * 100.0
        ));
    }
    DatasetStatus {
        dataset: f.dataset.clone(),
        attention,
        last_delivery,
        sla,
        today: now_day,
        last_7_days: week,
        quarantine_24h: QuarantineSummary {
            files: quarantined_24h,
            top_reasons: top,
        },
        failures,
        table,
        commit_lag,
        cost,
        days,
    }
}

/// The SLA state at `now`: the period judged is the latest whose deadline passed
/// ([`sla::due`]); a file that arrived for it after the deadline is late.
fn sla_state(f: &Facts, now: i64) -> Sla {
    let Some(e) = &f.expect else {
        return Sla {
            state: "none",
            period: None,
            deadline: None,
        };
    };
    let due = sla::due(e, now);
    // Every upload counts, quarantined or not: the SLA is about files arriving.
    let in_period: Vec<&Upload> = f
        .uploads
        .iter()
        .filter(|u| match (&due.date, due.window_start) {
            (Some(date), _) => u.key.contains(date.as_str()),
            (None, Some(start)) => u.at >= start && u.at < due.deadline,
            _ => false,
        })
        .collect();
    let ev = Evidence {
        files_in_partition: in_period.len() as u64,
        last_seen: f.uploads.iter().max_by_key(|u| u.at).map(|u| Seen {
            key: u.key.clone(),
            at: u.at,
        }),
    };
    let state = if sla::missed(e, now, &ev).is_some() {
        "missed"
    } else if in_period
        .iter()
        .map(|u| u.at)
        .min()
        .is_some_and(|t| t > due.deadline)
    {
        "late"
    } else {
        "on_time"
    };
    Sla {
        state,
        period: Some(due.period),
        deadline: Some(time_text(due.deadline)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_515_200 + 10 * 3600; // 2026-12-06T10:00Z

    fn facts() -> Facts {
        Facts {
            dataset: "orders".into(),
            expect: None,
            format: Format::Csv,
            compression: Compression::Auto,
            small_below: 96 << 20,
            min_small_files: 5,
            uploads: Vec::new(),
            quarantined: Vec::new(),
            table: Ok(TableFacts::default()),
            failures: Vec::new(),
        }
    }

    fn upload(key: &str, at: i64) -> Upload {
        Upload {
            key: key.into(),
            at,
            bytes: 1 << 30,
        }
    }

    fn delivery(key: &str, at: i64, rows: u64) -> Commit {
        Commit {
            at_ms: at * 1000,
            sources: vec![key.into()],
            added_rows: rows,
            rewrite: None,
            engine: Some("lambda".into()),
        }
    }

    #[test]
    fn volumes_lags_and_days_come_from_the_snapshots_and_uploads() {
        let mut f = facts();
        let a = "raw/orders/dt=2026-12-06/a.csv";
        let b = "raw/orders/dt=2026-12-05/b.csv";
        let old = "raw/orders/dt=2026-11-01/old.csv";
        f.uploads = vec![
            upload(a, NOW - 600),
            upload(b, NOW - 86_400),
            upload(old, NOW - 40 * 86_400),
        ];
        f.table = Ok(TableFacts {
            commits: vec![
                delivery(old, NOW - 40 * 86_400 + 5, 7),
                delivery(b, NOW - 86_400 + 30, 20),
                delivery(a, NOW - 590, 10),
                Commit {
                    at_ms: (NOW - 100) * 1000,
                    sources: vec![],
                    added_rows: 30,
                    rewrite: Some("compact".into()),
                    engine: None,
                },
            ],
            file_bytes: vec![1 << 20; 6],
            rows: 37,
        });
        let s = summarize(&f, NOW);
        assert_eq!(s.today, Volume { files: 1, rows: 10 });
        assert_eq!(s.last_7_days, Volume { files: 2, rows: 30 });
        assert_eq!(s.commit_lag.samples, 2);
        assert_eq!(s.commit_lag.p50_seconds, Some(10.0));
        assert_eq!(s.commit_lag.p99_seconds, Some(30.0));
        assert_eq!(s.days.len(), 7);
        assert_eq!(s.days[6].date, "2026-12-06");
        assert_eq!(s.days[6].deliveries, 1);
        assert_eq!(s.days[5].rows, 20);
        assert_eq!(s.table.small_files, 6);
        assert_eq!(
            s.table.last_compaction.as_deref(),
            Some("2026-12-06T09:58:20Z")
        );
        assert!(
            s.attention.iter().any(|a| a.contains("compaction due")),
            "{:?}",
            s.attention
        );
        assert_eq!(s.last_delivery.unwrap().age_seconds, 600);
        // A snapshot stamped by a clock ahead of this one, past midnight: not counted, no panic.
        if let Ok(t) = &mut f.table {
            t.commits.push(delivery(a, today_end(NOW) + 5, 99));
        }
        assert_eq!(summarize(&f, NOW).today, Volume { files: 1, rows: 10 });
        // Two GiB of CSV curated by the Lambda in a week: per GiB about $0.00034 to curate and
        // $0.00004 to validate, per file $0.000125 of state transitions.
        let per_day = s.cost.lambda_usd_per_day * 7.0;
        let (lo, hi) = (2.0 * (0.00036 + 0.000125), 2.0 * (0.0005 + 0.000125));
        assert!(per_day > lo && per_day < hi, "{per_day}");
    }

    #[test]
    fn quarantine_failures_and_sla_say_what_to_do_first() {
        let mut f = facts();
        f.expect = Some(Expect {
            every: sla::Every::Day,
            by: Some(sla::TimeOfDay(6 * 3600)),
            offset_days: 0,
        });
        // Today's file came at 07:00, after the 06:00 deadline.
        f.uploads = vec![upload("raw/orders/dt=2026-12-06/a.csv", NOW - 3 * 3600)];
        f.quarantined = vec![
            Quarantined {
                key: "q1".into(),
                at: NOW - 60,
                reason: Some("max".into()),
            },
            Quarantined {
                key: "q2".into(),
                at: NOW - 120,
                reason: Some("max".into()),
            },
            Quarantined {
                key: "q3".into(),
                at: NOW - 180,
                reason: Some("type".into()),
            },
            Quarantined {
                key: "q4".into(),
                at: NOW - 3 * 86_400,
                reason: Some("header".into()),
            },
        ];
        f.failures = vec![
            Failure {
                arn: "arn:aws:states:r:1:execution:p:orders-a-1".into(),
                at: NOW - 50,
                status: "FAILED".into(),
                error: Some("Lakeline.JobNotFound".into()),
                key: Some("raw/orders/dt=2026-12-06/a.csv".into()),
                rerun: false,
            },
            Failure {
                arn: "arn:aws:states:r:1:execution:p:orders-b-2".into(),
                at: NOW - 50,
                status: "FAILED".into(),
                error: None,
                key: None,
                rerun: true,
            },
        ];
        let s = summarize(&f, NOW);
        assert_eq!(s.sla.state, "late");
        assert_eq!(s.sla.deadline.as_deref(), Some("2026-12-06T06:00:00Z"));
        assert_eq!(s.quarantine_24h.files, 3);
        assert_eq!(
            s.quarantine_24h.top_reasons,
            vec![
                Reason {
                    reason: "max".into(),
                    files: 2
                },
                Reason {
                    reason: "type".into(),
                    files: 1
                }
            ]
        );
        assert_eq!(s.days[3].quarantined, 1);
        assert_eq!(
            s.failures.len(),
            1,
            "a failure with a rerun waits for nothing"
        );
        // A missing job is fixed where the run failed: redrive, as the alert says.
        assert!(s.failures[0]
            .fix
            .contains("lakeline redrive arn:aws:states:r:1:execution:p:orders-a-1"));
        f.failures[0].error = Some(crate::error_names::JOB_FAILED.into());
        let failed_run = summarize(&f, NOW);
        assert!(failed_run.failures[0]
            .fix
            .contains("lakeline rerun arn:aws:states:r:1:execution:p:orders-a-1 --function"));
        assert_eq!(
            s.attention[0],
            "late: the file for 2026-12-06 came after 2026-12-06T06:00:00Z"
        );
        assert!(s.attention[1].contains("1 failed execution"));
        assert!(s.attention[2].contains("3 file(s) quarantined in 24 h (2 max, 1 type)"));
        // No file at all: missed.
        f.uploads.clear();
        assert_eq!(summarize(&f, NOW).sla.state, "missed");
        f.uploads = vec![upload("raw/orders/dt=2026-12-06/a.csv", NOW - 5 * 3600)];
        assert_eq!(summarize(&f, NOW).sla.state, "on_time");
        f.expect = None;
        assert_eq!(summarize(&f, NOW).sla.state, "none");
    }

    /// A gzip file (by its key, `compression: auto`) is costed by the data it holds, at the
    /// gzip rate: more than the same stored bytes of plain text.
    #[test]
    fn a_gzip_file_costs_by_its_data() {
        let cost = |key: &str| {
            let mut f = facts();
            f.uploads = vec![upload(key, NOW - 600)];
            f.table = Ok(TableFacts {
                commits: vec![delivery(key, NOW - 590, 10)],
                ..TableFacts::default()
            });
            summarize(&f, NOW).cost.lambda_usd_per_day
        };
        let (plain, gz) = (
            cost("raw/o/dt=2026-12-06/a.csv"),
            cost("raw/o/dt=2026-12-06/a.csv.gz"),
        );
        assert!(gz > 6.0 * plain && gz < 10.0 * plain, "{plain} {gz}");
    }

    /// The first second of the day after `now`'s.
    fn today_end(now: i64) -> i64 {
        (now.div_euclid(86_400) + 1) * 86_400
    }

    #[test]
    fn percentiles_and_ages() {
        assert_eq!(percentile(&[], 50.0), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[4.0], 99.0), Some(4.0));
        for (secs, want) in [(5, "5 s"), (600, "10 m"), (7200, "2 h"), (200_000, "2 d")] {
            assert_eq!(age_text(secs), want);
        }
    }
}
