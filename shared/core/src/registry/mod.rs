//! The dataset registry: one typed YAML file that declares every dataset of the lake.
//!
//! Everything that can be checked while parsing is checked while parsing (through `try_from`
//! newtypes), so a broken registry fails at cold start with the YAML line and the field at fault
//! instead of misjudging files later.
//!
//! The registry and its declarations ([`job`], [`compaction`], [`expect`], and the column rules
//! of [`crate::rules`]) stand at the bottom of the core; the modules that decide stand above.

pub mod compaction;
pub mod expect;
pub mod job;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::size::ByteSize;
use crate::types::ColumnType;
use crate::Error;

/// The whole registry file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// Format version of the file; only `1` exists.
    pub version: RegistryVersion,
    /// Settings shared by all datasets.
    #[serde(default)]
    pub lake: LakeSettings,
    /// The datasets, by name. A map, so that two datasets cannot share a name.
    pub datasets: BTreeMap<DatasetName, Dataset>,
}

/// The only registry format version this build understands.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(try_from = "u32", into = "u32")]
pub struct RegistryVersion;

impl TryFrom<u32> for RegistryVersion {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        if v == 1 {
            Ok(RegistryVersion)
        } else {
            Err(format!(
                "unsupported registry version {v}; this build reads version 1"
            ))
        }
    }
}

impl From<RegistryVersion> for u32 {
    fn from(_: RegistryVersion) -> u32 {
        1
    }
}

/// Lake-wide settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LakeSettings {
    /// Where rejected objects are moved: `<quarantine_prefix><original key>`.
    pub quarantine_prefix: String,
    /// How many problems one report collects before it stops listing them (it still counts).
    pub max_problems: usize,
    /// Never show a value in a report, alert or log, in any dataset (as if every column were
    /// `sensitive`).
    pub redact_values: bool,
    /// Where uploads land; an object under it that no dataset claims is reported (metric and
    /// one alert per prefix per hour), never dropped in silence.
    pub raw_prefix: String,
    /// Prefixes under `raw_prefix` that are not lakeline's on purpose: no metric, no alert.
    pub ignore_prefixes: Vec<String>,
    /// Spark entry points outside the stack's artifact prefix (`LAKELINE_ARTIFACT_PREFIX`)
    /// are refused at load unless this is true: an entry point is code that runs under the
    /// job's role.
    pub allow_external_entry_points: bool,
}

impl Default for LakeSettings {
    fn default() -> Self {
        LakeSettings {
            quarantine_prefix: "quarantine/".to_string(),
            max_problems: 20,
            redact_values: false,
            raw_prefix: "raw/".to_string(),
            ignore_prefixes: Vec::new(),
            allow_external_entry_points: false,
        }
    }
}

/// `checksum:` of a dataset: the checksum every upload must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumRule {
    /// `x-amz-checksum-sha256` (full-object on a single PUT, composite on a multipart upload:
    /// S3 checks each part's).
    Sha256,
}

/// A dataset name: lowercase letters, digits, `_` and `-`, as it appears in keys, execution
/// names, metrics and job names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetName(String);

impl DatasetName {
    /// The name of the dataset's Iceberg table: the name with `-` as `_` (S3 Tables, Glue and
    /// Athena allow lowercase letters, digits and `_` only). Two datasets whose names map to
    /// one table name are refused at load.
    pub fn table_name(&self) -> String {
        self.0.replace('-', "_")
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DatasetName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(DatasetName(s))
        } else {
            Err(format!(
                "invalid dataset name {s:?}: use 1-40 characters a-z, 0-9, '_' or '-', starting with a letter"
            ))
        }
    }
}

impl From<DatasetName> for String {
    fn from(n: DatasetName) -> String {
        n.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One dataset: where its files land, what they look like, and what happens to them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Human description, shown in alerts.
    #[serde(default)]
    pub description: String,
    /// Where raw files land, e.g. `raw/orders/dt={date}/{file}`.
    pub key_pattern: KeyPattern,
    /// File format.
    pub format: Format,
    /// Compression of the files; `auto` means gzip when the key ends in `.gz`.
    #[serde(default)]
    pub compression: Compression,
    /// CSV/TSV only: whether the first line is a header naming the columns.
    #[serde(default)]
    pub header: HeaderRule,
    /// CSV only: the field delimiter (TSV is always a tab).
    #[serde(default)]
    pub delimiter: Option<Delimiter>,
    /// `timezone: Europe/Berlin`: timestamps without an offset are local times there (a
    /// daylight-saving gap or overlap is a problem); without it they are UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<crate::types::Zone>,
    /// Values that mean "no value" in CSV/TSV (default: the empty field).
    #[serde(default = "default_null_values")]
    pub null_values: Vec<String>,
    /// JSON Lines, Parquet and `header: by_name` CSV/TSV: whether fields/columns not declared
    /// below are a problem (`reject`) or ignored (`allow`).
    #[serde(default)]
    pub extra_columns: ExtraColumns,
    /// The declared columns, in file order.
    pub columns: Columns,
    /// Size bounds of one object.
    #[serde(default)]
    pub size: SizeBounds,
    /// The job that processes a valid file (started by start-job).
    #[serde(default)]
    pub job: Option<job::JobSpec>,
    /// Small-file compaction settings (see check-compaction); absent means the defaults.
    #[serde(default)]
    pub compaction: Option<compaction::CompactionSettings>,
    /// Accept C0 control characters (U+0000-U+001F other than tab, line feed and carriage
    /// return) inside string values. Off by default: a NUL or an escape byte in a string breaks
    /// Redshift, Hive and many readers downstream, and is almost always an export bug.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_control_chars: bool,
    /// `rows: {min, max}`: data rows per file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<crate::rules::RowBounds>,
    /// `unique_key: [col, …]`: no two rows of a file share these columns' values (rows with a
    /// null in any of them are not compared, as in SQL).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_key: Vec<String>,
    /// `partition_freshness: {max_age_days: N}`: the key's `{date}` is neither in the future nor
    /// older than N days, judged on arrival.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_freshness: Option<crate::rules::Freshness>,
    /// `checksum: sha256`: every upload carries a SHA-256 checksum (`x-amz-checksum-sha256`),
    /// which S3 checked against the bytes it received, so the file is the one its producer
    /// hashed; an upload without one is refused ([`crate::validate::checksum_problem`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ChecksumRule>,
    /// `expect: {every: day, by: "06:00Z"}` or `{every: 6h}`: when files are due; a missed
    /// delivery is alerted once per period (see [`crate::sla`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<expect::Expect>,
    /// Distinct keys each uniqueness rule (`unique`, `unique_key`) tracks in one file; a file
    /// with more is refused (`unique_limit`), so memory stays bounded. Default
    /// [`crate::rules::DEFAULT_MAX_UNIQUE_KEYS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unique_keys: Option<u64>,
    /// Set from `lake.redact_values` at load: no value of this dataset is ever shown.
    #[serde(skip)]
    pub redact_values: bool,
}

fn default_null_values() -> Vec<String> {
    vec![String::new()]
}

impl Dataset {
    /// Whether a value of `column` (or of a whole record, `None`) may appear in a report,
    /// alert or log: not when the column is `sensitive`, not when any column is and the value
    /// quotes a record, never under `lake.redact_values`.
    pub fn shows_value(&self, column: Option<&str>) -> bool {
        if self.redact_values {
            return false;
        }
        match column {
            Some(c) => !self
                .columns
                .iter()
                .any(|col| col.sensitive && col.name == c),
            None => !self.columns.iter().any(|col| col.sensitive),
        }
    }

    /// Why `v`, a non-null text value of `col`, is not a value of its type in this dataset
    /// (for a timestamp without an offset, in its `timezone`); `None`: it is.
    pub fn refusal(&self, col: &Column, v: &[u8]) -> Option<String> {
        if !col.ty.accepts(v) {
            return Some(col.ty.refusal(v));
        }
        match (&self.timezone, col.ty) {
            (Some(z), ColumnType::Timestamp) => crate::types::parse_timestamp_in(v, Some(z))
                .err()
                .map(|e| e.describe(z)),
            _ => None,
        }
    }

    /// SHA-256 (hex) of what decides a file's verdict and its curated rows: the dataset
    /// without the settings that do not (description, job engine, compaction, delivery
    /// schedule). `lakeline reprocess` names its pass after it, so a second run under the same
    /// rules finds its work done, and a rule change (and only one) makes the rows due again.
    pub fn rules_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut rules = self.clone();
        rules.description.clear();
        rules.job = None;
        rules.compaction = None;
        rules.expect = None;
        let json = serde_json::to_vec(&rules).expect("a dataset serialises");
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Distinct keys each uniqueness rule tracks per file.
    pub fn unique_key_limit(&self) -> u64 {
        self.max_unique_keys
            .unwrap_or(crate::rules::DEFAULT_MAX_UNIQUE_KEYS)
    }

    /// Timestamp bounds written without an offset, read again as local times of the
    /// dataset's `timezone` (columns resolve their rules before the dataset's zone is known);
    /// then each `default` held to its column's type and rules, in that zone.
    fn localize_bounds(&mut self) -> Result<(), (String, String)> {
        self.localize_timestamp_bounds()?;
        for (i, col) in self.columns.iter().enumerate() {
            if let Some(d) = &col.default {
                if let Some(why) = col.rules.refusal(col.ty, self.timezone.as_ref(), d) {
                    return Err((format!("columns[{i}].default"), format!("{d:?}: {why}")));
                }
            }
        }
        Ok(())
    }

    fn localize_timestamp_bounds(&mut self) -> Result<(), (String, String)> {
        let Some(zone) = self.timezone.clone() else {
            return Ok(());
        };
        for (i, col) in self.columns.0.iter_mut().enumerate() {
            if col.ty != ColumnType::Timestamp {
                continue;
            }
            for (field, bound) in [("min", &mut col.rules.min), ("max", &mut col.rules.max)] {
                let Some(b) = bound else { continue };
                match crate::types::parse_timestamp_in(b.text.as_bytes(), Some(&zone)) {
                    Ok(Some(t)) => b.value = crate::rules::Num::Timestamp(t),
                    Ok(None) => {}
                    Err(e) => {
                        return Err((
                            format!("columns[{i}].{field}"),
                            format!("{:?}: {}", b.text, e.describe(&zone)),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The delimiter byte for CSV/TSV.
    pub fn delimiter_byte(&self) -> u8 {
        match self.format {
            Format::Tsv => b'\t',
            _ => self.delimiter.map(|d| d.0).unwrap_or(b','),
        }
    }

    /// Whether an object with this key is gzip-compressed.
    pub fn is_gzip(&self, key: &str) -> bool {
        self.compression.is_gzip(key)
    }

    /// File name endings accepted for this dataset's format and compression.
    pub fn allowed_extensions(&self) -> Vec<String> {
        let base: &[&str] = match self.format {
            Format::Csv => &[".csv"],
            Format::Tsv => &[".tsv", ".tab"],
            Format::Jsonl => &[".jsonl", ".ndjson", ".json"],
            Format::Parquet => &[".parquet"],
        };
        let mut out = Vec::new();
        for b in base {
            match self.compression {
                Compression::None => out.push(b.to_string()),
                Compression::Gzip => out.push(format!("{b}.gz")),
                Compression::Auto => {
                    out.push(b.to_string());
                    if self.format != Format::Parquet {
                        out.push(format!("{b}.gz"));
                    }
                }
            }
        }
        out
    }
}

pub use crate::types::Format;

/// Compression of a dataset's files.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Gzip when the key ends in `.gz`.
    #[default]
    Auto,
    /// Never compressed.
    None,
    /// Always gzip.
    Gzip,
}

impl Compression {
    /// Whether the object at `key` is gzip under this setting.
    pub fn is_gzip(self, key: &str) -> bool {
        match self {
            Compression::None => false,
            Compression::Gzip => true,
            Compression::Auto => key.ends_with(".gz"),
        }
    }
}

/// Whether CSV/TSV files start with a header line.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HeaderRule {
    /// The first line must name exactly the declared columns, in order.
    #[default]
    Required,
    /// The first line names the columns, in any order: each declared column is found by its
    /// name. A missing optional column is null, a missing required one is a problem; a column
    /// not declared follows `extra_columns`; a name given twice is a problem.
    #[serde(rename = "by_name")]
    ByName,
    /// There is no header: the first line is data.
    Absent,
}

/// Whether undeclared columns/fields are accepted.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExtraColumns {
    /// An undeclared column is a problem (schema drift is caught on arrival).
    #[default]
    Reject,
    /// Undeclared columns are ignored.
    Allow,
}

/// A single-byte CSV delimiter.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(try_from = "String", into = "String")]
pub struct Delimiter(pub u8);

impl TryFrom<String> for Delimiter {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let b = match s.as_str() {
            "\\t" | "tab" => b'\t',
            _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
                s.as_bytes()[0]
            }
            _ => return Err(format!("invalid delimiter {s:?}: use one ASCII character other than a quote or newline, or \"tab\"")),
        };
        Ok(Delimiter(b))
    }
}

impl From<Delimiter> for String {
    fn from(d: Delimiter) -> String {
        if d.0 == b'\t' {
            "tab".into()
        } else {
            (d.0 as char).to_string()
        }
    }
}

/// One declared column, with its rules resolved into its type (see [`crate::rules`]).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(try_from = "ColumnSpec", into = "ColumnSpec")]
pub struct Column {
    /// Column name as it appears in the header / JSON field / Parquet schema.
    pub name: String,
    /// Value type.
    pub ty: ColumnType,
    /// Whether every row must have a value.
    pub required: bool,
    /// Personal or secret data: its values never appear in reports, alerts or logs; a
    /// problem names only the line, the column and the rule.
    pub sensitive: bool,
    /// Data-quality rules beyond the type (`allowed`, `min`, `max`, `pattern`, `length`,
    /// `unique`), checked on every non-null value.
    pub rules: crate::rules::ColumnRules,
    /// `renamed_from: old`: the column the dataset's table knows as `old`, renamed; its field
    /// id, and so its values, are kept ([`Column::renamed_from`] is read by `registry push`).
    pub renamed_from: Option<String>,
    /// `default: value`: the value curated where a row has none (a null value, a missing
    /// field or header column), as text a file would hold; checked at load against the type
    /// and the rules. Iceberg v2 has no initial default, so rows curated before it read null.
    pub default: Option<String>,
    /// The rules as written, kept so the registry serialises (and hashes) as written.
    spec: crate::rules::RuleSpec,
}

impl Column {
    /// Whether a null of this column is a problem: it is required and has no `default`.
    pub fn refuses_null(&self) -> bool {
        self.required && self.default.is_none()
    }
}

/// A column as written in the registry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// See [`Column::name`].
    pub name: String,
    /// See [`Column::ty`].
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// See [`Column::required`].
    #[serde(default)]
    pub required: bool,
    /// See [`Column::sensitive`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// `allowed: [a, b, …]` (string and int columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<crate::rules::Scalar>>,
    /// `min: …` (int, float, date, timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<crate::rules::Scalar>,
    /// `max: …` (int, float, date, timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<crate::rules::Scalar>,
    /// `pattern: "…"`, matched against the whole value (string columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `length: {min, max}` in characters (string columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<crate::rules::LengthBounds>,
    /// `unique: true`: no two non-null values alike in one file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    /// See [`Column::renamed_from`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// See [`Column::default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<crate::rules::Scalar>,
}

impl TryFrom<ColumnSpec> for Column {
    type Error = String;
    fn try_from(c: ColumnSpec) -> Result<Self, String> {
        let spec = crate::rules::RuleSpec {
            allowed: c.allowed,
            min: c.min,
            max: c.max,
            pattern: c.pattern,
            length: c.length,
            unique: c.unique,
            default: c.default,
        };
        let rules = crate::rules::resolve(c.ty, &spec)
            .map_err(|e| format!("column {:?} ({}): {e}", c.name, c.ty.as_str()))?;
        if c.renamed_from.as_deref() == Some(c.name.as_str()) {
            return Err(format!(
                "column {:?}: renamed_from names the column itself",
                c.name
            ));
        }
        Ok(Column {
            name: c.name,
            ty: c.ty,
            required: c.required,
            sensitive: c.sensitive,
            rules,
            renamed_from: c.renamed_from,
            default: spec.default.as_ref().map(|d| d.to_string()),
            spec,
        })
    }
}

impl From<Column> for ColumnSpec {
    fn from(c: Column) -> ColumnSpec {
        ColumnSpec {
            name: c.name,
            ty: c.ty,
            required: c.required,
            sensitive: c.sensitive,
            allowed: c.spec.allowed,
            min: c.spec.min,
            max: c.spec.max,
            pattern: c.spec.pattern,
            length: c.spec.length,
            unique: c.spec.unique,
            renamed_from: c.renamed_from,
            default: c.spec.default,
        }
    }
}

/// The declared columns: at least one, names unique.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(try_from = "Vec<Column>", into = "Vec<Column>")]
pub struct Columns(Vec<Column>);

impl Columns {
    /// The columns in file order.
    pub fn as_slice(&self) -> &[Column] {
        &self.0
    }
}

impl std::ops::Deref for Columns {
    type Target = [Column];
    fn deref(&self) -> &[Column] {
        &self.0
    }
}

impl TryFrom<Vec<Column>> for Columns {
    type Error = String;
    fn try_from(cols: Vec<Column>) -> Result<Self, String> {
        if cols.is_empty() {
            return Err("columns: declare at least one column".into());
        }
        for (i, c) in cols.iter().enumerate() {
            if c.name.trim().is_empty() {
                return Err(format!("columns[{i}]: empty column name"));
            }
            if let Some(j) = cols[..i].iter().position(|o| o.name == c.name) {
                return Err(format!(
                    "columns[{i}]: duplicate column name {:?} (also columns[{j}])",
                    c.name
                ));
            }
            if let Some(old) = &c.renamed_from {
                if cols.iter().any(|o| o.name == *old) {
                    return Err(format!(
                        "columns[{i}]: {:?} is renamed_from {old:?}, which is still declared (a rename leaves one column)",
                        c.name
                    ));
                }
                if let Some(j) = cols[..i]
                    .iter()
                    .position(|o| o.renamed_from.as_ref() == Some(old))
                {
                    return Err(format!(
                        "columns[{i}]: {old:?} is renamed twice (also by columns[{j}])"
                    ));
                }
            }
        }
        Ok(Columns(cols))
    }
}

impl From<Columns> for Vec<Column> {
    fn from(c: Columns) -> Vec<Column> {
        c.0
    }
}

/// Size bounds of one object (compressed, as stored), and of its decompressed content.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SizeBounds {
    /// Smallest acceptable object (default 1 byte: empty objects are rejected).
    pub min: ByteSize,
    /// Largest acceptable object; larger ones are rejected without being read.
    pub max: ByteSize,
    /// Gzip only: the most decompressed bytes read before the file is called a bomb.
    pub max_decompressed: ByteSize,
    /// Longest single record/line; longer ones are rejected instead of buffered.
    pub max_record: ByteSize,
}

impl Default for SizeBounds {
    fn default() -> Self {
        SizeBounds {
            min: ByteSize(1),
            max: ByteSize(50 << 30),
            max_decompressed: ByteSize(200 << 30),
            max_record: ByteSize(16 << 20),
        }
    }
}

/// A raw key pattern such as `raw/orders/dt={date}/{file}`.
///
/// Placeholders: `{date}` (a real calendar date, `YYYY-MM-DD`), `{file}` (the file name: the
/// last segment, non-empty), and `{any}` (one non-empty segment). The literal text before the
/// first placeholder is the dataset's *prefix*: a key under that prefix that does not match the
/// pattern is a misnamed upload (rejected), a key under no prefix is not ours (ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyPattern {
    text: String,
    parts: Vec<PatternPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternPart {
    Literal(String),
    Date,
    File,
    Any,
}

/// What a key matched: the partition values found in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyMatch {
    /// The `{date}` value, when the pattern has one.
    pub date: Option<String>,
    /// The file name (`{file}`).
    pub file: String,
    /// The partition path: the key's directory below the dataset prefix, e.g. `dt=2026-11-25`.
    pub partition: String,
}

/// Why a key under a dataset's prefix does not match its pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMismatch(pub String);

impl KeyPattern {
    /// The literal prefix before the first placeholder: which keys this dataset owns.
    ///
    /// It is the first literal cut after its last `/`, so `raw/orders/dt={date}/{file}` owns
    /// `raw/orders/` and a stray `raw/orders/2026-11-25/x.csv` is caught as misnamed.
    pub fn prefix(&self) -> &str {
        match self.parts.first() {
            Some(PatternPart::Literal(l)) => &l[..l.rfind('/').map_or(0, |i| i + 1)],
            _ => "",
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The folder (key prefix, ending in `/`) where files of `date` (`YYYY-MM-DD`) land, e.g.
    /// `raw/orders/dt=2026-11-25/`; `None` when the pattern has an `{any}` part (no single
    /// folder) or no `{date}`.
    pub fn folder_for_date(&self, date: &str) -> Option<String> {
        if !self.has_date() {
            return None;
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                PatternPart::Literal(l) => out.push_str(l),
                PatternPart::Date => out.push_str(date),
                PatternPart::Any => return None,
                PatternPart::File => break,
            }
        }
        Some(out)
    }

    /// Whether the pattern has a `{date}` part.
    pub fn has_date(&self) -> bool {
        self.parts.contains(&PatternPart::Date)
    }

    /// Matches a decoded key against the pattern.
    pub fn matches(&self, key: &str) -> Result<KeyMatch, KeyMismatch> {
        let mut rest = key;
        let mut date = None;
        let mut file = None;
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                PatternPart::Literal(l) => {
                    rest = rest.strip_prefix(l.as_str()).ok_or_else(|| {
                        // Point at the first differing character, not at the literal's start.
                        let same: usize = l
                            .chars()
                            .zip(rest.chars())
                            .take_while(|(a, b)| a == b)
                            .map(|(a, _)| a.len_utf8())
                            .sum();
                        let done = &key[..key.len() - rest.len() + same];
                        KeyMismatch(format!(
                            "expected {:?} after {:?}, found {:?}",
                            &l[same..],
                            done,
                            crate::text::shorten(&rest[same..], 40)
                        ))
                    })?;
                }
                PatternPart::Date | PatternPart::Any => {
                    // A segment value runs to the next literal (or '/').
                    let stop = match self.parts.get(i + 1) {
                        Some(PatternPart::Literal(l)) => l.as_bytes()[0],
                        _ => b'/',
                    };
                    let end = rest
                        .bytes()
                        .position(|b| b == stop || b == b'/')
                        .unwrap_or(rest.len());
                    let value = &rest[..end];
                    if value.is_empty() {
                        return Err(KeyMismatch(format!(
                            "empty value for {} in {:?}",
                            if *part == PatternPart::Date {
                                "{date}"
                            } else {
                                "{any}"
                            },
                            key
                        )));
                    }
                    if *part == PatternPart::Date {
                        if !crate::types::is_date(value.as_bytes()) {
                            return Err(KeyMismatch(format!(
                                "partition date {value:?} is not a real date (YYYY-MM-DD)"
                            )));
                        }
                        date = Some(value.to_string());
                    }
                    rest = &rest[end..];
                }
                PatternPart::File => {
                    if rest.is_empty() {
                        return Err(KeyMismatch("missing file name".into()));
                    }
                    if rest.contains('/') {
                        return Err(KeyMismatch(format!(
                            "unexpected extra directory levels {:?} (pattern {})",
                            crate::text::shorten(rest, 60),
                            self.text
                        )));
                    }
                    file = Some(rest.to_string());
                    rest = "";
                }
            }
        }
        if !rest.is_empty() {
            return Err(KeyMismatch(format!(
                "unexpected trailing {:?}",
                crate::text::shorten(rest, 60)
            )));
        }
        let file = file.unwrap_or_default();
        let dir = &key[..key.len() - file.len()];
        let partition = dir
            .strip_prefix(self.prefix())
            .unwrap_or(dir)
            .trim_end_matches('/')
            .to_string();
        Ok(KeyMatch {
            date,
            file,
            partition,
        })
    }
}

impl TryFrom<String> for KeyPattern {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            lit.push_str(&rest[..open]);
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("key_pattern {text:?}: unclosed '{{'"))?
                + open;
            let part = match &rest[open + 1..close] {
                "date" => PatternPart::Date,
                "file" => PatternPart::File,
                "any" => PatternPart::Any,
                other => {
                    return Err(format!(
                        "key_pattern {text:?}: unknown placeholder {{{other}}}; use {{date}}, {{file}} or {{any}}"
                    ))
                }
            };
            if !lit.is_empty() {
                parts.push(PatternPart::Literal(std::mem::take(&mut lit)));
            } else if matches!(
                parts.last(),
                Some(PatternPart::Date | PatternPart::Any | PatternPart::File)
            ) {
                return Err(format!(
                    "key_pattern {text:?}: two placeholders must be separated by literal text"
                ));
            }
            parts.push(part);
            rest = &rest[close + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(PatternPart::Literal(lit));
        }
        match parts.first() {
            Some(PatternPart::Literal(l)) if l.contains('/') && !l.starts_with('/') => {}
            _ => {
                return Err(format!(
                    "key_pattern {text:?}: must start with a literal folder such as raw/orders/"
                ))
            }
        }
        if parts.iter().filter(|p| **p == PatternPart::File).count() != 1
            || parts.last() != Some(&PatternPart::File)
        {
            return Err(format!(
                "key_pattern {text:?}: must end with {{file}} (once)"
            ));
        }
        if parts.iter().filter(|p| **p == PatternPart::Date).count() > 1 {
            return Err(format!("key_pattern {text:?}: at most one {{date}}"));
        }
        Ok(KeyPattern { text, parts })
    }
}

impl From<KeyPattern> for String {
    fn from(p: KeyPattern) -> String {
        p.text
    }
}

/// Where a key belongs.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyRoute<'a> {
    /// Under a dataset and matching its pattern.
    Matched {
        /// The dataset's name.
        name: &'a DatasetName,
        /// The dataset.
        dataset: &'a Dataset,
        /// What the key matched.
        m: KeyMatch,
    },
    /// Under a dataset's prefix but not matching its pattern: a misnamed upload.
    Misnamed {
        /// The dataset's name.
        name: &'a DatasetName,
        /// The dataset.
        dataset: &'a Dataset,
        /// Why it does not match.
        why: String,
    },
    /// Under no dataset: not lakeline's business.
    Unowned,
}

/// Where registry snapshots live in the lake bucket ([`Registry::snapshot`]).
pub const SNAPSHOT_PREFIX: &str = "_lakeline/registry/";

impl Registry {
    /// The registry as the functions read it, as JSON, and its content-addressed key under
    /// [`SNAPSHOT_PREFIX`] (the first 16 hex digits of the JSON's SHA-256). A Spark run is
    /// handed this snapshot: it reads exactly the registry its start was judged by, even if
    /// the live one changes meanwhile, and parses it with Python's standard library, so no
    /// Glue or EMR image needs a YAML library. It is also the registry as lakeline understood
    /// it (`lakeline registry check --json`): YAML 1.2 scalars resolved, bounds localized.
    pub fn snapshot(&self) -> (String, Vec<u8>) {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).expect("a registry serialises");
        let hex: String = Sha256::digest(&json)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (format!("{SNAPSHOT_PREFIX}{hex}.json"), json)
    }

    /// Parses and checks a registry; `origin` (a path or URI) names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Registry, Error> {
        // A `${LAKELINE_…}` left in would become a job name or a prefix verbatim: registries
        // with placeholders load through `placeholders::load`, which fills them first.
        if let Some(i) = text.find("${") {
            return Err(Error::Registry {
                origin: origin.to_string(),
                line: Some(text[..i].matches('\n').count() + 1),
                field: "${…}".into(),
                message: "a placeholder was not filled in: load this registry with lakeline_core::placeholders::load".into(),
            });
        }
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let reg: Registry = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.location().map(|l| l.line());
            let message = inner.to_string();
            // The YAML error repeats the location and a shorter path; keep just its words.
            let message = match message.rfind(" at line ") {
                Some(i) => message[..i].to_string(),
                None => message,
            };
            let message = match message.split_once(": ") {
                Some((head, tail)) if !head.contains(' ') => tail.to_string(),
                _ => message,
            };
            // A column's rules are judged once the whole column is read, and the YAML parser
            // then points at the start of the column list: find the column's own line instead.
            let line = match message.strip_prefix("column \"") {
                Some(rest) if path.contains(".columns[") => {
                    let column = rest.split('"').next().unwrap_or_default();
                    let dataset = path.split('.').nth(1).unwrap_or_default();
                    column_line(text, dataset, column)
                }
                _ => line,
            };
            Error::Registry {
                origin: origin.to_string(),
                line,
                field: path,
                message,
            }
        })?;
        reg.check_prefixes(origin)?;
        reg.check_tables(origin)?;
        reg.check_jobs(origin)?;
        reg.check_rules(origin)?;
        let mut reg = reg;
        let redact = reg.lake.redact_values;
        for (name, ds) in reg.datasets.iter_mut() {
            ds.redact_values = redact;
            ds.localize_bounds()
                .map_err(|(field, message)| Error::Registry {
                    origin: origin.to_string(),
                    line: None,
                    field: format!("datasets.{name}.{field}"),
                    message,
                })?;
        }
        Ok(reg)
    }

    /// Refuses Spark entry points outside `artifact_prefix` (an `s3://bucket/prefix/` URI),
    /// unless `lake.allow_external_entry_points` says otherwise.
    pub fn check_entry_points(&self, artifact_prefix: &str, origin: &str) -> Result<(), Error> {
        if self.lake.allow_external_entry_points || artifact_prefix.is_empty() {
            return Ok(());
        }
        for (name, ds) in &self.datasets {
            let mut points = Vec::new();
            if let Some(job::JobSpec::EmrServerless(e)) = &ds.job {
                points.push(("job.entry_point", e.entry_point.as_str()));
            }
            if let Some(p) = ds
                .compaction
                .as_ref()
                .and_then(|c| c.job.entry_point.as_deref())
            {
                points.push(("compaction.job.entry_point", p));
            }
            for (field, p) in points {
                if !p.starts_with(artifact_prefix) {
                    return Err(Error::Registry {
                        origin: origin.to_string(),
                        line: None,
                        field: format!("datasets.{name}.{field}"),
                        message: format!(
                            "{p} is outside the stack's artifact prefix {artifact_prefix}: upload the script there, or set lake.allow_external_entry_points: true if running code from elsewhere is intended"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether an unclaimed key is ignored on purpose (`lake.ignore_prefixes`), or outside
    /// the raw prefix altogether.
    pub fn unclaimed_is_ignored(&self, key: &str) -> bool {
        !key.starts_with(&self.lake.raw_prefix)
            || self
                .lake
                .ignore_prefixes
                .iter()
                .any(|p| key.starts_with(p.as_str()))
    }

    /// Dataset rules that name columns or need a key part must find them.
    fn check_rules(&self, origin: &str) -> Result<(), Error> {
        let err = |name: &DatasetName, field: &str, message: String| Error::Registry {
            origin: origin.to_string(),
            line: None,
            field: format!("datasets.{name}.{field}"),
            message,
        };
        for (name, ds) in &self.datasets {
            for (i, c) in ds.unique_key.iter().enumerate() {
                if !ds.columns.iter().any(|col| &col.name == c) {
                    return Err(err(
                        name,
                        &format!("unique_key[{i}]"),
                        format!("{c:?} is not a declared column"),
                    ));
                }
                if ds.unique_key[..i].contains(c) {
                    return Err(err(
                        name,
                        &format!("unique_key[{i}]"),
                        format!("{c:?} is named twice"),
                    ));
                }
            }
            if let Some(r) = ds.rows {
                if let (Some(lo), Some(hi)) = (r.min, r.max) {
                    if lo > hi {
                        return Err(err(name, "rows", format!("min {lo} is above max {hi}")));
                    }
                }
                if r.min.is_none() && r.max.is_none() {
                    return Err(err(name, "rows", "give min, max or both".into()));
                }
            }
            if ds.partition_freshness.is_some() && !ds.key_pattern.has_date() {
                return Err(err(
                    name,
                    "partition_freshness",
                    format!(
                        "key_pattern {} has no {{date}} to judge",
                        ds.key_pattern.as_str()
                    ),
                ));
            }
            if let Some(e) = ds.expect {
                let day = e.every == expect::Every::Day;
                if day && !ds.key_pattern.has_date() {
                    return Err(err(
                        name,
                        "expect.every",
                        format!(
                            "every: day needs a {{date}} in key_pattern {} (or use every: <N>h)",
                            ds.key_pattern.as_str()
                        ),
                    ));
                }
                if !day && (e.by.is_some() || e.offset_days > 0) {
                    return Err(err(
                        name,
                        "expect",
                        "by and offset_days apply to every: day".into(),
                    ));
                }
            }
            if let Some(n) = ds.max_unique_keys {
                if n == 0 || n > crate::rules::MAX_UNIQUE_KEYS_LIMIT {
                    return Err(err(
                        name,
                        "max_unique_keys",
                        format!(
                            "{n} is outside 1..={}: a larger set does not fit a Lambda; check such files in Spark",
                            crate::rules::MAX_UNIQUE_KEYS_LIMIT
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A Spark engine's `above` must leave the files below it to a Lambda that can take them.
    fn check_jobs(&self, origin: &str) -> Result<(), Error> {
        for (name, ds) in &self.datasets {
            let max = job::lambda_max(ds.format);
            if let Some(c) = ds.compaction.as_ref().filter(|c| c.enabled) {
                if let Some(field) = c.job.missing().first() {
                    return Err(Error::Registry {
                        origin: origin.to_string(),
                        line: None,
                        field: format!("datasets.{name}.compaction.job.{field}"),
                        message: format!(
                            "compaction engine {:?} needs {field} (or set compaction.enabled: false, or use the default lambda engine)",
                            c.job.engine
                        ),
                    });
                }
            }
            if let Some(above) = ds.job.as_ref().and_then(|j| j.above()) {
                if above.0 > max.0 {
                    return Err(Error::Registry {
                        origin: origin.to_string(),
                        line: None,
                        field: format!("datasets.{name}.job.above"),
                        message: format!(
                            "{above} is above what the lambda engine takes ({max}): files between the two would have no engine; set above to {max} or less"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Each dataset has a table of its own, and its columns leave lakeline's own names free:
    /// no two datasets map to one table name ([`DatasetName::table_name`]), and no declared
    /// column starts with `_lakeline_` (the lineage and partition columns of the table).
    fn check_tables(&self, origin: &str) -> Result<(), Error> {
        let mut seen: BTreeMap<String, &DatasetName> = BTreeMap::new();
        for (name, ds) in self.datasets.iter() {
            if let Some(other) = seen.insert(name.table_name(), name) {
                return Err(Error::Registry {
                    origin: origin.to_string(),
                    line: None,
                    field: format!("datasets.{name}"),
                    message: format!(
                        "datasets {other} and {name} would both be table {}: rename one",
                        name.table_name()
                    ),
                });
            }
            if let Some((i, c)) = ds
                .columns
                .iter()
                .enumerate()
                .find(|(_, c)| c.name.starts_with("_lakeline_"))
            {
                return Err(Error::Registry {
                    origin: origin.to_string(),
                    line: None,
                    field: format!("datasets.{name}.columns[{i}].name"),
                    message: format!(
                        "column {:?}: names starting with _lakeline_ are the table's lineage columns",
                        c.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// Two datasets must not own overlapping prefixes: one key would belong to both.
    fn check_prefixes(&self, origin: &str) -> Result<(), Error> {
        let all: Vec<_> = self.datasets.iter().collect();
        for (i, (a, da)) in all.iter().enumerate() {
            for (b, db) in &all[i + 1..] {
                let (pa, pb) = (da.key_pattern.prefix(), db.key_pattern.prefix());
                if pa.starts_with(pb) || pb.starts_with(pa) {
                    return Err(Error::Registry {
                        origin: origin.to_string(),
                        line: None,
                        field: format!("datasets.{b}.key_pattern"),
                        message: format!(
                            "prefix {pb:?} overlaps dataset {a}'s prefix {pa:?}: a key would belong to both"
                        ),
                    });
                }
            }
            if da
                .key_pattern
                .prefix()
                .starts_with(&self.lake.quarantine_prefix)
            {
                return Err(Error::Registry {
                    origin: origin.to_string(),
                    line: None,
                    field: format!("datasets.{a}.key_pattern"),
                    message: "a dataset cannot live under the quarantine prefix".into(),
                });
            }
        }
        Ok(())
    }

    /// Finds the dataset a decoded key belongs to.
    pub fn route(&self, key: &str) -> KeyRoute<'_> {
        for (name, dataset) in &self.datasets {
            if key.starts_with(dataset.key_pattern.prefix()) {
                return match dataset.key_pattern.matches(key) {
                    Ok(m) => KeyRoute::Matched { name, dataset, m },
                    Err(KeyMismatch(why)) => KeyRoute::Misnamed { name, dataset, why },
                };
            }
        }
        KeyRoute::Unowned
    }

    /// SHA-256 (hex) of the registry's meaning: its canonical JSON form, so comments and
    /// formatting do not change it and any rule change does. Curated objects carry it.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).expect("the registry serialises");
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Looks a dataset up by name.
    pub fn dataset(&self, name: &str) -> Option<(&DatasetName, &Dataset)> {
        self.datasets.iter().find(|(n, _)| n.as_str() == name)
    }
}

/// The 1-based line declaring column `column` of dataset `dataset` (`name: column` after the
/// dataset's key), for errors the parser cannot place; `None` when the text does not say it
/// plainly.
fn column_line(text: &str, dataset: &str, column: &str) -> Option<usize> {
    let mut lines = text.lines().enumerate();
    let is_key = |l: &str| {
        l.trim_start()
            .strip_prefix(dataset)
            .is_some_and(|r| r.trim_start().starts_with(':'))
    };
    lines.by_ref().find(|(_, l)| is_key(l))?;
    lines
        .find(|(_, l)| {
            l.split("name:").skip(1).any(|r| {
                let r = r.trim_start();
                let r = r.strip_prefix(['"', '\'']).unwrap_or(r);
                r.strip_prefix(column)
                    .is_some_and(|t| t.is_empty() || t.starts_with(['"', '\'', ',', '}', ' ']))
            })
        })
        .map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/dt={date}/{file}\n    format: csv\n    columns:\n      - {name: id, type: int, required: true}\n";

    #[test]
    fn an_unfilled_placeholder_is_refused_not_used_verbatim() {
        let text = MINI.replace("format: csv", "format: csv\n    # job: ${LAKELINE_X}");
        let e = Registry::from_yaml(&text, "r.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("r.yaml") && e.contains("line 6") && e.contains("placeholders::load"),
            "{e}"
        );
    }

    /// A snapshot is the registry itself: read back (JSON is YAML 1.2), it is the same
    /// registry, so a Spark run handed it judges by the same rules; and its key changes with it.
    #[test]
    fn a_snapshot_reads_back_as_the_same_registry_at_a_key_of_its_content() {
        let vars = crate::placeholders::Vars::new();
        let texts = [
            ("config", include_str!("../../../../config/datasets.yaml")),
            (
                "curate bench",
                include_str!("../../../../bench/curate-registry.yaml"),
            ),
            (
                "rules bench",
                include_str!("../../../../bench/rules-registry.yaml"),
            ),
            ("mini", MINI),
        ];
        let mut keys = Vec::new();
        for (what, text) in texts {
            let reg = crate::placeholders::load(text, what, &vars).unwrap();
            let (key, json) = reg.snapshot();
            let back = Registry::from_yaml(std::str::from_utf8(&json).unwrap(), what)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(back, reg, "{what}");
            assert_eq!(back.snapshot(), (key.clone(), json), "{what}: stable");
            assert!(
                key.starts_with(SNAPSHOT_PREFIX) && key.ends_with(".json"),
                "{key}"
            );
            assert_eq!(key.len(), SNAPSHOT_PREFIX.len() + 16 + 5, "{key}");
            keys.push(key);
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), texts.len(), "one key per registry");
    }

    #[test]
    fn parses_minimal_registry() {
        let r = Registry::from_yaml(MINI, "mini.yaml").unwrap();
        let (_, d) = r.dataset("orders").unwrap();
        assert_eq!(d.key_pattern.prefix(), "raw/orders/");
        assert_eq!(d.size.min, ByteSize(1));
        assert_eq!(r.lake.quarantine_prefix, "quarantine/");
    }

    #[test]
    fn invalid_registries_name_line_and_field() {
        let cases: &[(&str, &str, Option<usize>, &str)] = &[
            (
                "unknown key",
                "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/dt={date}/{file}\n    format: csv\n    colums: []\n",
                Some(6),
                "unknown field `colums`",
            ),
            (
                "bad type",
                "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/dt={date}/{file}\n    format: csv\n    columns:\n      - {name: id, type: integer}\n",
                Some(7),
                "unknown type \"integer\"",
            ),
            (
                "bad pattern",
                "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{day}/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n",
                Some(4),
                "unknown placeholder {day}",
            ),
            (
                "duplicate column",
                "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n      - {name: id, type: string}\n",
                Some(4),
                "duplicate column name \"id\"",
            ),
            (
                "bad size",
                "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    size: {max: 12 parsecs}\n    columns:\n      - {name: id, type: int}\n",
                Some(6),
                "invalid size",
            ),
            (
                "bad version",
                "version: 2\ndatasets: {}\n",
                Some(1),
                "unsupported registry version 2",
            ),
            (
                "bad dataset name",
                "version: 1\ndatasets:\n  Orders!:\n    key_pattern: raw/o/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n",
                Some(3),
                "invalid dataset name",
            ),
            (
                "compaction job without its application",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n    compaction: {job: {engine: emr-serverless, entry_point: s3://x/c.py}}\n",
                None,
                "needs application_id",
            ),
            (
                "a rule that does not fit its column's type (flow style)",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns:\n      - {name: id, type: int}\n      - {name: amount, type: float, pattern: \"[0-9]+\"}\n",
                Some(8),
                "column \"amount\" (float): pattern: applies to string columns, not float",
            ),
            (
                "a bound that is not of the column's type (block style)",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns:\n      - name: id\n        type: int\n      - name: day\n        type: date\n        min: 2026-02-30\n",
                Some(9),
                "column \"day\" (date): min: \"2026-02-30\" is not a valid date",
            ),
            (
                "an invalid pattern",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns:\n      - {name: code, type: string, pattern: \"(\"}\n",
                Some(7),
                "pattern: invalid regular expression",
            ),
            (
                "unique_key naming an undeclared column",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n    unique_key: [id, nope]\n",
                None,
                "\"nope\" is not a declared column",
            ),
            (
                "partition_freshness without a date in the key",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n    partition_freshness: {max_age_days: 3}\n",
                None,
                "has no {date}",
            ),
            (
                "rows with min above max",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n    rows: {min: 5, max: 1}\n",
                None,
                "min 5 is above max 1",
            ),
            (
                "a misspelt rule field",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns:\n      - {name: id, type: int, uniqe: true}\n",
                Some(7),
                "unknown field `uniqe`",
            ),
            (
                "two datasets, one table name",
                "version: 1\ndatasets:\n  a-b:\n    key_pattern: raw/x/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n  a_b:\n    key_pattern: raw/y/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n",
                None,
                "datasets a-b and a_b would both be table a_b",
            ),
            (
                "a column with a lineage column's name",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns: [{name: _lakeline_source, type: string}]\n",
                None,
                "names starting with _lakeline_",
            ),
            (
                "overlapping prefixes",
                "version: 1\ndatasets:\n  a:\n    key_pattern: raw/a/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n  b:\n    key_pattern: raw/a/b/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n",
                None,
                "overlaps",
            ),
        ];
        for (what, text, line, needle) in cases {
            let err = Registry::from_yaml(text, "t.yaml").expect_err(what);
            let Error::Registry {
                line: got,
                message,
                field,
                ..
            } = &err
            else {
                panic!("{what}: wrong error {err}")
            };
            assert_eq!(got, line, "{what}: line in {err}");
            assert!(
                message.contains(needle),
                "{what}: {message:?} lacks {needle:?}"
            );
            assert!(err.to_string().contains("t.yaml"), "{what}: {err}");
            if line.is_some() {
                assert!(
                    !field.is_empty() || *what == "bad version",
                    "{what}: no field in {err}"
                );
            }
        }
    }

    #[test]
    fn key_patterns_match_table() {
        let p = KeyPattern::try_from("raw/orders/dt={date}/{file}".to_string()).unwrap();
        let ok = |k: &str| p.matches(k).map(|m| (m.date, m.file, m.partition));
        assert_eq!(
            ok("raw/orders/dt=2026-11-25/a b.csv"),
            Ok((
                Some("2026-11-25".into()),
                "a b.csv".into(),
                "dt=2026-11-25".into()
            ))
        );
        for (key, why) in [
            ("raw/orders/dt=2026-02-30/a.csv", "not a real date"),
            ("raw/orders/dt=2026-1-05/a.csv", "not a real date"),
            ("raw/orders/dt=/a.csv", "empty value"),
            ("raw/orders/dt=2026-11-25/", "missing file name"),
            ("raw/orders/dt=2026-11-25/x/a.csv", "extra directory"),
            ("raw/orders/2026-11-25/a.csv", "expected"),
        ] {
            let err = p.matches(key).expect_err(key);
            assert!(err.0.contains(why), "{key}: {err:?}");
        }
    }

    #[test]
    fn folders_for_a_date() {
        let f = |p: &str| {
            KeyPattern::try_from(p.to_string())
                .unwrap()
                .folder_for_date("2026-11-25")
        };
        assert_eq!(
            f("raw/orders/dt={date}/{file}").as_deref(),
            Some("raw/orders/dt=2026-11-25/")
        );
        assert_eq!(
            f("raw/o/{date}/x/{file}").as_deref(),
            Some("raw/o/2026-11-25/x/")
        );
        assert_eq!(f("raw/o/{any}/dt={date}/{file}"), None);
        assert_eq!(f("raw/o/{file}"), None);
    }

    #[test]
    fn bad_patterns_rejected() {
        for (p, why) in [
            ("{date}/{file}", "literal folder"),
            ("raw/x/{date}", "must end with {file}"),
            ("raw/x/{date}{any}/{file}", "separated"),
            ("raw/x/{file}/{file}", "once"),
            ("raw/x/{date", "unclosed"),
        ] {
            let e = KeyPattern::try_from(p.to_string()).expect_err(p);
            assert!(e.contains(why), "{p}: {e}");
        }
    }

    #[test]
    fn routes_keys() {
        let r = Registry::from_yaml(MINI, "mini.yaml").unwrap();
        assert!(matches!(
            r.route("raw/orders/dt=2026-01-01/x.csv"),
            KeyRoute::Matched { .. }
        ));
        assert!(matches!(
            r.route("raw/orders/dt=2026-13-01/x.csv"),
            KeyRoute::Misnamed { .. }
        ));
        assert!(matches!(
            r.route("raw/orders/2026-01-01/x.csv"),
            KeyRoute::Misnamed { .. }
        ));
        assert_eq!(r.route("raw/other/x.csv"), KeyRoute::Unowned);
    }
}
