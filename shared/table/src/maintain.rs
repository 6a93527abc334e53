//! Table maintenance as snapshots: compaction (a partition's small data files rewritten as
//! few) and undo (one raw key's rows taken out). Each run is one snapshot that swaps its
//! inputs for its outputs, published like every commit by compare-and-swap on the version it
//! was planned on. A reader sees the table before or after, never both sets of files.
//!
//! The plan is the same rule the `curated/` sweep uses ([`lakeline_core::compaction::decide`]
//! over per-partition statistics, [`lakeline_core::compaction::plan::plan`]'s bin-packing),
//! made from the table's manifests instead of an S3 listing: no listing of the lake's history.

use std::collections::{BTreeMap, HashMap, HashSet};

use iceberg::spec::{DataFile, Literal, Operation, PrimitiveLiteral};
use iceberg::table::Table;
use iceberg::TableIdent;
use lakeline_core::compaction::plan::{plan, DataFile as PlanFile};
use lakeline_core::compaction::{
    decide, CompactionSettings, Decision, PartitionReport, PartitionStats,
};
use serde::Serialize;

use crate::commit::{
    backoff, build_snapshot, held, json_list, publish_metadata, summary, Held, MAX_ATTEMPTS,
};
use crate::rewrite::{rewrite, without_source, without_upload, Keep};
use crate::{Error, Tables};

/// A live data file of the current snapshot.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// The file as its manifest describes it.
    pub file: DataFile,
    /// Its partition spec.
    pub spec_id: i32,
    /// When the snapshot that added it was committed (Unix seconds; `None` once expired).
    pub added_at: Option<i64>,
}

impl LiveFile {
    /// The partition's `_lakeline_date` (days since 1970-01-01), for a dated table.
    pub fn date(&self) -> Option<i32> {
        match self.file.partition().fields().first() {
            Some(Some(Literal::Primitive(PrimitiveLiteral::Int(d)))) => Some(*d),
            _ => None,
        }
    }

    /// The partition as a path segment: `_lakeline_date=2026-11-25`, or `(unpartitioned)`.
    pub fn partition_label(&self) -> String {
        match self.date() {
            Some(d) => format!(
                "{}={}",
                lakeline_core::table::DATE_COLUMN,
                iceberg::spec::Datum::date(d)
            ),
            None => "(unpartitioned)".into(),
        }
    }
}

/// Every live data file of `table`'s current snapshot, from its manifests.
pub async fn live_files(table: &Table) -> Result<Vec<LiveFile>, Error> {
    let md = table.metadata();
    let Some(snap) = md.current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = table.manifest_list_reader(snap).load().await?;
    let mut out = Vec::new();
    for mf in list.entries() {
        let m = mf.load_manifest(table.file_io()).await?;
        for e in m.entries().iter().filter(|e| e.is_alive()) {
            out.push(LiveFile {
                file: e.data_file().clone(),
                spec_id: mf.partition_spec_id,
                added_at: e
                    .snapshot_id()
                    .and_then(|id| md.snapshot_by_id(id))
                    .map(|s| s.timestamp_ms().div_euclid(1000)),
            });
        }
    }
    Ok(out)
}

/// One partition's compaction plan: the sweep's report (numbers, decision, why) and the groups
/// of files that become one file each.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionPlan {
    /// The report, `partition` as `_lakeline_date=…`.
    #[serde(flatten)]
    pub report: PartitionReport,
    /// The groups: each a list of data file paths, in path order.
    pub groups: Vec<Vec<String>>,
}

/// Plans the compaction of `files` (a table's live data files) under `s` at `now` (Unix
/// seconds), partition by partition, worst first. Only files of the table's default partition
/// spec `spec_id` are grouped: a rewrite writes under the current spec.
pub fn plan_compaction(
    files: &[LiveFile],
    spec_id: i32,
    s: &CompactionSettings,
    now: i64,
) -> Vec<PartitionPlan> {
    let small_below = s.small_below();
    let mut by_partition: BTreeMap<String, Vec<&LiveFile>> = BTreeMap::new();
    for f in files.iter().filter(|f| f.spec_id == spec_id) {
        by_partition.entry(f.partition_label()).or_default().push(f);
    }
    let mut plans: Vec<PartitionPlan> = by_partition
        .into_iter()
        .map(|(label, members)| {
            let mut stats = PartitionStats::default();
            for f in &members {
                let name = f.file.file_path().rsplit('/').next().unwrap_or_default();
                stats.observe(name, f.file.file_size_in_bytes(), f.added_at, small_below);
            }
            let report = decide(&label, &stats, s, now);
            let groups = if report.decision == Decision::Compact {
                let listed: Vec<PlanFile> = members
                    .iter()
                    .map(|f| PlanFile {
                        key: f.file.file_path().to_string(),
                        size: f.file.file_size_in_bytes(),
                        etag: String::new(),
                    })
                    .collect();
                plan(&listed, s)
                    .into_iter()
                    .map(|g| g.inputs.into_iter().map(|f| f.key).collect())
                    .collect()
            } else {
                Vec::new()
            };
            PartitionPlan { report, groups }
        })
        .collect();
    plans.sort_by(|a, b| {
        b.report
            .small_files
            .cmp(&a.report.small_files)
            .then_with(|| a.report.partition.cmp(&b.report.partition))
    });
    plans
}

/// What a compaction did.
#[derive(Debug, Clone, Serialize)]
pub struct Compacted {
    /// `namespace.table`.
    pub table: String,
    /// The plan, per partition.
    pub partitions: Vec<PartitionPlan>,
    /// Whether anything was written (false for a dry run or when nothing was due).
    pub committed: bool,
    /// The `replace` snapshot, when committed.
    pub snapshot_id: Option<i64>,
    /// Data files replaced.
    pub files_in: usize,
    /// Data files written.
    pub files_out: usize,
    /// Rows read (and written: a compaction keeps every row).
    pub rows: u64,
}

/// Compacts `ident` under `s` at `now`: every due partition's groups (only partition `only`'s,
/// a label as [`LiveFile::partition_label`] gives it, when set) rewritten (streamed, one output
/// file per group) and swapped in by one `replace` snapshot. `dry_run` plans only.
pub async fn compact(
    tables: &Tables,
    ident: &TableIdent,
    s: &CompactionSettings,
    now: i64,
    only: Option<&str>,
    dry_run: bool,
    obs: &mut dyn crate::Observer,
) -> Result<Compacted, Error> {
    let table = tables.load_table(ident).await?;
    let md = table.metadata();
    let files: Vec<LiveFile> = live_files(&table)
        .await?
        .into_iter()
        .filter(|f| only.is_none_or(|p| f.partition_label() == p))
        .collect();
    let partitions = plan_compaction(&files, md.default_partition_spec_id(), s, now);
    let mut done = Compacted {
        table: ident.to_string(),
        committed: false,
        snapshot_id: None,
        files_in: 0,
        files_out: 0,
        rows: 0,
        partitions,
    };
    let groups: Vec<&Vec<String>> = done.partitions.iter().flat_map(|p| &p.groups).collect();
    if dry_run || groups.is_empty() {
        return Ok(done);
    }
    let by_path: HashMap<&str, &LiveFile> = files.iter().map(|f| (f.file.file_path(), f)).collect();
    let keep_all = |b: &arrow_array::RecordBatch| {
        Ok(arrow_array::BooleanArray::from(vec![true; b.num_rows()]))
    };
    let mut remove = Vec::new();
    let mut added: Vec<DataFile> = Vec::new();
    obs.phase("merging", groups.len() as u64);
    for group in groups {
        let first = by_path[group[0].as_str()];
        let out = match rewrite(
            &table,
            group,
            first.file.partition(),
            first.spec_id,
            first.date(),
            &keep_all,
            s.target_file_size.bytes(),
        )
        .await
        {
            Ok(out) => out,
            Err(e) => {
                discard_files(tables, &table, &added).await;
                return Err(e);
            }
        };
        let rows_in: u64 = group
            .iter()
            .map(|p| by_path[p.as_str()].file.record_count())
            .sum();
        if out.rows_out() != rows_in {
            discard_files(tables, &table, &added).await;
            discard_files(tables, &table, &out.files).await;
            return Err(Error::Catalog(format!(
                "compacting {group:?}: the manifests count {rows_in} rows, the rewrite read {}: nothing was committed",
                out.rows_out()
            )));
        }
        obs.step(&format!(
            "{} file(s) of {} -> {} file(s), {rows_in} rows",
            group.len(),
            first.partition_label(),
            out.files.len()
        ));
        done.rows += rows_in;
        remove.extend(group.iter().cloned());
        added.extend(out.files);
    }
    done.files_in = remove.len();
    done.files_out = added.len();
    let props = HashMap::from([
        (summary::REWRITE.to_string(), "compact".to_string()),
        (summary::ENGINE.to_string(), "lakeline".to_string()),
    ]);
    done.snapshot_id =
        Some(commit_rewrite(tables, table, remove, added, Operation::Replace, props).await?);
    done.committed = true;
    Ok(done)
}

/// What an undo did.
#[derive(Debug, Clone, Serialize)]
pub struct Undone {
    /// `namespace.table`.
    pub table: String,
    /// The raw key.
    pub source: String,
    /// Files that held only its rows: removed.
    pub removed_files: Vec<String>,
    /// Files that held its rows among others': rewritten without them.
    pub rewritten_files: Vec<String>,
    /// Its rows taken out.
    pub rows: u64,
    /// Whether a snapshot was committed (false for a dry run, or a key the table does not
    /// hold).
    pub committed: bool,
    /// The snapshot, when committed.
    pub snapshot_id: Option<i64>,
}

/// Takes every row of raw key `source` (partition `date`, for a dated table) out of `ident`
/// in one snapshot: its own files removed, the files it shares with other keys rewritten
/// without its rows (copy on write). With `upload`, only the rows of that upload of the key
/// (its version, under any reprocess pass): a newer upload's rows stay, and the snapshot says
/// `withdraw` (what `lakeline reprocess` does to a file that now fails) instead of `undo`.
/// `dry_run` says what it would do.
pub async fn undo(
    tables: &Tables,
    ident: &TableIdent,
    source: &str,
    date: Option<i32>,
    upload: Option<&str>,
    dry_run: bool,
) -> Result<Undone, Error> {
    let table = tables.load_table(ident).await?;
    let of_upload = |v: &str| upload.is_none_or(|u| lakeline_core::table::upload_version(v) == u);
    // (file, rows of the upload in it, removed whole).
    let mut found: Vec<(Held, u64, bool)> = Vec::new();
    for mut h in held(&table, source, date).await? {
        if upload.is_some() && h.mixed.is_none() && h.version.is_none() {
            // The key's rows at several versions in one file: its lineage says how many are
            // the upload's (the file is then rewritten without them, like a shared one).
            let mut counts =
                crate::rewrite::source_rows(&table, std::slice::from_ref(&h.path), source, date)
                    .await?;
            h.mixed = Some(counts.remove(&h.path).unwrap_or_default());
        }
        let entry = match (&h.mixed, h.version.as_deref()) {
            (Some(by_version), _) => {
                let rows: u64 = by_version
                    .iter()
                    .filter(|(v, _)| of_upload(v))
                    .map(|(_, n)| n)
                    .sum();
                (rows > 0).then_some((rows, false))
            }
            (None, Some(v)) => of_upload(v).then_some((h.rows, true)),
            // A file of the key alone at several versions, all of which go.
            (None, None) => Some((h.rows, true)),
        };
        if let Some((rows, whole)) = entry {
            found.push((h, rows, whole));
        }
    }
    let mut done = Undone {
        table: ident.to_string(),
        source: source.to_string(),
        removed_files: found
            .iter()
            .filter(|f| f.2)
            .map(|f| f.0.path.clone())
            .collect(),
        rewritten_files: found
            .iter()
            .filter(|f| !f.2)
            .map(|f| f.0.path.clone())
            .collect(),
        rows: found.iter().map(|f| f.1).sum(),
        committed: false,
        snapshot_id: None,
    };
    if dry_run || found.is_empty() {
        return Ok(done);
    }
    let all_of_source = without_source(source);
    let of_one_upload = upload.map(|u| without_upload(source, u));
    let keep: Keep<'_> = match &of_one_upload {
        Some(k) => k,
        None => &all_of_source,
    };
    let mut added = Vec::new();
    for (h, _, _) in found.iter().filter(|f| !f.2) {
        match rewrite(
            &table,
            std::slice::from_ref(&h.path),
            &h.partition,
            h.spec_id,
            date,
            keep,
            u64::MAX,
        )
        .await
        {
            Ok(out) => added.extend(out.files),
            Err(e) => {
                discard_files(tables, &table, &added).await;
                return Err(e);
            }
        }
    }
    let remove = found.iter().map(|f| f.0.path.clone()).collect();
    let operation = if added.is_empty() {
        Operation::Delete
    } else {
        Operation::Overwrite
    };
    let props = HashMap::from([
        // `withdraw`: one upload's rows, taken out by `lakeline reprocess` (docs/tables.md).
        (
            summary::REWRITE.to_string(),
            if upload.is_some() { "withdraw" } else { "undo" }.to_string(),
        ),
        (summary::REMOVED_SOURCES.to_string(), json_list(&[source])),
        (summary::ENGINE.to_string(), "lakeline".to_string()),
    ]);
    done.snapshot_id = Some(commit_rewrite(tables, table, remove, added, operation, props).await?);
    done.committed = true;
    Ok(done)
}

async fn discard_files(tables: &Tables, table: &Table, files: &[DataFile]) {
    let paths: Vec<String> = files.iter().map(|f| f.file_path().to_string()).collect();
    tables.discard(table, &paths).await;
}

/// Publishes a rewrite planned on `base`: `remove` (live data files of `base`) swapped for
/// `added` (written, not yet in the table) in one snapshot of `operation`. A lost race is
/// built again on the new version as long as every input is still live there (other writers'
/// new files are carried over, never dropped); when another commit removed an input (a new
/// version of its key, another rewrite), the rewrite is stale: its files are deleted and
/// nothing is committed ([`Error::Changed`]). The snapshot id on success.
pub async fn commit_rewrite(
    tables: &Tables,
    base: Table,
    remove: Vec<String>,
    added: Vec<DataFile>,
    operation: Operation,
    props: HashMap<String, String>,
) -> Result<i64, Error> {
    let ident = base.identifier().clone();
    let _turn = tables.committer(&ident).await?;
    let remove: HashSet<String> = remove.into_iter().collect();
    let mut base = base;
    for attempt in 1..=MAX_ATTEMPTS {
        let live: HashSet<String> = live_files(&base)
            .await?
            .into_iter()
            .map(|f| f.file.file_path().to_string())
            .collect();
        if let Some(gone) = remove.iter().find(|p| !live.contains(*p)) {
            discard_files(tables, &base, &added).await;
            return Err(Error::Changed(format!(
                "table {ident}: {gone} was replaced by another commit while this rewrite ran; nothing was committed, run it again"
            )));
        }
        let built = build_snapshot(
            &base,
            &remove,
            added.clone(),
            props.clone(),
            operation.clone(),
        )
        .await?;
        if tables
            .swap(
                &ident,
                &built.base_location,
                &built.location,
                &built.metadata,
            )
            .await?
        {
            return Ok(built.snapshot_id);
        }
        built.discard(tables, &base).await;
        tracing::info!(table = %ident, attempt, "rewrite lost a race; building it again on the new table version");
        backoff(attempt).await;
        base = tables.load_table(&ident).await?;
    }
    discard_files(tables, &base, &added).await;
    Err(Error::Conflict {
        table: ident.to_string(),
        attempts: MAX_ATTEMPTS,
    })
}

/// One snapshot a rollback takes out of the table's current state.
#[derive(Debug, Clone, Serialize)]
pub struct Dropped {
    /// The snapshot.
    pub snapshot_id: i64,
    /// Its operation.
    pub operation: String,
    /// The deliveries it added (raw keys), for a delivery's snapshot.
    pub sources: Vec<String>,
    /// What a rewrite did (`compact`, `undo`, `erase`): rolling back an erase brings the
    /// erased rows back.
    pub rewrite: Option<String>,
}

/// What a rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    /// `namespace.table`.
    pub table: String,
    /// The snapshot the table was at.
    pub from: Option<i64>,
    /// The snapshot it is at now (or would be, for a dry run).
    pub to: i64,
    /// The snapshots after `to`, newest first: their deliveries leave the table, their
    /// rewrites are undone.
    pub dropped: Vec<Dropped>,
    /// Whether the table was changed.
    pub committed: bool,
}

/// Points `ident`'s main branch back at snapshot `to`, an ancestor of its current snapshot,
/// by compare-and-swap like every commit. Every snapshot after it is listed (its deliveries
/// leave the table; an erase after it is undone, so its rows come back). The snapshots stay
/// in the metadata for time travel until expiry. `dry_run` lists only.
pub async fn rollback(
    tables: &Tables,
    ident: &TableIdent,
    to: i64,
    dry_run: bool,
) -> Result<RolledBack, Error> {
    let _turn = tables.committer(ident).await?;
    for attempt in 1..=MAX_ATTEMPTS {
        let table = tables.load_table(ident).await?;
        let md = table.metadata();
        let from = md.current_snapshot().map(|s| s.snapshot_id());
        // The lineage from the current snapshot back to `to`.
        let mut dropped = Vec::new();
        let mut at = md.current_snapshot().cloned();
        let mut found = false;
        while let Some(s) = at {
            if s.snapshot_id() == to {
                found = true;
                break;
            }
            let props = &s.summary().additional_properties;
            dropped.push(Dropped {
                snapshot_id: s.snapshot_id(),
                operation: s.summary().operation.as_str().to_string(),
                sources: props
                    .get(summary::SOURCES)
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or_default(),
                rewrite: props.get(summary::REWRITE).cloned(),
            });
            at = s
                .parent_snapshot_id()
                .and_then(|p| md.snapshot_by_id(p).cloned());
        }
        if !found {
            return Err(Error::Unsupported(format!(
                "table {ident}: snapshot {to} is not an ancestor of the current snapshot ({}): nothing was changed (`lakeline table history` lists them)",
                from.map_or("none".into(), |f| f.to_string())
            )));
        }
        let mut done = RolledBack {
            table: ident.to_string(),
            from,
            to,
            dropped,
            committed: false,
        };
        if dry_run || done.dropped.is_empty() {
            return Ok(done);
        }
        let base = table.metadata_location_result()?.to_string();
        let new_md = md
            .clone()
            .into_builder(Some(base.clone()))
            .set_ref(
                iceberg::spec::MAIN_BRANCH,
                iceberg::spec::SnapshotReference::new(
                    to,
                    iceberg::spec::SnapshotRetention::branch(None, None, None),
                ),
            )?
            .build()?
            .metadata;
        if publish_metadata(tables, &table, &base, &new_md).await? {
            done.committed = true;
            return Ok(done);
        }
        backoff(attempt).await;
    }
    Err(Error::Conflict {
        table: ident.to_string(),
        attempts: MAX_ATTEMPTS,
    })
}

/// What an expiry did.
#[derive(Debug, Clone, Serialize)]
pub struct Expired {
    /// `namespace.table`.
    pub table: String,
    /// The snapshots removed from the metadata.
    pub snapshots: Vec<i64>,
    /// Files only those snapshots referenced (manifest lists, manifests, data files): deleted
    /// after the commit (listed only, for a dry run).
    pub files: Vec<String>,
    /// Whether the table was changed.
    pub committed: bool,
}

/// The snapshots the table's references (branches, tags, whoever made them) point at. The
/// crate has no accessor for the references: they are read from the metadata as the spec
/// writes it (`refs`).
fn referenced(md: &iceberg::spec::TableMetadata) -> Result<HashSet<i64>, Error> {
    let v = serde_json::to_value(md)
        .map_err(|e| Error::Catalog(format!("reading the table's references: {e}")))?;
    let mut out: HashSet<i64> = md.current_snapshot_id().into_iter().collect();
    if let Some(refs) = v.get("refs").and_then(|r| r.as_object()) {
        out.extend(
            refs.values()
                .filter_map(|r| r.get("snapshot-id").and_then(serde_json::Value::as_i64)),
        );
    }
    Ok(out)
}

/// The live data files of each manifest already read: snapshots share most of their
/// manifests, and a manifest's entries never change, so each is read once however many
/// snapshots list it.
type ManifestCache = HashMap<String, Vec<String>>;

/// Every file `snap` references: its manifest list, its manifests, and their live data files.
async fn files_of(
    table: &Table,
    snap: &iceberg::spec::SnapshotRef,
    cache: &mut ManifestCache,
    out: &mut HashSet<String>,
) -> Result<(), Error> {
    out.insert(snap.manifest_list().to_string());
    let list = table.manifest_list_reader(snap).load().await?;
    for mf in list.entries() {
        out.insert(mf.manifest_path.clone());
        if !cache.contains_key(&mf.manifest_path) {
            let m = mf.load_manifest(table.file_io()).await?;
            let data = m
                .entries()
                .iter()
                .filter(|e| e.is_alive())
                .map(|e| e.data_file().file_path().to_string())
                .collect();
            cache.insert(mf.manifest_path.clone(), data);
        }
        out.extend(cache[&mf.manifest_path].iter().cloned());
    }
    Ok(())
}

/// Expires the snapshots of `ident` committed before `older_than_ms` (Unix milliseconds),
/// keeping at least the newest `keep` snapshots of the current lineage (the current one always)
/// and every snapshot a reference points at, in one metadata commit; then deletes the files that only the expired
/// snapshots referenced. A file any kept snapshot references is never deleted: commits that
/// race the expiry build on the current snapshot, which is always kept, and files are
/// deleted only after the commit. For S3 Tables, AWS expires snapshots and removes
/// unreferenced files itself: refused here.
pub async fn expire(
    tables: &Tables,
    ident: &TableIdent,
    older_than_ms: i64,
    keep: usize,
    dry_run: bool,
) -> Result<Expired, Error> {
    if !tables.deletes_orphans() {
        return Err(Error::Unsupported(format!(
            "{}: S3 Tables expires snapshots and removes unreferenced files itself (the table bucket's maintenance settings); nothing was changed",
            tables.label()
        )));
    }
    let _turn = tables.committer(ident).await?;
    for attempt in 1..=MAX_ATTEMPTS {
        let table = tables.load_table(ident).await?;
        let md = table.metadata();
        // Kept: the newest `keep` of the current lineage (the current snapshot always), and
        // whatever a reference points at.
        let mut kept = referenced(md)?;
        let mut at = md.current_snapshot().cloned();
        let mut n = 0;
        while let Some(s) = at {
            if n >= keep.max(1) {
                break;
            }
            kept.insert(s.snapshot_id());
            n += 1;
            at = s
                .parent_snapshot_id()
                .and_then(|p| md.snapshot_by_id(p).cloned());
        }
        let mut expired: Vec<i64> = md
            .snapshots()
            .filter(|s| s.timestamp_ms() < older_than_ms && !kept.contains(&s.snapshot_id()))
            .map(|s| s.snapshot_id())
            .collect();
        expired.sort();
        let mut done = Expired {
            table: ident.to_string(),
            snapshots: expired.clone(),
            files: Vec::new(),
            committed: false,
        };
        if expired.is_empty() {
            return Ok(done);
        }
        let mut kept_files = HashSet::new();
        let mut gone_files = HashSet::new();
        let mut cache = ManifestCache::new();
        for s in md.snapshots() {
            if expired.contains(&s.snapshot_id()) {
                files_of(&table, s, &mut cache, &mut gone_files).await?;
            } else {
                files_of(&table, s, &mut cache, &mut kept_files).await?;
            }
        }
        let mut files: Vec<String> = gone_files.difference(&kept_files).cloned().collect();
        files.sort();
        done.files = files;
        if dry_run {
            return Ok(done);
        }
        let base = table.metadata_location_result()?.to_string();
        let new_md = md
            .clone()
            .into_builder(Some(base.clone()))
            .remove_snapshots(&expired)
            .build()?
            .metadata;
        if publish_metadata(tables, &table, &base, &new_md).await? {
            tables.discard(&table, &done.files).await;
            done.committed = true;
            return Ok(done);
        }
        backoff(attempt).await;
    }
    Err(Error::Conflict {
        table: ident.to_string(),
        attempts: MAX_ATTEMPTS,
    })
}

/// What an orphan removal found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Orphans {
    /// `namespace.table`.
    pub table: String,
    /// Files under the table's location listed.
    pub listed: usize,
    /// Files no snapshot and no metadata file references, older than the retention: deleted
    /// (listed only, for a dry run).
    pub files: Vec<String>,
    /// Unreferenced files younger than the retention: kept (a commit may still be writing
    /// them).
    pub young: usize,
    /// Whether anything was deleted.
    pub deleted: bool,
}

/// Every file the table's metadata reaches: the current and logged metadata files, and every
/// snapshot's manifest list, manifests and live data files.
pub async fn referenced_files(table: &Table) -> Result<HashSet<String>, Error> {
    let md = table.metadata();
    let mut out: HashSet<String> = md
        .metadata_log()
        .iter()
        .map(|m| m.metadata_file.clone())
        .collect();
    if let Some(loc) = table.metadata_location() {
        out.insert(loc.to_string());
    }
    let mut cache = ManifestCache::new();
    for s in md.snapshots() {
        files_of(table, s, &mut cache, &mut out).await?;
    }
    Ok(out)
}

/// Removes the orphan files of `ident`: of `listed` (every file under the table's location,
/// with its last-modified time in Unix milliseconds, from the target's own listing), those
/// the metadata does not reach ([`referenced_files`]) and that are older than
/// `older_than_ms`. The retention is what keeps a commit in flight safe: its files are not
/// referenced until it publishes, so it must be far longer than any commit (the default,
/// three days, is far longer than the pipeline's longest run). For S3 Tables, unreferenced
/// file removal does this itself: refused here.
pub async fn remove_orphans(
    tables: &Tables,
    ident: &TableIdent,
    listed: Vec<(String, i64)>,
    older_than_ms: i64,
    dry_run: bool,
) -> Result<Orphans, Error> {
    if !tables.deletes_orphans() {
        return Err(Error::Unsupported(format!(
            "{}: S3 Tables removes unreferenced files itself (the table bucket's unreferenced file removal); nothing was changed",
            tables.label()
        )));
    }
    let table = tables.load_table(ident).await?;
    let referenced = referenced_files(&table).await?;
    let mut done = Orphans {
        table: ident.to_string(),
        listed: listed.len(),
        files: Vec::new(),
        young: 0,
        deleted: false,
    };
    for (path, modified) in listed {
        if referenced.contains(&path) {
            continue;
        }
        if modified < older_than_ms {
            done.files.push(path);
        } else {
            done.young += 1;
        }
    }
    done.files.sort();
    if !dry_run && !done.files.is_empty() {
        tables.discard(&table, &done.files).await;
        done.deleted = true;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{DataContentType, DataFileBuilder, DataFileFormat, Struct};

    fn live(path: &str, size: u64, date: Option<i32>, added_at: i64) -> LiveFile {
        LiveFile {
            file: DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(path.to_string())
                .file_format(DataFileFormat::Parquet)
                .partition(match date {
                    Some(d) => Struct::from_iter([Some(Literal::date(d))]),
                    None => Struct::empty(),
                })
                .record_count(10)
                .file_size_in_bytes(size)
                .build()
                .unwrap(),
            spec_id: 0,
            added_at: Some(added_at),
        }
    }

    /// The table plan is the sweep's rule over the manifests: per partition, closed partitions
    /// with enough small files are grouped; open or few-file partitions say why not.
    #[test]
    fn plans_follow_the_sweeps_rule_per_partition() {
        const MIB: u64 = 1 << 20;
        let day = 20_000; // 2024-10-04
        let now = i64::from(day + 3) * 86_400;
        let old = now - 7200;
        let mut files: Vec<LiveFile> = (0..6)
            .map(|i| live(&format!("s3://t/data/a{i}.parquet"), MIB, Some(day), old))
            .collect();
        files.push(live("s3://t/data/big.parquet", 200 * MIB, Some(day), old));
        // Yesterday's partition of three small files: too few.
        files.extend((0..3).map(|i| {
            live(
                &format!("s3://t/data/b{i}.parquet"),
                MIB,
                Some(day + 1),
                old,
            )
        }));
        // Today's: still open.
        files.extend((0..6).map(|i| {
            live(
                &format!("s3://t/data/c{i}.parquet"),
                MIB,
                Some(day + 3),
                old,
            )
        }));
        // Files of another partition spec are never grouped.
        let mut other = live("s3://t/data/x.parquet", MIB, Some(day), old);
        other.spec_id = 1;
        files.push(other);
        let plans = plan_compaction(&files, 0, &CompactionSettings::default(), now);
        let by: HashMap<&str, &PartitionPlan> = plans
            .iter()
            .map(|p| (p.report.partition.as_str(), p))
            .collect();
        let due = by["_lakeline_date=2024-10-04"];
        assert_eq!(due.report.decision, Decision::Compact);
        assert_eq!(due.report.files, 7);
        assert_eq!(
            due.groups,
            vec![(0..6)
                .map(|i| format!("s3://t/data/a{i}.parquet"))
                .collect::<Vec<_>>()]
        );
        let few = by["_lakeline_date=2024-10-05"];
        assert_eq!(few.report.reason_code.as_str(), "few_small_files");
        assert!(few.groups.is_empty());
        let open = by["_lakeline_date=2024-10-07"];
        assert_eq!(open.report.reason_code.as_str(), "open");
        assert!(open.groups.is_empty());
        assert_eq!(plans.len(), 3);
    }
}
