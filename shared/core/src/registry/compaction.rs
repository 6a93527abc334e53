//! The `compaction:` block of a dataset: when its partitions are worth compacting, and which
//! engine does it. Declarations only; the decisions are [`crate::compaction`].

use serde::{Deserialize, Serialize};

use crate::size::ByteSize;

/// A percentage from 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Percent(u32);

impl Percent {
    /// The value, 1..=100.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Percent {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if (1..=100).contains(&v) {
            Ok(Percent(v))
        } else {
            Err(format!("invalid percentage {v}: use 1 to 100"))
        }
    }
}

impl From<Percent> for u32 {
    fn from(p: Percent) -> u32 {
        p.0
    }
}

/// A target file size: at least 1 MiB (a smaller one would make every file "big" and the
/// recommended output count explode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "ByteSize", into = "ByteSize")]
pub struct TargetSize(ByteSize);

impl TargetSize {
    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0 .0
    }
}

impl TryFrom<ByteSize> for TargetSize {
    type Error = String;
    fn try_from(b: ByteSize) -> Result<Self, String> {
        if b.0 >= 1 << 20 {
            Ok(TargetSize(b))
        } else {
            Err(format!(
                "target_file_size {b} is too small: use at least 1MiB"
            ))
        }
    }
}

impl From<TargetSize> for ByteSize {
    fn from(t: TargetSize) -> ByteSize {
        t.0
    }
}

/// The engine that rewrites a dataset's due table partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// lakeline's compact function: streams the partition's groups and commits (the default).
    #[default]
    Lambda,
    /// EMR Serverless: the run merges the planned files, the compact function commits.
    EmrServerless,
    /// An AWS Glue Spark job: the run merges the planned files, the compact function commits.
    Glue,
}

impl CompactionJobSettings {
    /// The settings an engine needs and this block lacks, as registry field names.
    pub fn missing(&self) -> Vec<&'static str> {
        let need: &[(&'static str, bool)] = match self.engine {
            Engine::Lambda => &[],
            Engine::EmrServerless => &[
                ("application_id", self.application_id.is_some()),
                ("execution_role_arn", self.execution_role_arn.is_some()),
                ("entry_point", self.entry_point.is_some()),
            ],
            Engine::Glue => &[("glue_job_name", self.glue_job_name.is_some())],
        };
        need.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect()
    }

    /// Whether a due partition whose rewrite reads `bytes` goes to the Spark engine: a Spark
    /// engine is set, and the partition reaches its `above` (every partition without one).
    pub fn spark_for(&self, bytes: u64) -> bool {
        self.engine != Engine::Lambda && self.above.is_none_or(|a| bytes >= a.0)
    }
}

/// The Spark engine for a dataset's table partitions too large for one compact invocation
/// (`compaction.job`). The run only merges: it reads the files the compact function planned
/// and writes new ones under `_lakeline/staging/`; the compact function checks and commits
/// them, so a table keeps one committer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionJobSettings {
    /// The engine.
    pub engine: Engine,
    /// Only partitions whose due files hold at least this many bytes go to Spark; smaller ones
    /// stay the compact function's. Absent: every due partition of the dataset.
    pub above: Option<ByteSize>,
    /// EMR Serverless application id.
    pub application_id: Option<String>,
    /// IAM role the job runs as.
    pub execution_role_arn: Option<String>,
    /// The Spark entry point (script URI) of the compaction job.
    pub entry_point: Option<String>,
    /// Glue: the job name.
    pub glue_job_name: Option<String>,
}

/// Who compacts a dataset's table (`compaction.engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compactor {
    /// lakeline's maintenance (the compact function, `lakeline table compact`); `table sync`
    /// turns S3 Tables' own compaction off, so one compactor commits to the table (the
    /// default: about 5x cheaper per GB than S3 Tables' compaction fee).
    #[default]
    Lakeline,
    /// S3 Tables' managed compaction, at `target_file_size`; lakeline's sweep leaves the table
    /// alone. Only for tables in S3 Tables.
    S3tables,
}

/// A dataset's compaction settings (`compaction:` in the registry). Every field is optional.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionSettings {
    /// Whether check-compaction ever requests a compaction for this dataset.
    pub enabled: bool,
    /// Who compacts the dataset's table: `lakeline` (default) or `s3tables`.
    pub engine: Compactor,
    /// Where the dataset's curated output lives, one folder per partition
    /// (default `curated/<dataset>/`).
    pub prefix: Option<String>,
    /// The file size a compaction writes (default 128 MiB).
    pub target_file_size: TargetSize,
    /// A file below this share of the target is small (default 75).
    pub small_file_percent: Percent,
    /// Fewest small files that make a compaction worth a job (default 5).
    pub min_small_files: u64,
    /// A dated partition (`dt=YYYY-MM-DD`) is closed this many days after its date (default 1:
    /// yesterday's partition is closed today).
    pub grace_days: u32,
    /// A partition is closed only when nothing was written to it for this long (default 60):
    /// late data and running jobs still write.
    pub quiet_minutes: u32,
    /// The Spark engine for large partitions (default: none, the compact function rewrites
    /// every partition).
    pub job: CompactionJobSettings,
}

impl Default for CompactionSettings {
    fn default() -> Self {
        CompactionSettings {
            enabled: true,
            engine: Compactor::Lakeline,
            prefix: None,
            target_file_size: TargetSize(ByteSize(128 << 20)),
            small_file_percent: Percent(75),
            min_small_files: 5,
            grace_days: 1,
            quiet_minutes: 60,
            job: CompactionJobSettings::default(),
        }
    }
}

impl CompactionSettings {
    /// The curated prefix of a dataset, ending in `/`.
    pub fn curated_prefix(&self, dataset: &str) -> String {
        match &self.prefix {
            Some(p) if p.ends_with('/') => p.clone(),
            Some(p) => format!("{p}/"),
            None => format!("curated/{dataset}/"),
        }
    }

    /// Files strictly below this many bytes are small.
    pub fn small_below(&self) -> u64 {
        // u128: a huge target times 100 must not overflow.
        (u128::from(self.target_file_size.bytes()) * u128::from(self.small_file_percent.get())
            / 100) as u64
    }
}
