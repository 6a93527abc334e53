//! `lakeline table erase --include-raw`: the uploads that hold an erased filter's rows, deleted
//! whole, every version. Raw objects are found through the table's lineage (`_lakeline_source`
//! of the matching rows); quarantined objects, whose rows never reached the table, by scanning
//! them ([`lakeline_core::erase::scan`] for text, the filter's columns for Parquet), streamed
//! in bounded memory. An audit record of what was deleted, naming the filter's columns and a
//! hash of the filter, never its values, is written to [`ERASURES_PREFIX`].
//!
//! The bucket policy lets only the principals in the stack's `EraserArns` delete under `raw/`
//! and the quarantine prefix, and write the audit records (once each; nobody deletes one).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Context;
use aws_sdk_s3::Client;
use lakeline_core::erase::scan::{RowScan, Scanned};
use lakeline_core::erase::Condition;
use lakeline_core::registry::{Dataset, Registry};
use lakeline_core::types::Format;
use lakeline_table::erase::Erased;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Where the audit records of erasures go: `<prefix><UTC time>-<12 hex>.json`.
pub const ERASURES_PREFIX: &str = "audit/erasures/";

/// One object that holds matching rows, and its versions.
#[derive(Debug, Clone, Serialize)]
pub struct Holder {
    /// The key.
    pub key: String,
    /// Its versions (`null` on a bucket without versioning), delete markers included.
    pub versions: Vec<String>,
    /// A quarantined object's scan: rows read and matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scanned: Option<Scanned>,
}

/// A quarantined object that could not be read (a corrupt gzip, a Parquet file without a
/// footer): it may hold matching rows; a person decides.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    /// The key.
    pub key: String,
    /// Why.
    pub why: String,
}

/// What `--include-raw` found and did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RawErasure {
    /// The lake bucket.
    pub bucket: String,
    /// Raw objects whose rows the erase matched (through the lineage), and the raw versions
    /// left behind by a matching quarantined upload.
    pub raw: Vec<Holder>,
    /// Lineage sources that are not objects of this bucket any more (already gone).
    pub raw_gone: Vec<String>,
    /// Quarantined objects holding matching rows.
    pub quarantine: Vec<Holder>,
    /// Quarantined objects scanned.
    pub quarantine_scanned: usize,
    /// Quarantined objects that could not be read.
    pub unreadable: Vec<Unreadable>,
    /// Object versions deleted (0 for a dry run).
    pub deleted_versions: usize,
    /// The audit record, when anything was deleted.
    pub record: Option<String>,
    /// When the deleted uploads are gone.
    pub physically_gone: String,
}

/// Where an erasure's uploads are: the lake bucket, and the dataset as the registry defines
/// it (its key prefix, format and the lake's quarantine prefix).
pub struct Lake<'a> {
    /// S3, as the eraser.
    pub s3: &'a Client,
    /// The lake bucket.
    pub bucket: &'a str,
    /// The registry.
    pub reg: &'a Registry,
    /// The dataset's name.
    pub dataset: &'a str,
    /// The dataset.
    pub ds: &'a Dataset,
}

/// Finds the raw and quarantined objects holding the rows `conds` match in the lake's dataset
/// (the table erase `erased` named the raw ones), and unless `dry_run` deletes every version of
/// each and writes the audit record.
pub async fn erase_raw(
    lake: &Lake<'_>,
    conds: &[Condition],
    erased: &Erased,
    dry_run: bool,
) -> anyhow::Result<RawErasure> {
    let Lake {
        s3,
        bucket,
        reg,
        dataset,
        ds,
    } = *lake;
    let mut out = RawErasure {
        bucket: bucket.to_string(),
        raw: Vec::new(),
        raw_gone: Vec::new(),
        quarantine: Vec::new(),
        quarantine_scanned: 0,
        unreadable: Vec::new(),
        deleted_versions: 0,
        record: None,
        physically_gone:
            "at once: every version of each object is deleted, not hidden behind a delete marker"
                .into(),
    };
    for source in &erased.sources {
        let key = raw_key(source, bucket);
        let versions = versions(s3, bucket, &key).await?;
        if versions.is_empty() {
            out.raw_gone.push(source.clone());
        } else {
            out.raw.push(Holder {
                key,
                versions,
                scanned: None,
            });
        }
    }
    // Every version of every quarantined key: a replayed upload's quarantined copy is gone
    // from a listing of current objects, but its versions still hold its rows.
    let prefix = format!("{}{}", reg.lake.quarantine_prefix, ds.key_pattern.prefix());
    let mut by_key: std::collections::BTreeMap<String, Vec<Version>> = Default::default();
    for v in list_versions(s3, bucket, &prefix).await? {
        by_key.entry(v.key.clone()).or_default().push(v);
    }
    for (key, versions) in by_key {
        out.quarantine_scanned += 1;
        for v in versions.iter().filter(|v| !v.marker) {
            match scan(s3, bucket, v, ds, conds).await {
                Ok(s) if s.matched > 0 => {
                    out.quarantine.push(Holder {
                        key: key.clone(),
                        versions: versions.iter().map(|v| v.id.clone()).collect(),
                        scanned: Some(s),
                    });
                    break;
                }
                Ok(_) => {}
                Err(why) => out.unreadable.push(Unreadable {
                    key: format!("{key} (version {})", v.id),
                    why,
                }),
            }
        }
    }
    // A quarantined upload's raw key keeps its earlier versions on a versioned bucket (the
    // quarantine removed only the current one): they hold the same rows.
    for q in &out.quarantine {
        let Some(key) = q.key.strip_prefix(reg.lake.quarantine_prefix.as_str()) else {
            continue;
        };
        if out.raw.iter().any(|h| h.key == key) {
            continue;
        }
        let versions = versions(s3, bucket, key).await?;
        if !versions.is_empty() {
            out.raw.push(Holder {
                key: key.to_string(),
                versions,
                scanned: None,
            });
        }
    }
    if dry_run {
        return Ok(out);
    }
    let mut deleted = Vec::new();
    let mut failure = None;
    'all: for h in out.raw.iter().chain(out.quarantine.iter()) {
        for v in &h.versions {
            match s3
                .delete_object()
                .bucket(bucket)
                .key(&h.key)
                .version_id(v)
                .send()
                .await
            {
                Ok(_) => deleted.push(serde_json::json!({"key": h.key, "versionId": v})),
                Err(e) => {
                    failure = Some(format!(
                        "deleting s3://{bucket}/{} version {v}: {}",
                        h.key,
                        lakeline_aws::describe(&e)
                    ));
                    break 'all;
                }
            }
        }
    }
    out.deleted_versions = deleted.len();
    if !deleted.is_empty() {
        out.record = Some(write_record(s3, bucket, dataset, conds, erased, deleted).await?);
    }
    match failure {
        Some(f) => Err(anyhow::anyhow!(
            "{f}; {} version(s) were deleted before it, recorded in {}",
            out.deleted_versions,
            out.record.as_deref().unwrap_or("no record")
        )),
        None => Ok(out),
    }
}

/// The key of a lineage source in `bucket`: sources are keys, or `s3://` URIs.
fn raw_key(source: &str, bucket: &str) -> String {
    source
        .strip_prefix("s3://")
        .and_then(|rest| rest.strip_prefix(bucket))
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(source)
        .to_string()
}

/// One version of an object, or a delete marker.
struct Version {
    key: String,
    /// The version id (`null` on a bucket without versioning).
    id: String,
    marker: bool,
    size: u64,
}

/// Every version and delete marker under `prefix`, newest first within a key.
async fn list_versions(s3: &Client, bucket: &str, prefix: &str) -> anyhow::Result<Vec<Version>> {
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(failed(format!(
                "listing the versions under s3://{bucket}/{prefix}"
            )))?;
        out.extend(page.versions().iter().map(|v| Version {
            key: v.key().unwrap_or_default().to_string(),
            id: v.version_id().unwrap_or("null").to_string(),
            marker: false,
            size: v.size().unwrap_or(0).max(0) as u64,
        }));
        out.extend(page.delete_markers().iter().map(|m| Version {
            key: m.key().unwrap_or_default().to_string(),
            id: m.version_id().unwrap_or("null").to_string(),
            marker: true,
            size: 0,
        }));
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker;
        version_marker = page.next_version_id_marker;
    }
    Ok(out)
}

/// Every version and delete marker of exactly `key`.
async fn versions(s3: &Client, bucket: &str, key: &str) -> anyhow::Result<Vec<String>> {
    Ok(list_versions(s3, bucket, key)
        .await?
        .into_iter()
        .filter(|v| v.key == key)
        .map(|v| v.id)
        .collect())
}

/// Feeds a [`RowScan`] as a writer, so a gzip decoder can write into it.
struct ScanWriter(RowScan);

impl Write for ScanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rows of one version of a quarantined object that `conds` match, or why it could not
/// be read.
async fn scan(
    s3: &Client,
    bucket: &str,
    v: &Version,
    ds: &Dataset,
    conds: &[Condition],
) -> Result<Scanned, String> {
    let key = v.key.as_str();
    let version = (v.id != "null").then(|| v.id.clone());
    if ds.format == Format::Parquet {
        return scan_parquet(s3, bucket, key, version, v.size, conds).await;
    }
    let delimiter = match ds.format {
        Format::Jsonl => None,
        _ => Some(ds.delimiter_byte()),
    };
    let mut body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version)
        .send()
        .await
        .map_err(|e| {
            format!(
                "reading s3://{bucket}/{key}: {}",
                lakeline_aws::describe(&e)
            )
        })?
        .body;
    let rows = ScanWriter(RowScan::new(conds, delimiter));
    let mut sink = if ds.is_gzip(key) {
        Sink::Gzip(Box::new(flate2::write::MultiGzDecoder::new(rows)))
    } else {
        Sink::Plain(rows)
    };
    let bad = |e: std::io::Error| format!("s3://{bucket}/{key} is not valid gzip: {e}");
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("reading s3://{bucket}/{key}: {e}"))?;
        sink.write_all(&chunk).map_err(bad)?;
    }
    sink.finish().map_err(bad)
}

/// Where an object's bytes go: straight into the scan, or through a gzip decoder.
enum Sink {
    Plain(ScanWriter),
    Gzip(Box<flate2::write::MultiGzDecoder<ScanWriter>>),
}

impl Sink {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(buf),
            Sink::Gzip(d) => d.write_all(buf),
        }
    }

    /// The scan's result, once a gzip stream's trailer is checked.
    fn finish(self) -> std::io::Result<Scanned> {
        Ok(match self {
            Sink::Plain(w) => w.0.finish(),
            Sink::Gzip(d) => d.finish()?.0.finish(),
        })
    }
}

/// A quarantined Parquet file's rows that match: only the filter's columns are read.
async fn scan_parquet(
    s3: &Client,
    bucket: &str,
    key: &str,
    version_id: Option<String>,
    size: u64,
    conds: &[Condition],
) -> Result<Scanned, String> {
    use futures_util::StreamExt;
    use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
    let file = lakeline_aws::parquet::S3File::new(
        s3.clone(),
        lakeline_aws::parquet::S3Object {
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: None,
            version_id,
            size,
        },
    );
    let shown = format!("s3://{bucket}/{key}");
    let b = ParquetRecordBatchStreamBuilder::new(file)
        .await
        .map_err(|e| format!("{shown}: reading the Parquet footer: {e}"))?;
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut out = Scanned {
        rows: b.metadata().file_metadata().num_rows().max(0) as u64,
        ..Scanned::default()
    };
    if conds.iter().any(|c| !names.contains(&c.column)) {
        // A column of the filter is not in the file: none of its rows can match.
        return Ok(out);
    }
    let mask = ProjectionMask::columns(b.parquet_schema(), conds.iter().map(|c| c.column.as_str()));
    let mut stream = b
        .with_projection(mask)
        .build()
        .map_err(|e| format!("{shown}: {e}"))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| format!("{shown}: {e}"))?;
        let m =
            lakeline_table::erase::matches(&batch, conds).map_err(|e| format!("{shown}: {e}"))?;
        out.matched += m.true_count() as u64;
    }
    Ok(out)
}

/// Writes the audit record of an erasure (written once: `If-None-Match`); returns its key.
async fn write_record(
    s3: &Client,
    bucket: &str,
    dataset: &str,
    conds: &[Condition],
    erased: &Erased,
    deleted: Vec<serde_json::Value>,
) -> anyhow::Result<String> {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let at = now
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let filter: Vec<String> = conds
        .iter()
        .map(|c| {
            let values: Vec<String> = c.values.iter().map(|v| v.as_text()).collect();
            format!("{}={}", c.column, values.join("\u{1f}"))
        })
        .collect();
    let filter_hash = hex(&Sha256::digest(filter.join("\u{1e}").as_bytes()));
    let columns: BTreeSet<&str> = conds.iter().map(|c| c.column.as_str()).collect();
    let body = serde_json::json!({
        "erasedAt": at,
        "dataset": dataset,
        "table": erased.table,
        "snapshotId": erased.snapshot_id,
        "rowsRemoved": erased.rows,
        "columns": columns,
        // The filter's values are what was erased: a hash lets an auditor confirm a request
        // they hold, and tells nobody else the values.
        "filterSha256": filter_hash,
        "deleted": deleted,
    });
    let body = serde_json::to_vec_pretty(&body)?;
    let key = format!(
        "{ERASURES_PREFIX}{}-{}.json",
        at.replace(':', ""),
        &hex(&Sha256::digest(&body))[..12]
    );
    s3.put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .if_none_match("*")
        .body(body.into())
        .send()
        .await
        .map_err(failed(format!(
            "writing the erasure record s3://{bucket}/{key}"
        )))
        .context("the uploads were deleted; the audit record was not written")?;
    Ok(key)
}

/// An SDK error as an error that says what was being done.
fn failed<E, R>(what: String) -> impl FnOnce(aws_sdk_s3::error::SdkError<E, R>) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| anyhow::anyhow!("{what}: {}", lakeline_aws::describe(&e))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
