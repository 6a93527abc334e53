//! Group commit: a burst of deliveries into one table commits in a few snapshots, instead of
//! one lost race after another.
//!
//! S3 Tables and Glue have no lock a writer could wait on: their compare-and-swap settles each
//! race, so many writers of one table at once keep losing to each other and build their
//! snapshots again and again (measured: 8 writers, 5.2 lost races per commit, some giving up
//! after 20). So a writer that loses a race *posts* its delivery (its source, version and
//! described data files) on the table's board, `_lakeline/pending/<namespace>/<table>/` in the
//! lake bucket ([`S3Board`]), and every commit attempt of every writer reads the board and
//! takes the pending deliveries in with its own: one snapshot, many sources. A writer whose
//! delivery another commit took finds its own files in the table at its next attempt and is
//! done ([`crate::commit::Outcome::CommittedInGroup`]).
//!
//! The board is a hand-off, not a commit protocol of its own: what publishes is still the one
//! compare-and-swap of the table's metadata, and each delivery a commit takes is decided on the
//! same base as its own, by the same exactly-once rule ([`choose`]). A commit takes another
//! writer's delivery only when it is a plain append (the table holds no rows of that key: a
//! replacement needs its own upload's ordering guard, so its own writer commits it), when it
//! is fresh ([`FRESH_MS`]: a crashed writer's entry is not committed long after the fact), and
//! at most one per key.
//!
//! Files posted on the board are never deleted by their writer, whatever its outcome: another
//! commit may have read the entry and be about to publish them. What no snapshot takes in is
//! an orphan, removed by orphan-file removal after its retention age.

use std::collections::{BTreeSet, HashMap};

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use iceberg::spec::{
    deserialize_data_file_from_json, serialize_data_file_to_json, DataFile, TableMetadata,
};
use iceberg::table::Table;
use iceberg::TableIdent;
use lakeline_core::table::covers;
use serde::{Deserialize, Serialize};

use crate::commit::{text, Delivery};
use crate::Error;

/// How long a posted delivery may be taken in by another writer's commit. Longer than a
/// writer's whole commit loop (20 attempts, pauses of at most 3.2 s); an older entry is a
/// crashed writer's, and its execution's retry commits it instead (or an undo meanwhile
/// stays undone).
pub const FRESH_MS: i64 = 5 * 60 * 1000;

/// Most deliveries one snapshot takes from the board, besides its own: a commit's work (and
/// its manifest) stays bounded however deep a burst is.
pub const GROUP_MAX: usize = 200;

/// How long a writer that posted its delivery leaves the building to the writer of the oldest
/// pending delivery ([`leader`]), which takes it in with its own: one committer per table and
/// window. After it, the writer commits itself (the leader may be slow, or gone).
pub const LEAD_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// How often a writer that leaves the building to the leader looks whether its files are in.
pub const DEFER_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The board's folder in the lake bucket (`<prefix><namespace>/<table>/<entry>.json`).
pub const PENDING_PREFIX: &str = "_lakeline/pending/";

/// A delivery waiting on the board to be committed, by its own writer or with another's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The delivery: raw key, version, execution, engine, partition date.
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The partition spec its files were described under: a commit on another spec leaves it.
    pub spec_id: i32,
    /// Its data files, each in Iceberg's `DataFile` JSON (the crate's own serde).
    pub files: Vec<String>,
    /// When it was posted (Unix milliseconds).
    pub posted_ms: i64,
}

impl Pending {
    /// The entry of delivery `d` with `files`, described on `md`'s default spec.
    pub fn of(
        d: &Delivery,
        files: &[DataFile],
        md: &TableMetadata,
        now_ms: i64,
    ) -> Result<Pending, Error> {
        let spec = md.default_partition_spec();
        let ptype = spec.partition_type(md.current_schema())?;
        let files = files
            .iter()
            .map(|f| serialize_data_file_to_json(f.clone(), &ptype, md.format_version()))
            .collect::<Result<_, _>>()?;
        Ok(Pending {
            delivery: d.clone(),
            spec_id: spec.spec_id(),
            files,
            posted_ms: now_ms,
        })
    }

    /// Its data files, read back on `md` (whose default spec must be the entry's). Each must
    /// lie in the table's own data folder: an entry naming a file elsewhere is refused.
    pub fn data_files(&self, md: &TableMetadata) -> Result<Vec<DataFile>, Error> {
        let spec = md.default_partition_spec();
        let ptype = spec.partition_type(md.current_schema())?;
        let data = format!("{}/data/", md.location().trim_end_matches('/'));
        self.files
            .iter()
            .map(|j| {
                let df =
                    deserialize_data_file_from_json(j, self.spec_id, &ptype, md.current_schema())?;
                if !df.file_path().starts_with(&data) {
                    return Err(Error::Catalog(format!(
                        "a pending delivery of {} names {}, outside the table's {data}",
                        self.delivery.source,
                        df.file_path()
                    )));
                }
                Ok(df)
            })
            .collect()
    }
}

/// An entry read off the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Its id on the board (its object's name).
    pub id: String,
    /// The delivery.
    pub entry: Pending,
}

/// Where a table's pending deliveries wait: every committer of the table reads and writes the
/// same board.
pub trait Board: Send + Sync {
    /// Posts `entry` for `table`, returning its id.
    fn post<'a>(
        &'a self,
        table: &'a TableIdent,
        entry: &'a Pending,
    ) -> BoxFuture<'a, Result<String, Error>>;
    /// The ids of `table`'s pending deliveries, oldest first, at most `limit`: one listing,
    /// no entry read (a writer waiting for the window's leader needs no more).
    fn list<'a>(
        &'a self,
        table: &'a TableIdent,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, Error>>;
    /// The entries `ids` of `table`'s board, read (an entry gone meanwhile is left out).
    fn read<'a>(
        &'a self,
        table: &'a TableIdent,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Posted>, Error>>;
    /// Takes the entries `ids` off `table`'s board.
    fn remove<'a>(
        &'a self,
        table: &'a TableIdent,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<(), Error>>;
}

/// What the table holds of a key, from its manifests alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// No live file can hold rows of the key.
    Absent,
    /// Files of the key alone hold it, all at this version.
    Exactly(String),
    /// Anything else: another version besides, or files shared with other keys (compacted)
    /// whose bounds include the key, which only reading them would tell.
    Unclear,
}

/// What a commit does with the board's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    /// Indexes of the entries it takes in with its own delivery.
    pub join: Vec<usize>,
    /// Indexes of the entries that are done once its snapshot is published (already in the
    /// table, or the same delivery as its own).
    pub done: Vec<usize>,
}

/// Which of `posted` a commit of `own` on a table whose default spec is `spec_id` takes in,
/// given what the table holds of their keys (`presence`, every key of `posted`): fresh
/// entries of keys the table does not hold, at most one per key and never `own`'s key, the
/// oldest first, at most [`GROUP_MAX`]. Entries the table already holds at their version, and
/// entries of `own`'s very delivery, are done.
pub fn choose(
    own: &Delivery,
    posted: &[Posted],
    presence: &HashMap<String, Presence>,
    spec_id: i32,
    now_ms: i64,
) -> Choice {
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for p in posted {
        *per_key.entry(p.entry.delivery.source.as_str()).or_default() += 1;
    }
    let mut choice = Choice::default();
    for (i, p) in posted.iter().enumerate() {
        let e = &p.entry.delivery;
        if e.source == own.source {
            if e.version == own.version {
                choice.done.push(i);
            }
            continue;
        }
        match presence.get(&e.source) {
            Some(Presence::Exactly(v)) if covers(v, &e.version) => choice.done.push(i),
            Some(Presence::Absent)
                if per_key[e.source.as_str()] == 1
                    && p.entry.spec_id == spec_id
                    && now_ms - p.entry.posted_ms <= FRESH_MS
                    && choice.join.len() < GROUP_MAX =>
            {
                choice.join.push(i)
            }
            _ => {}
        }
    }
    choice
}

/// How recent the oldest entry must be for its writer to lead ([`leader`]): a leader commits
/// within seconds and takes its entry off; an older one is a crashed or stuck writer's, which
/// nobody waits for (it is still taken in while [`FRESH_MS`] lasts).
pub const LEAD_FRESH_MS: i64 = 30_000;

/// The entry whose writer leads the window: the oldest one on the board (`ids` as listed,
/// oldest first) posted in the last [`LEAD_FRESH_MS`], as its id says ([`posted_ms_of`]). Its
/// writer commits and takes the others in; the others wait for it.
pub fn leader(ids: &[String], now_ms: i64) -> Option<&str> {
    ids.iter()
        .find(|id| posted_ms_of(id).is_some_and(|at| now_ms - at <= LEAD_FRESH_MS))
        .map(String::as_str)
}

/// Whether a plain append leaves the building to the window's leader ([`leader`] of `listed`)
/// instead of committing now: while a leader other than its own entry (`own`, once posted)
/// leads, and for at most [`LEAD_WINDOW`] since it began to wait (`waited`, `None` before).
/// The window runs from the first wait whether or not posting worked, so a writer whose entry
/// could not be posted (nobody can take it in) waits no longer than one window.
pub fn defers(
    listed: &[String],
    own: Option<&str>,
    waited: Option<std::time::Duration>,
    now_ms: i64,
) -> bool {
    leader(listed, now_ms).is_some_and(|lead| own != Some(lead))
        && waited.is_none_or(|w| w < LEAD_WINDOW)
}

/// When an entry was posted, from its id (`<posted ms, 13 digits>-<uuid>`, so that a listing
/// is oldest first); `None` for an id of another shape.
pub fn posted_ms_of(id: &str) -> Option<i64> {
    id.split_once('-')?.0.parse().ok()
}

/// The board's id of an entry posted at `posted_ms`.
fn new_id(posted_ms: i64) -> String {
    format!("{:013}-{}", posted_ms.max(0), uuid::Uuid::new_v4())
}

/// What `table` holds of each of `sources` ([`Presence`]), from one pass over its manifests.
pub async fn presence(
    table: &Table,
    sources: &BTreeSet<&str>,
) -> Result<HashMap<String, Presence>, Error> {
    let mut out: HashMap<String, Presence> = sources
        .iter()
        .map(|s| (s.to_string(), Presence::Absent))
        .collect();
    let md = table.metadata();
    let Some(snap) = md.current_snapshot() else {
        return Ok(out);
    };
    if sources.is_empty() {
        return Ok(out);
    }
    let (src_id, ver_id) = crate::commit::lineage_ids(table)?;
    let list = table.manifest_list_reader(snap).load().await?;
    for mf in list.entries() {
        let m = mf.load_manifest(table.file_io()).await?;
        for e in m.entries().iter().filter(|e| e.is_alive()) {
            let df = e.data_file();
            let (lo, hi) = (
                df.lower_bounds().get(&src_id).and_then(text),
                df.upper_bounds().get(&src_id).and_then(text),
            );
            let (Some(lo), Some(hi)) = (lo, hi) else {
                // No bounds: the file may hold any key.
                out.values_mut().for_each(|p| *p = Presence::Unclear);
                return Ok(out);
            };
            if lo > hi {
                continue;
            }
            let version = match (
                df.lower_bounds().get(&ver_id).and_then(text),
                df.upper_bounds().get(&ver_id).and_then(text),
            ) {
                (Some(a), Some(b)) if a == b => Some(a),
                _ => None,
            };
            for s in sources.range(lo..=hi) {
                let p = out.get_mut(*s).expect("every source has an entry");
                *p = match (&*p, lo == hi, version) {
                    (Presence::Absent, true, Some(v)) => Presence::Exactly(v.to_string()),
                    (Presence::Exactly(was), true, Some(v)) if was == v => {
                        Presence::Exactly(v.into())
                    }
                    _ => Presence::Unclear,
                };
            }
        }
    }
    Ok(out)
}

/// The board of a lake bucket: one JSON object per pending delivery under
/// `<prefix><namespace>/<table>/`, named by the time it was posted (so a listing is oldest
/// first) and a fresh id.
pub struct S3Board {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3Board {
    /// The board under `s3://<bucket>/<prefix>` (normally [`PENDING_PREFIX`]).
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> S3Board {
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        S3Board {
            s3,
            bucket: bucket.to_string(),
            prefix,
        }
    }

    /// The board named by an `s3://bucket/prefix/` URI.
    pub fn from_uri(s3: aws_sdk_s3::Client, uri: &str) -> Result<S3Board, String> {
        let rest = uri.strip_prefix("s3://").ok_or_else(|| {
            format!("{uri:?}: the pending deliveries' place must be s3://BUCKET/PREFIX/")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{uri:?}: no bucket"));
        }
        Ok(S3Board::new(s3, bucket, prefix))
    }

    fn folder(&self, table: &TableIdent) -> String {
        format!(
            "{}{}/{}/",
            self.prefix,
            table.namespace().join("."),
            table.name()
        )
    }

    fn sdk<E: std::error::Error + 'static>(&self, what: &str, e: E) -> Error {
        Error::Catalog(format!(
            "{what} s3://{}/{}: {}",
            self.bucket,
            self.prefix,
            aws_sdk_s3::error::DisplayErrorContext(e)
        ))
    }
}

impl Board for S3Board {
    fn post<'a>(
        &'a self,
        table: &'a TableIdent,
        entry: &'a Pending,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async move {
            let id = new_id(entry.posted_ms);
            let body = serde_json::to_vec(entry).expect("an entry serialises");
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(format!("{}{id}.json", self.folder(table)))
                .content_type("application/json")
                .body(body.into())
                .send()
                .await
                .map_err(|e| self.sdk("posting a pending delivery to", e))?;
            Ok(id)
        })
    }

    fn list<'a>(
        &'a self,
        table: &'a TableIdent,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, Error>> {
        Box::pin(async move {
            let folder = self.folder(table);
            let listed = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&folder)
                .max_keys(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
                .send()
                .await
                .map_err(|e| self.sdk("listing the pending deliveries in", e))?;
            Ok(listed
                .contents()
                .iter()
                .filter_map(|o| {
                    o.key()?
                        .strip_prefix(folder.as_str())?
                        .strip_suffix(".json")
                })
                .map(str::to_string)
                .collect())
        })
    }

    fn read<'a>(
        &'a self,
        table: &'a TableIdent,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Posted>, Error>> {
        Box::pin(async move {
            let folder = self.folder(table);
            let keys: Vec<(String, String)> = ids
                .iter()
                .map(|id| (id.clone(), format!("{folder}{id}.json")))
                .collect();
            // Read in parallel; an entry gone meanwhile (its writer finished) is skipped, and
            // so is one cut off or that does not parse (logged: nothing commits what it cannot
            // read, and its own writer still commits it).
            let read = futures_util::stream::iter(keys)
                .map(|(id, key)| async move {
                    let got = self.s3.get_object().bucket(&self.bucket).key(&key).send().await;
                    let out = match got {
                        Ok(o) => match o.body.collect().await {
                            Ok(b) => Some(b.into_bytes()),
                            Err(e) => {
                                tracing::warn!(key = %key, error = %e, "a pending delivery could not be read whole; skipped (its writer commits it)");
                                None
                            }
                        },
                        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => None,
                        Err(e) => return Err(self.sdk("reading a pending delivery in", e)),
                    };
                    Ok(out.and_then(|bytes| match serde_json::from_slice(&bytes) {
                        Ok(entry) => Some(Posted { id, entry }),
                        Err(e) => {
                            tracing::warn!(key = %key, error = %e, "a pending delivery that does not parse; skipped");
                            None
                        }
                    }))
                })
                .buffered(16)
                .try_collect::<Vec<_>>()
                .await?;
            Ok(read.into_iter().flatten().collect())
        })
    }

    fn remove<'a>(
        &'a self,
        table: &'a TableIdent,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let folder = self.folder(table);
            for chunk in ids.chunks(1000) {
                let objects = chunk
                    .iter()
                    .map(|id| {
                        aws_sdk_s3::types::ObjectIdentifier::builder()
                            .key(format!("{folder}{id}.json"))
                            .build()
                            .expect("a key is set")
                    })
                    .collect();
                let out = self
                    .s3
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(
                        aws_sdk_s3::types::Delete::builder()
                            .set_objects(Some(objects))
                            .quiet(true)
                            .build()
                            .expect("objects are set"),
                    )
                    .send()
                    .await
                    .map_err(|e| self.sdk("taking pending deliveries off", e))?;
                // A quiet DeleteObjects answers 200 and lists only the keys it refused.
                if let Some(e) = out.errors().first() {
                    return Err(Error::Catalog(format!(
                        "taking pending deliveries off s3://{}/{folder}: {} of {} refused, {}: {} ({})",
                        self.bucket,
                        out.errors().len(),
                        chunk.len(),
                        e.key().unwrap_or("?"),
                        e.code().unwrap_or("?"),
                        e.message().unwrap_or("")
                    )));
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Delivery {
        Delivery {
            source: "raw/orders/a.csv".into(),
            version: "v1".into(),
            execution: Some("e-a".into()),
            engine: "lambda".into(),
            date: None,
        }
    }

    fn posted(id: &str, source: &str, version: &str, posted_ms: i64, spec_id: i32) -> Posted {
        Posted {
            id: id.into(),
            entry: Pending {
                delivery: Delivery {
                    source: source.into(),
                    version: version.into(),
                    execution: None,
                    engine: "lambda".into(),
                    date: None,
                },
                spec_id,
                files: vec![],
                posted_ms,
            },
        }
    }

    #[test]
    fn a_commit_takes_in_fresh_plain_appends_once_per_key() {
        use Presence::*;
        let now = 10 * FRESH_MS;
        // (entry, what the table holds of its key, joins?, done?)
        let cases: Vec<(Posted, Presence, bool, bool)> = vec![
            (posted("b", "raw/b", "v1", now, 0), Absent, true, false),
            // already committed at its version: done, not added again
            (
                posted("c", "raw/c", "v1", now, 0),
                Exactly("v1".into()),
                false,
                true,
            ),
            // the table holds another version: a replacement, left to its own writer
            (
                posted("d", "raw/d", "v2", now, 0),
                Exactly("v1".into()),
                false,
                false,
            ),
            // files shared with other keys may hold it: left to its own writer
            (posted("e", "raw/e", "v1", now, 0), Unclear, false, false),
            // a crashed writer's entry, too old to commit for it
            (
                posted("f", "raw/f", "v1", now - FRESH_MS - 1, 0),
                Absent,
                false,
                false,
            ),
            // described on another partition spec
            (posted("g", "raw/g", "v1", now, 1), Absent, false, false),
            // the own delivery posted (by this writer or a duplicate): done with this commit
            (
                posted("h", "raw/orders/a.csv", "v1", now, 0),
                Absent,
                false,
                true,
            ),
            // the own key at another version: never in this snapshot
            (
                posted("i", "raw/orders/a.csv", "v0", now, 0),
                Absent,
                false,
                false,
            ),
        ];
        for (entry, held, joins, done) in cases {
            let presence = HashMap::from([(entry.entry.delivery.source.clone(), held.clone())]);
            let c = choose(&own(), std::slice::from_ref(&entry), &presence, 0, now);
            assert_eq!(
                (c.join == vec![0], c.done == vec![0]),
                (joins, done),
                "{} with {held:?}",
                entry.id
            );
        }
    }

    #[test]
    fn two_versions_of_one_key_on_the_board_are_left_to_their_writers() {
        let now = 1_000;
        let board = vec![
            posted("a", "raw/x", "v1", now, 0),
            posted("b", "raw/x", "v2", now, 0),
            posted("c", "raw/y", "v1", now, 0),
        ];
        let presence = HashMap::from([
            ("raw/x".to_string(), Presence::Absent),
            ("raw/y".to_string(), Presence::Absent),
        ]);
        let c = choose(&own(), &board, &presence, 0, now);
        assert_eq!(c.join, vec![2]);
        assert!(c.done.is_empty());
    }

    #[test]
    fn the_oldest_recent_entry_leads() {
        let now = 10 * FRESH_MS;
        let (crashed, first, second) = (
            new_id(now - LEAD_FRESH_MS - 1),
            new_id(now - 10),
            new_id(now),
        );
        assert_eq!(posted_ms_of(&first), Some(now - 10));
        let board = vec![
            crashed.clone(),
            "not-an-id".to_string(),
            first.clone(),
            second,
        ];
        assert_eq!(leader(&board, now), Some(first.as_str()));
        assert_eq!(leader(&[crashed], now), None);
        assert_eq!(leader(&[], now), None);
    }

    #[test]
    fn a_writer_waits_for_another_leader_one_window_at_most() {
        let now = 1_000_000;
        let id = |ms: i64, tag: &str| format!("{ms:013}-{tag}");
        let burst = [id(now - 1_000, "a"), id(now - 500, "b")];
        let stale = [id(now - 31_000, "a")];
        let s = std::time::Duration::from_secs;
        // (the board's listing, its own entry, how long it has waited, whether it waits on)
        type Case<'a> = (
            &'a [String],
            Option<&'a str>,
            Option<std::time::Duration>,
            bool,
        );
        let cases: &[Case] = &[
            // Another writer's entry leads: wait, posted or not, within the window.
            (&burst, None, None, true),
            (&burst, Some(burst[1].as_str()), Some(s(1)), true),
            // Not posted (posting failed) after a whole window: commit alone.
            (&burst, None, Some(s(5)), false),
            (&burst, Some(burst[1].as_str()), Some(s(6)), false),
            // Its own entry leads, or nobody recent does, or the board is empty: commit.
            (&burst, Some(burst[0].as_str()), Some(s(1)), false),
            (&stale, None, None, false),
            (&[], None, None, false),
        ];
        for (listed, own, waited, want) in cases {
            assert_eq!(
                defers(listed, *own, *waited, now),
                *want,
                "{listed:?} {own:?} {waited:?}"
            );
        }
    }

    #[test]
    fn a_group_is_bounded() {
        let now = 1_000;
        let board: Vec<Posted> = (0..GROUP_MAX + 5)
            .map(|i| posted(&format!("p{i}"), &format!("raw/{i:04}"), "v1", now, 0))
            .collect();
        let presence = board
            .iter()
            .map(|p| (p.entry.delivery.source.clone(), Presence::Absent))
            .collect();
        let c = choose(&own(), &board, &presence, 0, now);
        assert_eq!(c.join, (0..GROUP_MAX).collect::<Vec<_>>());
    }

    #[test]
    fn a_board_is_named_by_its_uri() {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let b = S3Board::from_uri(s3.clone(), "s3://lake/_lakeline/pending").unwrap();
        let t = TableIdent::from_strs(["lakeline", "orders"]).unwrap();
        assert_eq!(b.folder(&t), "_lakeline/pending/lakeline/orders/");
        assert!(S3Board::from_uri(s3.clone(), "lake/x").is_err());
        assert!(S3Board::from_uri(s3, "s3:///x").is_err());
    }
}
