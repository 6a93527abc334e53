//! One Spark run per partition and window, not per file.
//!
//! When 500 files land in one partition within a minute, a run per file would queue 500 Spark
//! runs behind Glue's `MaxConcurrentRuns` (one by default), each paying the engine's start-up
//! and minimum billing. Instead the files' pipeline executions gather into a *batch*:
//!
//! 1. `join`: the execution records itself as a member of the partition's open batch
//!    (`open.json`), creating that batch (`If-None-Match: *`) when there is none; the creator is
//!    the batch's leader and the batch seals `batch_seconds` later.
//! 2. Every member waits until the seal time.
//! 3. `start_batch`: the leader closes the batch (deletes `open.json`, so later files open the
//!    next one), lists the members, writes the manifest, starts one run over it (its run key is
//!    the batch id, so a retried start finds it) and records the run in `run.json`. The others
//!    read `run.json` (retrying until it exists). A member whose marker landed after the listing
//!    is not in the manifest: it joins the next batch, so a file is never dropped.
//! 4. Every member follows the same run; each execution ends as the run does.
//!
//! A dataset that wants a run per file says `batch_seconds: 0`. This module is the naming and
//! the decisions; start-job does the S3 and engine calls.
//!
//! Crashes and retries: a join records which batch the execution joined (`joined/`), so a
//! retried join answers the same batch; the manifest is written once (`If-None-Match`), so a
//! retried leader starts the run over the files it listed first; an open batch long past its
//! seal ([`orphaned`]) is taken over by the next file.

use serde::{Deserialize, Serialize};

/// Default gathering window: a minute, short next to a Spark run's own start-up.
pub const DEFAULT_WINDOW_SECONDS: u32 = 60;

/// Serde default of `batch_seconds`.
pub fn default_window() -> u32 {
    DEFAULT_WINDOW_SECONDS
}

/// Where a partition's batches live: `_lakeline/batches/<dataset>/<partition or _>/`.
pub fn root(dataset: &str, partition: Option<&str>) -> String {
    let p = partition.filter(|p| !p.is_empty()).unwrap_or("_");
    format!("_lakeline/batches/{dataset}/{p}/")
}

/// The open batch of a partition.
pub fn open_key(root: &str) -> String {
    format!("{root}open.json")
}

/// A member's marker.
pub fn member_key(root: &str, batch: &str, execution: &str) -> String {
    format!("{root}{batch}/members/{execution}.json")
}

/// The members' folder of a batch.
pub fn members_prefix(root: &str, batch: &str) -> String {
    format!("{root}{batch}/members/")
}

/// The manifest the Spark job reads.
pub fn manifest_key(root: &str, batch: &str) -> String {
    format!("{root}{batch}/manifest.json")
}

/// The run the batch's members follow.
pub fn run_key_of(root: &str, batch: &str) -> String {
    format!("{root}{batch}/run.json")
}

/// Which batch an execution joined (`joined/<execution>.json`, its [`Joined`]): a retried join
/// (its answer lost) answers the same batch, so one file is never in two batches.
pub fn joined_key(root: &str, execution: &str) -> String {
    format!("{root}joined/{execution}.json")
}

/// A batch still open this long after its seal is orphaned: its leader never started its run
/// (its execution failed or was stopped before `start_batch` closed it). A joining file then
/// takes `open.json` over and leads a new batch, instead of waiting on a run that never comes.
/// Longer than the leader's wait plus all of `start_batch`'s retries.
pub const ORPHANED_AFTER_SECONDS: i64 = 3600;

/// Whether `open` is orphaned at `now` (Unix seconds): sealed [`ORPHANED_AFTER_SECONDS`] ago or
/// more. A seal time that does not parse is taken for orphaned too (lakeline never writes one).
pub fn orphaned(open: &OpenBatch, now: i64) -> bool {
    chrono::DateTime::parse_from_rfc3339(&open.seal_at)
        .map_or(true, |t| now - t.timestamp() >= ORPHANED_AFTER_SECONDS)
}

/// `open.json`: which batch is gathering, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenBatch {
    /// The batch id: the leader's execution name.
    pub batch: String,
    /// When it seals (RFC 3339).
    pub seal_at: String,
}

/// One member (a validated upload waiting for the batch's run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member's execution name.
    pub execution: String,
    /// The raw object's key.
    pub key: String,
    /// Its validated ETag.
    pub etag: String,
}

/// The manifest: the files one run curates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The batch id.
    pub batch: String,
    /// Bucket of the files.
    pub bucket: String,
    /// Dataset.
    pub dataset: String,
    /// Partition label.
    #[serde(default)]
    pub partition: Option<String>,
    /// The files, sorted by execution name (so a rewritten manifest is byte-identical).
    pub files: Vec<Member>,
}

impl Manifest {
    /// Whether `execution` is one of the batch's files.
    pub fn includes(&self, execution: &str) -> bool {
        self.files
            .binary_search_by(|m| m.execution.as_str().cmp(execution))
            .is_ok()
    }
}

/// What `join` tells the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    /// True: no batching for this dataset (`batch_seconds: 0`): start a run for this file.
    pub per_file: bool,
    /// The batch joined.
    #[serde(default)]
    pub batch: String,
    /// Whether this execution leads it.
    #[serde(default)]
    pub leader: bool,
    /// When to start (RFC 3339): the pipeline waits until then.
    #[serde(default)]
    pub seal_at: String,
}

/// The manifest of `batch` from the members found (any order, duplicates dropped).
pub fn manifest(
    batch: &str,
    bucket: &str,
    dataset: &str,
    partition: Option<&str>,
    mut members: Vec<Member>,
) -> Manifest {
    members.sort();
    members.dedup_by(|a, b| a.execution == b.execution);
    Manifest {
        batch: batch.to_string(),
        bucket: bucket.to_string(),
        dataset: dataset.to_string(),
        partition: partition.map(str::to_string),
        files: members,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_manifests() {
        let r = root("orders", Some("dt=2026-11-25"));
        assert_eq!(r, "_lakeline/batches/orders/dt=2026-11-25/");
        assert_eq!(root("orders", None), "_lakeline/batches/orders/_/");
        assert_eq!(root("orders", Some("")), "_lakeline/batches/orders/_/");
        assert_eq!(open_key(&r), format!("{r}open.json"));
        assert_eq!(member_key(&r, "b1", "e2"), format!("{r}b1/members/e2.json"));
        assert!(member_key(&r, "b1", "e2").starts_with(&members_prefix(&r, "b1")));
        assert_ne!(manifest_key(&r, "b1"), run_key_of(&r, "b1"));

        let m = |e: &str| Member {
            execution: e.into(),
            key: format!("raw/orders/{e}.csv"),
            etag: "x".into(),
        };
        let man = manifest(
            "b1",
            "lake",
            "orders",
            Some("dt=1"),
            vec![m("e3"), m("e1"), m("e3"), m("e2")],
        );
        assert_eq!(
            man.files
                .iter()
                .map(|f| f.execution.as_str())
                .collect::<Vec<_>>(),
            ["e1", "e2", "e3"]
        );
        assert!(man.includes("e2") && !man.includes("e4"));
        assert_eq!(
            man,
            manifest(
                "b1",
                "lake",
                "orders",
                Some("dt=1"),
                vec![m("e2"), m("e3"), m("e1")]
            ),
            "the same members give the same manifest"
        );
        assert!(!joined_key(&r, "e1").starts_with(&members_prefix(&r, "e1")));
    }

    /// (seal time, seconds after it, orphaned).
    #[test]
    fn an_open_batch_long_past_its_seal_is_orphaned() {
        let seal = 1_796_515_200; // 2026-12-06T00:00:00Z
        let open = |t: &str| OpenBatch {
            batch: "b".into(),
            seal_at: t.into(),
        };
        let cases = [
            ("2026-12-06T00:00:00Z", -60, false),
            ("2026-12-06T00:00:00Z", ORPHANED_AFTER_SECONDS - 1, false),
            ("2026-12-06T00:00:00Z", ORPHANED_AFTER_SECONDS, true),
            ("2026-12-06T01:00:00+01:00", ORPHANED_AFTER_SECONDS, true),
            ("not a time", 0, true),
        ];
        for (t, after, want) in cases {
            assert_eq!(orphaned(&open(t), seal + after), want, "{t} +{after}");
        }
    }
}
