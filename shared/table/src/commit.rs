//! The delivery commit: each delivery (one raw key at one version) lands in its table exactly
//! once, in one snapshot, and a new version of a key replaces the old one's rows in the same
//! snapshot that adds its own.
//!
//! "Already committed" is decided from the *current* table, not from snapshot history: the
//! live data files whose `_lakeline_source` bounds are exactly the key, and whose
//! `_lakeline_version` bounds are exactly the version. So the answer survives snapshot expiry,
//! and a retried, redriven or duplicated execution finds its own rows and adds nothing.
//!
//! The decision and the snapshot are made on one version of the table and published by a
//! compare-and-swap against exactly that version ([`Tables::swap`]). A commit that loses the
//! race deletes what it wrote for that attempt and decides again on the new version: another
//! writer's files are never dropped, and a delivery committed meanwhile by a duplicate is
//! found and not added twice.
//!
//! A snapshot that replaces rows of the key at another version first asks the delivery's
//! [`Guard`] whether its upload is still the key's current object. A newer upload's commit
//! changes the table, so a commit that asked and then loses the race asks again: an older
//! upload whose commit comes late never replaces a newer one's rows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use iceberg::spec::{
    DataFile, Datum, ManifestFile, ManifestListWriter, ManifestWriterBuilder, Operation,
    PrimitiveLiteral, Snapshot, SnapshotSummaryCollector, Struct, Summary, TableMetadata,
    Transform, MAIN_BRANCH,
};
use iceberg::table::Table;
use iceberg::{MetadataLocation, TableIdent};
use lakeline_core::table::{covers, DATE_COLUMN, SOURCE_COLUMN, VERSION_COLUMN};
use serde::Serialize;

use crate::{Error, Tables};

/// Commit attempts before giving up ([`Error::Conflict`]): each lost race means another
/// writer committed, so the table moved on and this one is decided again.
pub const MAX_ATTEMPTS: u32 = 20;

/// Snapshot summary keys lakeline writes (Iceberg keeps unknown summary keys as they are).
pub mod summary {
    /// The raw keys the snapshot's added rows came from, a JSON array.
    pub const SOURCES: &str = "lakeline.sources";
    /// Their versions, a JSON array in the same order.
    pub const VERSIONS: &str = "lakeline.versions";
    /// The execution (or command) that committed.
    pub const EXECUTION: &str = "lakeline.execution";
    /// The executions whose deliveries the snapshot added, a JSON array in the order of
    /// [`SOURCES`] (a group commit takes in other writers' deliveries: [`crate::group`]).
    pub const EXECUTIONS: &str = "lakeline.executions";
    /// The engine that wrote the data files (`lambda`, `glue`, `emr-serverless`, `cli`).
    pub const ENGINE: &str = "lakeline.engine";
    /// What a rewrite snapshot did (`compact`, `undo`, `erase`, `withdraw`: one upload's rows taken
    /// out by `lakeline reprocess`).
    pub const REWRITE: &str = "lakeline.rewrite";
    /// The raw keys whose rows a rewrite removed (undo), a JSON array.
    pub const REMOVED_SOURCES: &str = "lakeline.removed-sources";
    /// The Spark rewrite plan a `replace` snapshot committed: a retried commit finds it.
    pub const PLAN: &str = "lakeline.plan";
}

/// Whether a delivery's upload is still its key's current object, asked by a commit before it
/// replaces rows of the key at another version (curate: a HEAD of the key).
pub trait Guard: Send + Sync {
    /// `Ok(false)`: a newer upload replaced it, so it must not replace anything.
    fn still_current(&self) -> futures_util::future::BoxFuture<'_, Result<bool, Error>>;
}

/// The guard of a delivery that has no newer upload to lose to (a local file, a command run
/// on purpose): every replacement goes ahead.
pub struct Unguarded;

impl Guard for Unguarded {
    fn still_current(&self) -> futures_util::future::BoxFuture<'_, Result<bool, Error>> {
        Box::pin(async { Ok(true) })
    }
}

/// One delivery: a raw key at one version, and who commits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Delivery {
    /// The raw key.
    pub source: String,
    /// The upload's version (S3 version id, else ETag; locally the content's SHA-256).
    pub version: String,
    /// The execution (or command) committing it, recorded in the snapshot.
    pub execution: Option<String>,
    /// The engine that wrote its data files.
    pub engine: String,
    /// The key's `{date}` (days since 1970-01-01), its partition in a dated table: manifests
    /// whose partitions exclude it are not read when looking for the key's files.
    pub date: Option<i32>,
}

/// The table property (Iceberg's own) above which many manifests the next commit merges the
/// carried-over ones into one, so a table that grows one append at a time keeps a bounded
/// manifest list; [`MERGE_MANIFESTS_ABOVE`] when unset.
pub const MERGE_PROPERTY: &str = "commit.manifest.min-count-to-merge";
/// Iceberg's default of [`MERGE_PROPERTY`].
pub const MERGE_MANIFESTS_ABOVE: usize = 100;

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A new snapshot holds the delivery.
    Committed {
        /// The new snapshot.
        snapshot_id: i64,
        /// `append`, or `overwrite` when an older version's rows were replaced.
        operation: String,
        /// Data files added.
        added_files: usize,
        /// Rows added.
        added_rows: u64,
        /// Data files of an older version of the key that the snapshot removed.
        removed_files: usize,
        /// Their rows.
        removed_rows: u64,
        /// Attempts it took (more than one when other writers committed meanwhile).
        attempts: u32,
        /// Other writers' pending deliveries the snapshot took in with this one
        /// ([`crate::group`]).
        with_others: usize,
    },
    /// Another writer's commit took the delivery's own files in with its own (group commit,
    /// [`crate::group`]): they are in the table.
    CommittedInGroup {
        /// The snapshot that added them.
        snapshot_id: i64,
        /// Data files of the delivery.
        files: usize,
        /// Attempts this writer made.
        attempts: u32,
    },
    /// The current table already holds the delivery's rows at its version: nothing was added.
    AlreadyCommitted {
        /// The current snapshot.
        snapshot_id: i64,
        /// Its data files that hold the delivery.
        files: usize,
    },
    /// The table holds the key at another version and a newer upload replaced the delivery's
    /// ([`Guard`]): nothing was added, the newer upload's own commit decides.
    Superseded {
        /// The current snapshot.
        snapshot_id: i64,
    },
}

/// A live data file that holds rows of the delivery's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Its path.
    pub path: String,
    /// Rows in it.
    pub rows: u64,
    /// Whether every row in it is of the key (its source bounds are exactly the key).
    pub only_this_source: bool,
    /// The version of its rows, when they are of one version (its version bounds are equal).
    pub version: Option<String>,
    /// For a file that also holds other keys' rows (a compacted file): the key's rows in it,
    /// by version, read from the file's lineage columns.
    pub mixed: Option<BTreeMap<String, u64>>,
    /// Its partition and partition spec (a rewrite's output keeps them).
    pub partition: Struct,
    /// Its partition spec.
    pub spec_id: i32,
    /// The snapshot that added it.
    pub added_by: Option<i64>,
}

impl Held {
    /// The versions of the key's rows in this file (`None`: unknown, several in one file).
    fn versions(&self) -> Option<Vec<&str>> {
        match &self.mixed {
            Some(by_version) => Some(by_version.keys().map(String::as_str).collect()),
            None => self.version.as_deref().map(|v| vec![v]),
        }
    }

    /// Rows of the key in it.
    pub fn rows_of_key(&self) -> u64 {
        match &self.mixed {
            Some(by_version) => by_version.values().sum(),
            None => self.rows,
        }
    }
}

/// What to do with a delivery, given the files of its key in the current table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Its rows, at its version, are in the table.
    Already,
    /// Add its files, removing these (an older version's) in the same snapshot.
    Write {
        /// Paths of the files to remove: all their rows are the key's.
        remove: Vec<String>,
        /// Paths of files that hold the key's rows among other keys' rows: rewritten without
        /// the key's rows in the same snapshot.
        rewrite: Vec<String>,
    },
}

/// Decides a delivery from the files that hold rows of its key ([`held`]): already committed
/// when every one of them holds the key's rows at the delivery's version only (or, for an
/// upload's own delivery, at a reprocess pass of that upload: [`covers`]); otherwise
/// written, the files of the key alone removed and the files shared with other keys (compacted
/// files) rewritten without the key's rows, in the snapshot that adds the delivery.
pub fn decide(held: &[Held], d: &Delivery) -> Result<Decision, Error> {
    if let Some(h) = held
        .iter()
        .find(|h| !h.only_this_source && h.mixed.is_none())
    {
        return Err(Error::Catalog(format!(
            "{} may hold rows of {} among other keys' rows, and was not read to tell: nothing was committed",
            h.path, d.source
        )));
    }
    let held: Vec<&Held> = held.iter().filter(|h| h.rows_of_key() > 0).collect();
    if !held.is_empty()
        && held.iter().all(|h| {
            h.versions()
                .is_some_and(|v| v.len() == 1 && covers(v[0], &d.version))
        })
    {
        return Ok(Decision::Already);
    }
    let (whole, shared): (Vec<&&Held>, Vec<&&Held>) = held.iter().partition(|h| h.mixed.is_none());
    Ok(Decision::Write {
        remove: whole.iter().map(|h| h.path.clone()).collect(),
        rewrite: shared.iter().map(|h| h.path.clone()).collect(),
    })
}

/// [`Outcome::AlreadyCommitted`] when `table`, as it is, already holds delivery `d`: the check
/// every writer makes before it curates, copies or writes anything, so a retry costs no work
/// and leaves no data file behind (a table bucket refuses the delete that would take it away
/// again). The commit decides again on the table it commits to.
pub async fn already_committed(table: &Table, d: &Delivery) -> Result<Option<Outcome>, Error> {
    let found = held(table, &d.source, d.date).await?;
    Ok(
        (decide(&found, d)? == Decision::Already).then(|| Outcome::AlreadyCommitted {
            snapshot_id: table
                .metadata()
                .current_snapshot()
                .map_or(-1, |s| s.snapshot_id()),
            files: found.len(),
        }),
    )
}

pub(crate) fn text(d: &Datum) -> Option<&str> {
    match d.literal() {
        PrimitiveLiteral::String(s) => Some(s),
        _ => None,
    }
}

/// Whether a manifest may hold files of partition date `date`, from its partition summary
/// (identity on `_lakeline_date`, the spec's first field): only a summary that excludes the
/// date rules the manifest out.
fn may_hold_date(table: &Table, mf: &ManifestFile, date: Option<i32>) -> bool {
    let Some(date) = date else { return true };
    let md = table.metadata();
    let Some(date_id) = md.current_schema().field_by_name(DATE_COLUMN).map(|f| f.id) else {
        return true;
    };
    let Some(spec) = md.partition_spec_by_id(mf.partition_spec_id) else {
        return true;
    };
    let first_is_date = spec
        .fields()
        .first()
        .is_some_and(|f| f.source_id == date_id && f.transform == Transform::Identity);
    let bound = |b: &Option<serde_bytes::ByteBuf>| {
        b.as_ref()
            .and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
            .map(i32::from_le_bytes)
    };
    match mf.partitions.as_deref().and_then(|p| p.first()) {
        Some(sum) if first_is_date => match (bound(&sum.lower_bound), bound(&sum.upper_bound)) {
            (Some(lo), Some(hi)) => lo <= date && date <= hi,
            _ => true,
        },
        _ => true,
    }
}

/// The field ids of `table`'s `_lakeline_source` and `_lakeline_version` columns; an error when
/// it has none (not a lakeline table).
pub(crate) fn lineage_ids(table: &Table) -> Result<(i32, i32), Error> {
    let schema = table.metadata().current_schema();
    match (
        schema.field_by_name(SOURCE_COLUMN).map(|f| f.id),
        schema.field_by_name(VERSION_COLUMN).map(|f| f.id),
    ) {
        (Some(src), Some(ver)) => Ok((src, ver)),
        _ => Err(Error::Schema(format!(
            "table {} has no {SOURCE_COLUMN}/{VERSION_COLUMN} columns: it is not a lakeline table",
            table.identifier()
        ))),
    }
}

/// The live data files of `table` that may hold rows of `source` (of partition `date`), from
/// the manifests alone: a file whose source bounds include the key (or that has none, so it
/// cannot be ruled out).
pub async fn held(table: &Table, source: &str, date: Option<i32>) -> Result<Vec<Held>, Error> {
    let md = table.metadata();
    let Some(snap) = md.current_snapshot() else {
        return Ok(Vec::new());
    };
    let (src_id, ver_id) = lineage_ids(table)?;
    let list = table.manifest_list_reader(snap).load().await?;
    let mut out = Vec::new();
    for mf in list.entries() {
        if !may_hold_date(table, mf, date) {
            continue;
        }
        let m = mf.load_manifest(table.file_io()).await?;
        for e in m.entries().iter().filter(|e| e.is_alive()) {
            let df = e.data_file();
            let lo = df.lower_bounds().get(&src_id).and_then(text);
            let hi = df.upper_bounds().get(&src_id).and_then(text);
            let may_hold = match (lo, hi) {
                (Some(lo), Some(hi)) => lo <= source && source <= hi,
                _ => true,
            };
            if !may_hold {
                continue;
            }
            let version = match (
                df.lower_bounds().get(&ver_id).and_then(text),
                df.upper_bounds().get(&ver_id).and_then(text),
            ) {
                (Some(a), Some(b)) if a == b => Some(a.to_string()),
                _ => None,
            };
            out.push(Held {
                path: df.file_path().to_string(),
                rows: df.record_count(),
                only_this_source: lo == Some(source) && hi == Some(source),
                version,
                mixed: None,
                partition: df.partition().clone(),
                spec_id: mf.partition_spec_id,
                added_by: e.snapshot_id(),
            });
        }
    }
    // A file whose bounds span other keys too may or may not hold this one: its lineage
    // columns say (two dictionary-encoded columns read, not the file).
    let shared: Vec<String> = out
        .iter()
        .filter(|h| !h.only_this_source)
        .map(|h| h.path.clone())
        .collect();
    if !shared.is_empty() {
        let mut found = crate::rewrite::source_rows(table, &shared, source, date).await?;
        for h in out.iter_mut().filter(|h| !h.only_this_source) {
            h.mixed = Some(found.remove(&h.path).unwrap_or_default());
        }
        out.retain(|h| h.rows_of_key() > 0);
    }
    Ok(out)
}

/// Commits `files` (the delivery's data files, already written into the table's location) as
/// `d`, exactly once.
///
/// Where the tables have a board ([`Tables::board`]: S3 Tables, Glue), every attempt takes the
/// board's pending deliveries in with its own ([`crate::group`]), and a lost race posts this
/// delivery there, so the next commit of any writer takes it in: a burst of writers commits
/// in a few snapshots instead of losing race after race.
///
/// Files that are not in the table at the end (a duplicate committed the delivery first, a
/// newer upload superseded it, an error) are deleted where the target lets lakeline delete
/// ([`Tables::discard`]), unless they were posted: another commit may have read the entry and
/// be about to publish them, so they are left to orphan-file removal.
pub async fn commit_delivery(
    tables: &Tables,
    ident: &TableIdent,
    d: &Delivery,
    guard: &dyn Guard,
    files: Vec<DataFile>,
) -> Result<Outcome, Error> {
    let _turn = tables.committer(ident).await?;
    let board = tables.board();
    // This delivery's entry on the board, once posted (it lost a race, or waits for a leader).
    let mut own_entry: Option<String> = None;
    // Since when this writer leaves the building to another's (the window runs from there,
    // whether or not posting worked), and the table version it last decided to wait on.
    let mut waiting_since: Option<std::time::Instant> = None;
    let mut waited_on: Option<i64> = None;
    let mut last_base = None;
    let mut attempts = 0;
    let result = loop {
        let base = match tables.load_table(ident).await {
            Ok(b) => b,
            Err(e) => break Err(e),
        };
        // The board's listing: who leads the window. Its entries are read only by a writer that
        // builds a snapshot; one waiting for the leader polls the listing alone.
        let listed = match board {
            Some(b) => match b.list(ident, crate::group::GROUP_MAX * 2).await {
                Ok(ids) => ids,
                // The board only speeds a burst up: without it, this commit goes alone.
                Err(e) => {
                    tracing::warn!(table = %ident, error = %e, "could not list the pending deliveries; committing alone");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        // A burst is under way (another writer's delivery waits on the board): a plain append
        // leaves the building to the writer of the oldest entry for a while, posting itself for
        // it to take in, instead of racing it: one committer per table and window. After the
        // window (a leader slow, or gone) it commits itself.
        let defer = crate::group::defers(
            &listed,
            own_entry.as_deref(),
            waiting_since.map(|t| t.elapsed()),
            now_ms(),
        );
        let version = base.metadata().current_snapshot().map(|s| s.snapshot_id());
        if defer && waited_on.is_some() && waited_on == version {
            // Still waiting, and the table has not moved: nothing to decide again (its files
            // can only be in once a new snapshot is).
            tokio::time::sleep(crate::group::DEFER_POLL).await;
            continue;
        }
        let posted = match (board, defer) {
            (Some(b), false) if !listed.is_empty() => match b.read(ident, &listed).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(table = %ident, error = %e, "could not read the pending deliveries; committing alone");
                    Vec::new()
                }
            },
            _ => Vec::new(),
        };
        let step = attempt_group(tables, &base, d, guard, &files, &posted, defer).await;
        last_base = Some(base);
        match step {
            Ok((Attempt::Done(mut outcome), settled)) => {
                if let Outcome::Committed { attempts: a, .. }
                | Outcome::CommittedInGroup { attempts: a, .. } = &mut outcome
                {
                    *a = attempts + 1;
                }
                if let Some(b) = board {
                    let mut ids = settled;
                    ids.extend(own_entry.clone());
                    ids.sort();
                    ids.dedup();
                    if !ids.is_empty() {
                        if let Err(e) = b.remove(ident, &ids).await {
                            tracing::warn!(table = %ident, error = %e, "could not take settled deliveries off the board (they are recognised as committed)");
                        }
                    }
                }
                break Ok(outcome);
            }
            Ok((Attempt::Deferred, _)) => {
                waiting_since.get_or_insert_with(std::time::Instant::now);
                waited_on = version;
                if let (Some(b), None, Some(base)) = (board, &own_entry, &last_base) {
                    own_entry = post(b, ident, d, &files, base).await;
                }
                tokio::time::sleep(crate::group::DEFER_POLL).await;
            }
            Ok((Attempt::Lost, _)) => {
                attempts += 1;
                tracing::info!(table = %ident, attempt = attempts, "commit lost a race; deciding again on the new table version");
                if attempts >= MAX_ATTEMPTS {
                    break Err(Error::Conflict {
                        table: ident.to_string(),
                        attempts,
                    });
                }
                if let (Some(b), None, Some(base)) = (board, &own_entry, &last_base) {
                    own_entry = post(b, ident, d, &files, base).await;
                }
                backoff(attempts).await;
            }
            Err(e) => break Err(e),
        }
    };
    let in_table = matches!(
        result,
        Ok(Outcome::Committed { .. } | Outcome::CommittedInGroup { .. })
    );
    match (board, &own_entry) {
        // Posted and not committed (given up, superseded, a duplicate first, an error): off the
        // board, so nobody takes it in any more; its files stay for orphan removal, because
        // another commit may have read the entry already.
        (Some(b), Some(id)) if !in_table => {
            if let Err(e) = b.remove(ident, std::slice::from_ref(id)).await {
                tracing::warn!(table = %ident, error = %e, "could not take this delivery off the board");
            }
        }
        (_, None) if !in_table => {
            if let Some(base) = &last_base {
                let paths: Vec<String> = files.iter().map(|f| f.file_path().to_string()).collect();
                tables.discard(base, &paths).await;
            }
        }
        _ => {}
    }
    result
}

/// Posts delivery `d` with `files` on the board for a group commit: its entry's id, or `None`
/// (logged) when it cannot be posted, and the writer goes on alone.
async fn post(
    board: &dyn crate::group::Board,
    ident: &TableIdent,
    d: &Delivery,
    files: &[DataFile],
    base: &Table,
) -> Option<String> {
    let posted = match crate::group::Pending::of(d, files, base.metadata(), now_ms()) {
        Ok(entry) => board.post(ident, &entry).await,
        Err(e) => Err(e),
    };
    match posted {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(table = %ident, error = %e, "could not post the delivery for a group commit; going on alone");
            None
        }
    }
}

/// One attempt's result.
#[derive(Debug)]
pub enum Attempt {
    /// Committed, or found already committed.
    Done(Outcome),
    /// The table moved on after `base` was read: nothing of the attempt is visible, and what
    /// it wrote is deleted. Decide again on the new version.
    Lost,
    /// Not built: a plain append, and another posted delivery's writer leads this window and
    /// takes this one in once it is posted ([`crate::group::leader`]). Look again shortly.
    Deferred,
}

/// One attempt of [`commit_delivery`] on `base`, a version of the table read before: decide
/// from it, build on it, and publish only if the table still is `base`.
pub async fn try_commit(
    tables: &Tables,
    base: &Table,
    d: &Delivery,
    guard: &dyn Guard,
    files: &[DataFile],
) -> Result<Attempt, Error> {
    Ok(attempt_group(tables, base, d, guard, files, &[], false)
        .await?
        .0)
}

/// [`try_commit`], taking in those of `posted` that [`crate::group::choose`] picks; also the
/// ids of the board's entries that are settled once the attempt is done. `defer`: when the
/// delivery still has to be written, build nothing and answer [`Attempt::Deferred`].
async fn attempt_group(
    tables: &Tables,
    base: &Table,
    d: &Delivery,
    guard: &dyn Guard,
    files: &[DataFile],
    posted: &[crate::group::Posted],
    defer: bool,
) -> Result<(Attempt, Vec<String>), Error> {
    let current = base
        .metadata()
        .current_snapshot()
        .map_or(-1, |s| s.snapshot_id());
    let held = held(base, &d.source, d.date).await?;
    let (remove, rewrite) = match decide(&held, d)? {
        Decision::Already => {
            let own: HashSet<&str> = files.iter().map(|f| f.file_path()).collect();
            let mine = held.iter().filter(|h| own.contains(h.path.as_str()));
            let by = mine.clone().find_map(|h| h.added_by);
            let outcome = if !own.is_empty() && mine.count() == own.len() {
                Outcome::CommittedInGroup {
                    snapshot_id: by.unwrap_or(current),
                    files: own.len(),
                    attempts: 1,
                }
            } else {
                Outcome::AlreadyCommitted {
                    snapshot_id: current,
                    files: held.len(),
                }
            };
            let settled = posted
                .iter()
                .filter(|p| {
                    p.entry.delivery.source == d.source && p.entry.delivery.version == d.version
                })
                .map(|p| p.id.clone())
                .collect();
            return Ok((Attempt::Done(outcome), settled));
        }
        // Only a plain append waits for the window's leader: nobody else commits a replacement.
        Decision::Write { remove, rewrite } if defer && remove.is_empty() && rewrite.is_empty() => {
            return Ok((Attempt::Deferred, Vec::new()))
        }
        Decision::Write { remove, rewrite } => (remove, rewrite),
    };
    // Rows of the key at another version are in `base`: replace them only while this upload
    // is still the key's current object. Asked after `base` was read, so a newer upload
    // committed since makes the swap below fail, and the next attempt asks again.
    let replaces = !remove.is_empty() || !rewrite.is_empty();
    if replaces && !guard.still_current().await? {
        return Ok((
            Attempt::Done(Outcome::Superseded {
                snapshot_id: current,
            }),
            Vec::new(),
        ));
    }
    // Other writers' pending deliveries that go in with this one (plain appends only).
    let md = base.metadata();
    let keys: std::collections::BTreeSet<&str> = posted
        .iter()
        .map(|p| p.entry.delivery.source.as_str())
        .filter(|s| *s != d.source)
        .collect();
    let presence = crate::group::presence(base, &keys).await?;
    let choice = crate::group::choose(
        d,
        posted,
        &presence,
        md.default_partition_spec_id(),
        now_ms(),
    );
    let mut joined: Vec<(&crate::group::Pending, Vec<DataFile>)> = Vec::new();
    for &i in &choice.join {
        let e = &posted[i].entry;
        match e.data_files(md) {
            Ok(dfs) => joined.push((e, dfs)),
            Err(err) => {
                tracing::warn!(source = %e.delivery.source, error = %err, "a pending delivery's files do not read back; left to its writer")
            }
        }
    }
    let mut settled: Vec<String> = choice.done.iter().map(|&i| posted[i].id.clone()).collect();
    settled.extend(
        choice
            .join
            .iter()
            .map(|&i| &posted[i])
            .filter(|p| joined.iter().any(|(e, _)| std::ptr::eq(*e, &p.entry)))
            .map(|p| p.id.clone()),
    );
    let sources: Vec<&str> = std::iter::once(d.source.as_str())
        .chain(joined.iter().map(|(e, _)| e.delivery.source.as_str()))
        .collect();
    let versions: Vec<&str> = std::iter::once(d.version.as_str())
        .chain(joined.iter().map(|(e, _)| e.delivery.version.as_str()))
        .collect();
    let mut engines: Vec<&str> = std::iter::once(d.engine.as_str())
        .chain(joined.iter().map(|(e, _)| e.delivery.engine.as_str()))
        .collect();
    engines.sort_unstable();
    engines.dedup();
    let mut props: HashMap<String, String> = HashMap::from([
        (summary::SOURCES.to_string(), json_list(&sources)),
        (summary::VERSIONS.to_string(), json_list(&versions)),
        (summary::ENGINE.to_string(), engines.join(",")),
    ]);
    if let Some(e) = &d.execution {
        props.insert(summary::EXECUTION.to_string(), e.clone());
    }
    if !joined.is_empty() {
        let executions: Vec<&str> = std::iter::once(d.execution.as_deref().unwrap_or(""))
            .chain(
                joined
                    .iter()
                    .map(|(e, _)| e.delivery.execution.as_deref().unwrap_or("")),
            )
            .collect();
        props.insert(summary::EXECUTIONS.to_string(), json_list(&executions));
    }
    // The key's rows leave the files it shares with other keys: each is rewritten without
    // them, in this snapshot.
    let mut added = files.to_vec();
    added.extend(joined.iter().flat_map(|(_, dfs)| dfs.iter().cloned()));
    let mut rewritten = Vec::new();
    for h in held.iter().filter(|h| rewrite.contains(&h.path)) {
        let out = crate::rewrite::rewrite(
            base,
            std::slice::from_ref(&h.path),
            &h.partition,
            h.spec_id,
            d.date,
            &crate::rewrite::without_source(&d.source),
            u64::MAX,
        )
        .await?;
        rewritten.extend(out.files.iter().map(|f| f.file_path().to_string()));
        added.extend(out.files);
    }
    let remove: HashSet<String> = remove.into_iter().chain(rewrite).collect();
    let operation = if remove.is_empty() {
        Operation::Append
    } else {
        Operation::Overwrite
    };
    let built = match build_snapshot(base, &remove, added, props, operation).await {
        Ok(b) => b,
        Err(e) => {
            tables.discard(base, &rewritten).await;
            return Err(e);
        }
    };
    if !tables
        .swap(
            base.identifier(),
            &built.base_location,
            &built.location,
            &built.metadata,
        )
        .await?
    {
        built.discard(tables, base).await;
        tables.discard(base, &rewritten).await;
        return Ok((Attempt::Lost, Vec::new()));
    }
    let removed_rows = held
        .iter()
        .filter(|h| remove.contains(&h.path))
        .map(Held::rows_of_key)
        .sum();
    Ok((
        Attempt::Done(Outcome::Committed {
            snapshot_id: built.snapshot_id,
            operation: if remove.is_empty() {
                "append".into()
            } else {
                "overwrite".into()
            },
            added_files: files.len(),
            added_rows: files.iter().map(|f| f.record_count()).sum(),
            removed_files: remove.len() - rewritten_inputs(&held, &remove),
            removed_rows,
            attempts: 1,
            with_others: joined.len(),
        }),
        settled,
    ))
}

/// The pause before attempt `attempt + 1`: "full jitter" over a window that doubles from 50 ms
/// to at most 3.2 s, so writers that keep colliding spread out instead of meeting again at the
/// same moment (it was at most 150 ms). It spreads a burst; it does not bound its conflicts:
/// with no committer lock (S3 Tables, Glue), 8 writers of one table still lose about four
/// races per commit on the emulator (`make bench`, row `table-burst-s3tables`).
pub(crate) fn backoff_ms(attempt: u32, random: u64) -> u64 {
    let window = 50u64 << attempt.saturating_sub(1).min(6);
    random % (window + 1)
}

/// Sleeps [`backoff_ms`] before the next attempt.
pub(crate) async fn backoff(attempt: u32) {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    tokio::time::sleep(std::time::Duration::from_millis(backoff_ms(
        attempt, random,
    )))
    .await;
}

/// Files the snapshot rewrote (shared with other keys) rather than removed outright.
fn rewritten_inputs(held: &[Held], remove: &HashSet<String>) -> usize {
    held.iter()
        .filter(|h| h.mixed.is_some() && remove.contains(&h.path))
        .count()
}

pub(crate) fn json_list(items: &[&str]) -> String {
    serde_json::to_string(items).expect("strings serialise")
}

/// A snapshot written (manifests, manifest list, metadata file) but not yet published.
pub(crate) struct Built {
    pub(crate) base_location: String,
    pub(crate) location: String,
    pub(crate) snapshot_id: i64,
    /// The new metadata (written at `location`).
    pub(crate) metadata: TableMetadata,
    /// Files this attempt wrote, deleted if it loses the race.
    written: Vec<String>,
}

impl Built {
    /// Deletes what this attempt wrote where the target allows it ([`Tables::discard`]);
    /// best effort (an orphan left behind is unreferenced and goes with orphan-file removal).
    pub(crate) async fn discard(&self, tables: &Tables, table: &Table) {
        let mut paths = self.written.clone();
        paths.push(self.location.clone());
        tables.discard(table, &paths).await;
    }
}

/// A snapshot on top of `base`'s current one: live files in `remove` are marked deleted (their
/// manifests rewritten, the other entries kept as existing), manifests without such files are
/// carried over as they are, and `added` go into a new manifest. `props` join the summary.
pub(crate) async fn build_snapshot(
    base: &Table,
    remove: &HashSet<String>,
    added: Vec<DataFile>,
    props: HashMap<String, String>,
    operation: Operation,
) -> Result<Built, Error> {
    let md = base.metadata();
    let io = base.file_io();
    let schema = md.current_schema().clone();
    let spec = md.default_partition_spec().clone();
    let base_location = base.metadata_location_result()?.to_string();
    let parent = md.current_snapshot().cloned();
    let parent_id = parent.as_ref().map(|s| s.snapshot_id());
    let seq = md.next_sequence_number();
    let snapshot_id = new_snapshot_id(md);
    let commit = uuid::Uuid::new_v4();
    let meta_dir = format!("{}/metadata", md.location());
    let mut written = Vec::new();
    let mut collector = SnapshotSummaryCollector::default();
    let mut manifests: Vec<ManifestFile> = Vec::new();

    if let Some(parent) = &parent {
        let list = base.manifest_list_reader(parent).load().await?;
        // Merging rewrites every live entry into one manifest: only within one partition spec.
        let merge_above = md
            .properties()
            .get(MERGE_PROPERTY)
            .and_then(|v| v.parse().ok())
            .unwrap_or(MERGE_MANIFESTS_ABOVE);
        let merge = list.entries().len() > merge_above
            && list
                .entries()
                .iter()
                .all(|mf| mf.partition_spec_id == spec.spec_id());
        let mut merged = None;
        for mf in list.entries() {
            let m = mf.load_manifest(io).await?;
            let touched = m
                .entries()
                .iter()
                .any(|e| e.is_alive() && remove.contains(e.data_file().file_path()));
            if !touched && !merge {
                manifests.push(mf.clone());
                continue;
            }
            let mut own = None;
            let slot = if merge { &mut merged } else { &mut own };
            if slot.is_none() {
                let path = format!("{meta_dir}/{commit}-m{}.avro", written.len());
                written.push(path.clone());
                *slot = Some(
                    ManifestWriterBuilder::new(
                        io.new_output(&path)?,
                        Some(snapshot_id),
                        schema.clone(),
                        spec.as_ref().clone(),
                    )
                    .build_v2_data(),
                );
            }
            let w = slot.as_mut().expect("set above");
            for e in m.entries().iter().filter(|e| e.is_alive()) {
                let df = e.data_file().clone();
                let data_seq = e.sequence_number().ok_or_else(|| {
                    Error::Catalog(format!(
                        "manifest {} has an entry without a sequence number",
                        mf.manifest_path
                    ))
                })?;
                if remove.contains(df.file_path()) {
                    collector.remove_file(&df, schema.clone(), spec.clone());
                    w.add_delete_file(df, data_seq, e.file_sequence_number)?;
                } else {
                    let sid = e.snapshot_id().ok_or_else(|| {
                        Error::Catalog(format!(
                            "manifest {} has an entry without a snapshot id",
                            mf.manifest_path
                        ))
                    })?;
                    w.add_existing_file(df, sid, data_seq, e.file_sequence_number)?;
                }
            }
            if let Some(w) = own {
                manifests.push(w.write_manifest_file().await?);
            }
        }
        if let Some(w) = merged {
            manifests.push(w.write_manifest_file().await?);
        }
    }
    if !added.is_empty() {
        let path = format!("{meta_dir}/{commit}-m{}.avro", written.len());
        written.push(path.clone());
        let mut w = ManifestWriterBuilder::new(
            io.new_output(&path)?,
            Some(snapshot_id),
            schema.clone(),
            spec.as_ref().clone(),
        )
        .build_v2_data();
        for df in added {
            collector.add_file(&df, schema.clone(), spec.clone());
            w.add_file(df, seq)?;
        }
        manifests.push(w.write_manifest_file().await?);
    }
    let list_path = format!("{meta_dir}/snap-{snapshot_id}-1-{commit}.avro");
    written.push(list_path.clone());
    let mut lw = ManifestListWriter::v2(
        io.new_output(&list_path)?.writer().await?,
        snapshot_id,
        parent_id,
        seq,
    );
    lw.add_manifests(manifests.into_iter())?;
    lw.close().await?;

    let mut summary_props = props;
    summary_props.extend(collector.build());
    add_totals(
        parent.as_ref().map(|p| &p.summary().additional_properties),
        &mut summary_props,
    );
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent_id)
        .with_sequence_number(seq)
        .with_timestamp_ms(now_ms())
        .with_manifest_list(list_path)
        .with_schema_id(md.current_schema_id())
        .with_summary(Summary {
            operation,
            additional_properties: summary_props,
        })
        .build();
    let new_md = md
        .clone()
        .into_builder(Some(base_location.clone()))
        .set_branch_snapshot(snapshot, MAIN_BRANCH)?
        .build()?
        .metadata;
    let location = write_metadata(base, &base_location, &new_md).await?;
    Ok(Built {
        base_location,
        location,
        snapshot_id,
        metadata: new_md,
        written,
    })
}

/// Publishes `new_md`, a metadata-only change built on `table` (at `base`): written as the
/// next metadata file and swapped in if the table is still at `base`. `false` when another
/// writer moved it first; the file written is then discarded and nothing changed.
pub(crate) async fn publish_metadata(
    tables: &Tables,
    table: &Table,
    base: &str,
    new_md: &TableMetadata,
) -> Result<bool, Error> {
    let location = write_metadata(table, base, new_md).await?;
    if tables
        .swap(table.identifier(), base, &location, new_md)
        .await?
    {
        return Ok(true);
    }
    tables.discard(table, std::slice::from_ref(&location)).await;
    Ok(false)
}

/// Writes `new_md` as the next metadata file after `base_location`; its location.
pub(crate) async fn write_metadata(
    base: &Table,
    base_location: &str,
    new_md: &TableMetadata,
) -> Result<String, Error> {
    let loc = MetadataLocation::from_str(base_location)?
        .with_next_version()
        .with_new_metadata(new_md);
    new_md.write_to(base.file_io(), &loc).await?;
    Ok(loc.to_string())
}

/// The `total-*` summary keys: the parent's totals plus what was added, minus what was
/// removed (iceberg-rust computes these only inside its own, crate-private commit).
fn add_totals(parent: Option<&HashMap<String, String>>, props: &mut HashMap<String, String>) {
    let get = |m: Option<&HashMap<String, String>>, k: &str| -> u64 {
        m.and_then(|m| m.get(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    for (total, add, del) in [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        (
            "total-delete-files",
            "added-delete-files",
            "removed-delete-files",
        ),
        (
            "total-position-deletes",
            "added-position-deletes",
            "removed-position-deletes",
        ),
        (
            "total-equality-deletes",
            "added-equality-deletes",
            "removed-equality-deletes",
        ),
    ] {
        let v = (get(parent, total) + get(Some(props), add)).saturating_sub(get(Some(props), del));
        props.insert(total.to_string(), v.to_string());
    }
}

fn new_snapshot_id(md: &TableMetadata) -> i64 {
    loop {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) >> 1) as i64;
        if id > 0 && md.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_between_attempts_doubles_to_a_cap_and_is_spread_over_its_window() {
        for (attempt, window) in [
            (1, 50),
            (2, 100),
            (3, 200),
            (6, 1600),
            (7, 3200),
            (20, 3200),
        ] {
            assert_eq!(
                backoff_ms(attempt, window),
                window,
                "attempt {attempt}: the top"
            );
            assert_eq!(
                backoff_ms(attempt, window + 1),
                0,
                "attempt {attempt}: the bottom"
            );
            assert!((0..=window).contains(&backoff_ms(attempt, u64::MAX)));
        }
    }

    fn delivery(version: &str) -> Delivery {
        Delivery {
            source: "raw/orders/dt=2026-12-06/a.csv".into(),
            version: version.into(),
            execution: None,
            engine: "cli".into(),
            date: None,
        }
    }

    fn file(path: &str, only: bool, version: Option<&str>) -> Held {
        Held {
            path: path.into(),
            rows: 3,
            only_this_source: only,
            version: version.map(str::to_string),
            mixed: None,
            partition: Struct::empty(),
            spec_id: 0,
            added_by: None,
        }
    }

    /// A compacted file holding `rows` of the key per version, read from its lineage columns.
    fn shared(path: &str, rows: &[(&str, u64)]) -> Held {
        Held {
            mixed: Some(rows.iter().map(|(v, n)| (v.to_string(), *n)).collect()),
            ..file(path, false, None)
        }
    }

    #[test]
    fn decisions() {
        let v1 = delivery("v1");
        let cases: Vec<(&str, Vec<Held>, Result<Decision, &str>)> = vec![
            (
                "a new key is written",
                vec![],
                Ok(Decision::Write {
                    remove: vec![],
                    rewrite: vec![],
                }),
            ),
            (
                "the same version again adds nothing",
                vec![file("f1", true, Some("v1")), file("f2", true, Some("v1"))],
                Ok(Decision::Already),
            ),
            (
                "another version is replaced",
                vec![file("f1", true, Some("v0"))],
                Ok(Decision::Write {
                    remove: vec!["f1".into()],
                    rewrite: vec![],
                }),
            ),
            (
                "a file of mixed versions is replaced whole",
                vec![file("f1", true, None), file("f2", true, Some("v1"))],
                Ok(Decision::Write {
                    remove: vec!["f1".into(), "f2".into()],
                    rewrite: vec![],
                }),
            ),
            (
                "the same version inside a compacted file adds nothing",
                vec![shared("c1", &[("v1", 3)]), file("f2", true, Some("v1"))],
                Ok(Decision::Already),
            ),
            (
                "an older version inside a compacted file is rewritten out of it",
                vec![shared("c1", &[("v0", 3)]), file("f2", true, Some("v0"))],
                Ok(Decision::Write {
                    remove: vec!["f2".into()],
                    rewrite: vec!["c1".into()],
                }),
            ),
            (
                "two versions in one compacted file: rewritten",
                vec![shared("c1", &[("v0", 1), ("v1", 2)])],
                Ok(Decision::Write {
                    remove: vec![],
                    rewrite: vec!["c1".into()],
                }),
            ),
            (
                "a compacted file without the key's rows is not touched",
                vec![shared("c1", &[])],
                Ok(Decision::Write {
                    remove: vec![],
                    rewrite: vec![],
                }),
            ),
            (
                "a shared file nobody read is an error, not a guess",
                vec![file("c1", false, None)],
                Err("was not read to tell"),
            ),
        ];
        for (what, held, want) in cases {
            let got = decide(&held, &v1);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{what}"),
                (Err(e), Err(needle)) => assert!(e.to_string().contains(needle), "{what}: {e}"),
                (g, w) => panic!("{what}: got {g:?}, want {w:?}"),
            }
        }
    }

    /// A reprocess pass replaces the upload's rows and finds its own; the upload's own event
    /// again leaves the pass's rows alone.
    #[test]
    fn decisions_of_reprocess_passes() {
        let pass = |p: &str| delivery(&lakeline_core::table::delivery_version("v1", Some(p)));
        let (p1, p2) = ("aaaaaaaaaaaa", "bbbbbbbbbbbb");
        let p1v = lakeline_core::table::delivery_version("v1", Some(p1));
        let cases: Vec<(&str, Delivery, Vec<Held>, Decision)> = vec![
            (
                "a pass replaces the upload's rows",
                pass(p1),
                vec![file("f1", true, Some("v1"))],
                Decision::Write {
                    remove: vec!["f1".into()],
                    rewrite: vec![],
                },
            ),
            (
                "the same pass again adds nothing",
                pass(p1),
                vec![file("f2", true, Some(&p1v))],
                Decision::Already,
            ),
            (
                "a pass under other rules replaces the first pass's rows",
                pass(p2),
                vec![shared("c1", &[(&p1v, 3)])],
                Decision::Write {
                    remove: vec![],
                    rewrite: vec!["c1".into()],
                },
            ),
            (
                "the upload's event redelivered after a pass adds nothing",
                delivery("v1"),
                vec![file("f2", true, Some(&p1v))],
                Decision::Already,
            ),
        ];
        for (what, d, held, want) in cases {
            assert_eq!(decide(&held, &d).unwrap(), want, "{what}");
        }
    }

    #[test]
    fn totals_follow_the_parent() {
        let parent = HashMap::from([
            ("total-data-files".to_string(), "4".to_string()),
            ("total-records".to_string(), "40".to_string()),
        ]);
        let mut props = HashMap::from([
            ("added-data-files".to_string(), "1".to_string()),
            ("deleted-data-files".to_string(), "2".to_string()),
            ("added-records".to_string(), "7".to_string()),
            ("deleted-records".to_string(), "20".to_string()),
        ]);
        add_totals(Some(&parent), &mut props);
        assert_eq!(props["total-data-files"], "3");
        assert_eq!(props["total-records"], "27");
        assert_eq!(props["total-delete-files"], "0");
    }
}
