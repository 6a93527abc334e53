//! The `job:` block of a dataset: which engine curates its files, and that engine's settings.
//! Declarations only; what start-job decides about runs is [`crate::jobs`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::size::ByteSize;
use crate::types::Format;

/// Prefix of the Glue arguments lakeline fills in; the registry may not set them itself.
pub const GLUE_RESERVED_PREFIX: &str = "--lakeline_";

/// The processing job of a dataset, chosen by `engine`. A dataset without a `job:` block is
/// curated by the `lambda` engine into `curated/{dataset}/{partition}/`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "engine", rename_all = "kebab-case")]
pub enum JobSpec {
    /// lakeline's own curate function: typed Parquet from every valid file, in one Lambda.
    Lambda(LambdaJob),
    /// An AWS Glue job.
    Glue(GlueJob),
    /// A Spark job on an EMR Serverless application.
    EmrServerless(EmrServerlessJob),
}

impl JobSpec {
    /// The engine.
    pub fn engine(&self) -> Engine {
        match self {
            JobSpec::Lambda(_) => Engine::Lambda,
            JobSpec::Glue(_) => Engine::Glue,
            JobSpec::EmrServerless(_) => Engine::EmrServerless,
        }
    }

    /// The target prefix template.
    pub fn target_prefix(&self) -> &TargetPrefix {
        match self {
            JobSpec::Lambda(l) => &l.target_prefix,
            JobSpec::Glue(g) => &g.target_prefix,
            JobSpec::EmrServerless(e) => &e.target_prefix,
        }
    }

    /// For a Spark engine: how long a partition's files are gathered into one run (0: a run
    /// per file); the Lambda engine has no runs to batch.
    pub fn batch_seconds(&self) -> u32 {
        match self {
            JobSpec::Lambda(_) => 0,
            JobSpec::Glue(g) => g.batch_seconds,
            JobSpec::EmrServerless(e) => e.batch_seconds,
        }
    }

    /// For a Spark engine: the size above which files go to it (smaller ones to the Lambda
    /// engine); `None` sends every file to it.
    pub fn above(&self) -> Option<ByteSize> {
        match self {
            JobSpec::Lambda(_) => None,
            JobSpec::Glue(g) => g.above,
            JobSpec::EmrServerless(e) => e.above,
        }
    }
}

/// `engine: lambda` (also what a dataset without a `job:` block gets).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LambdaJob {
    /// Where curated Parquet goes, relative to the bucket.
    #[serde(default = "TargetPrefix::curated")]
    pub target_prefix: TargetPrefix,
}

impl Default for LambdaJob {
    fn default() -> Self {
        LambdaJob {
            target_prefix: TargetPrefix::curated(),
        }
    }
}

/// The largest text file (CSV, TSV, JSON Lines; decompressed size for gzip) the Lambda engine
/// takes. From measurement (`make bench`, README "Function sizing"): curate converts text at
/// 51-81 MiB/s on one core (the vCPU share of 1,769 MB and more); 16 GiB at the slowest of
/// those is 320 s, under 6 of Lambda's 15 minutes: a margin of almost 3 for slower S3 reads
/// and wider rows.
pub const LAMBDA_MAX_INPUT: ByteSize = ByteSize(16 << 30);

/// The largest Parquet object the Lambda engine takes: Parquet inputs are re-encoded at
/// 34 MiB/s measured, so 8 GiB is 240 s, the same margin as [`LAMBDA_MAX_INPUT`].
pub const LAMBDA_MAX_PARQUET: ByteSize = ByteSize(8 << 30);

/// The largest object of `format` the Lambda engine takes.
pub fn lambda_max(format: Format) -> ByteSize {
    match format {
        Format::Parquet => LAMBDA_MAX_PARQUET,
        _ => LAMBDA_MAX_INPUT,
    }
}

/// `engine: glue`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GlueJob {
    /// Only files above this size run on Glue; smaller ones are curated by the Lambda engine
    /// into the same target prefix. Absent: every file runs on Glue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<ByteSize>,
    /// Name of the Glue job.
    pub job_name: String,
    /// Where the job writes, relative to the bucket (see [`TargetPrefix`]).
    pub target_prefix: TargetPrefix,
    /// Extra job arguments (`--name: value`); lakeline adds `--lakeline_*` itself.
    #[serde(default)]
    pub arguments: GlueArguments,
    /// Run timeout in minutes (Glue's default, 48 h, is rarely what anyone wants).
    #[serde(default)]
    pub timeout_minutes: Option<u32>,
    /// Seconds the files of one partition are gathered into one run ([`crate::batch`]);
    /// 0: one run per file.
    #[serde(default = "crate::batch::default_window")]
    pub batch_seconds: u32,
}

/// `engine: emr-serverless`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmrServerlessJob {
    /// Only files above this size run on EMR Serverless; smaller ones are curated by the
    /// Lambda engine into the same target prefix. Absent: every file runs on EMR Serverless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<ByteSize>,
    /// The EMR Serverless application id.
    pub application_id: String,
    /// The IAM role the job runs as.
    pub execution_role_arn: String,
    /// The Spark entry point (`s3://…/job.py` or a jar).
    pub entry_point: String,
    /// Where the job writes, relative to the bucket (see [`TargetPrefix`]).
    pub target_prefix: TargetPrefix,
    /// Arguments before the ones lakeline appends (`--source`, `--partition`, `--target`).
    #[serde(default)]
    pub arguments: Vec<String>,
    /// `--conf …` parameters for spark-submit.
    #[serde(default)]
    pub spark_submit_parameters: Option<String>,
    /// Seconds the files of one partition are gathered into one run ([`crate::batch`]);
    /// 0: one run per file.
    #[serde(default = "crate::batch::default_window")]
    pub batch_seconds: u32,
    /// S3 log location (`s3://…/`); the links in alerts point there.
    #[serde(default)]
    pub log_uri: Option<String>,
    /// Run timeout in minutes.
    #[serde(default)]
    pub timeout_minutes: Option<u32>,
}

/// Glue arguments from the registry: names start with `--`, and never with `--lakeline_`
/// (those carry the source, target and run key, and must not be overridden by accident).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct GlueArguments(pub BTreeMap<String, String>);

impl TryFrom<BTreeMap<String, String>> for GlueArguments {
    type Error = String;
    fn try_from(m: BTreeMap<String, String>) -> Result<Self, String> {
        for k in m.keys() {
            if !k.starts_with("--") || k.len() < 3 {
                return Err(format!("Glue argument {k:?} must start with \"--\""));
            }
            if k.starts_with(GLUE_RESERVED_PREFIX) {
                return Err(format!(
                    "Glue argument {k:?} is reserved: lakeline sets --lakeline_* itself"
                ));
            }
        }
        Ok(GlueArguments(m))
    }
}

impl From<GlueArguments> for BTreeMap<String, String> {
    fn from(a: GlueArguments) -> Self {
        a.0
    }
}

/// Where a job writes, relative to the lake bucket, with `{dataset}` and `{partition}`
/// placeholders: `curated/orders/{partition}/`. Checked at load, so a typo in a placeholder
/// fails the deploy, not the job.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(try_from = "String", into = "String")]
pub struct TargetPrefix(String);

impl TargetPrefix {
    /// `curated/{dataset}/{partition}/`, the default of the Lambda engine.
    pub fn curated() -> TargetPrefix {
        TargetPrefix("curated/{dataset}/{partition}/".into())
    }

    /// The prefix for one dataset and partition (`{partition}` empty when there is none).
    pub fn render(&self, dataset: &str, partition: Option<&str>) -> String {
        let s = self
            .0
            .replace("{dataset}", dataset)
            .replace("{partition}", partition.unwrap_or(""));
        // An empty partition would leave `a//b`; S3 keys with empty segments surprise Spark.
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if !(c == '/' && out.ends_with('/')) {
                out.push(c);
            }
        }
        out
    }
}

impl TryFrom<String> for TargetPrefix {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.starts_with('/') || s.starts_with("s3://") {
            return Err(format!("target_prefix {s:?} must be a key prefix inside the lake bucket, like curated/{{dataset}}/{{partition}}/"));
        }
        let mut rest = s.as_str();
        while let Some(i) = rest.find('{') {
            let tail = &rest[i..];
            let end = tail
                .find('}')
                .ok_or_else(|| format!("target_prefix {s:?}: unclosed '{{'"))?;
            let name = &tail[1..end];
            if name != "dataset" && name != "partition" {
                return Err(format!("target_prefix {s:?}: unknown placeholder {{{name}}} (use {{dataset}} or {{partition}})"));
            }
            rest = &tail[end + 1..];
        }
        Ok(TargetPrefix(s))
    }
}

impl From<TargetPrefix> for String {
    fn from(p: TargetPrefix) -> String {
        p.0
    }
}

/// A job engine.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// lakeline's curate function.
    Lambda,
    /// AWS Glue.
    Glue,
    /// EMR Serverless.
    EmrServerless,
}

impl Engine {
    /// The name humans read.
    pub fn label(self) -> &'static str {
        match self {
            Engine::Lambda => "Lambda",
            Engine::Glue => "Glue",
            Engine::EmrServerless => "EMR Serverless",
        }
    }

    /// The registry's name: `lambda`, `glue`, `emr-serverless`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Lambda => "lambda",
            Engine::Glue => "glue",
            Engine::EmrServerless => "emr-serverless",
        }
    }
}
