//! Helpers of the table tests (`tests/tables.rs` on a local warehouse, `tests/s3tables.rs` on
//! the emulator's S3 Tables): source files, appends, and a table's rows read back through
//! iceberg-rust's scan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use futures_util::TryStreamExt;
use lakeline_core::registry::Registry;
use lakeline_table::commit::Outcome;
use lakeline_table::local::{append_file, Append, Appended};
use lakeline_table::Tables;

use crate::unique;

/// `body` written to a file of its own; its path.
pub fn file_with(body: &[u8], name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("lakeline-src"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// `file` appended to `dataset`'s table as raw key `key`.
pub async fn append(
    tables: &Tables,
    reg: &Registry,
    dataset: &str,
    file: &Path,
    key: &str,
) -> Appended {
    let (name, ds) = reg.dataset(dataset).unwrap();
    let a = Append {
        file,
        key,
        version: None,
        execution: Some("test"),
    };
    append_file(tables, reg, name, ds, &a).await.unwrap()
}

/// The outcome of an append that was valid.
pub fn outcome(a: Appended) -> Outcome {
    match a {
        Appended::Done { outcome, .. } => outcome,
        Appended::Invalid(r) => panic!("invalid: {r:?}"),
    }
}

/// Every row of the dataset's current table, read back with iceberg-rust's scan:
/// `_lakeline_source` → its `id`s, sorted.
pub async fn rows_by_source(
    tables: &Tables,
    reg: &Registry,
    dataset: &str,
    id: &str,
) -> BTreeMap<String, Vec<i64>> {
    let (name, _) = reg.dataset(dataset).unwrap();
    let table = tables.load(&tables.ident(name)).await.unwrap().unwrap();
    let batches: Vec<RecordBatch> = table
        .scan()
        .select([id, "_lakeline_source"])
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for b in &batches {
        let ids = b.column_by_name(id).unwrap().as_primitive::<Int64Type>();
        let src = b
            .column_by_name("_lakeline_source")
            .unwrap()
            .as_string::<i32>();
        for i in 0..b.num_rows() {
            out.entry(src.value(i).to_string())
                .or_default()
                .push(ids.value(i));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// The first field of each data line of a CSV with a header: its ids, sorted.
pub fn csv_ids(body: &[u8]) -> Vec<i64> {
    let mut ids: Vec<i64> = std::str::from_utf8(body)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    ids.sort();
    ids
}

/// The first `n` lines of `body` (a header and `n - 1` rows of a CSV).
pub fn first_lines(body: &[u8], n: usize) -> Vec<u8> {
    body.split(|b| *b == b'\n')
        .take(n)
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect()
}

/// What [`race_committers`] leaves: the outcomes (the distinct keys' first, then the duplicate
/// pair's, then the two versions'), the table's rows by source, and the full rows' ids.
pub struct Race {
    /// Outcomes in the order described above.
    pub outcomes: Vec<Outcome>,
    /// The table's rows by `_lakeline_source`.
    pub rows: BTreeMap<String, Vec<i64>>,
    /// Lost races that were decided again, summed over all commits.
    pub lost: u32,
}

/// Commits racing on one `orders` table through two handles: after a seed delivery creates
/// the table, `distinct` keys (the handles taking turns), one delivery twice at once, and two
/// versions of one key at once. Asserts that nothing is lost or doubled: every key's rows are
/// there once, the duplicate committed once, and one version of the twice-written key whole.
pub async fn race_committers(
    a: std::sync::Arc<Tables>,
    b: std::sync::Arc<Tables>,
    reg: std::sync::Arc<Registry>,
    distinct: usize,
) -> Race {
    let body = crate::sample("orders/good.csv");
    let f = file_with(&body, "o.csv");
    let short = first_lines(&body, 3);
    let g = file_with(&short, "o.csv");
    // Create the table first: creation races are the sync's, not the commit's.
    outcome(append(&a, &reg, "orders", &f, "raw/orders/dt=2026-12-01/seed.csv").await);
    let mut jobs: Vec<(std::sync::Arc<Tables>, PathBuf, String)> = (0..distinct)
        .map(|i| {
            let t = if i % 2 == 0 { a.clone() } else { b.clone() };
            (t, f.clone(), format!("raw/orders/dt=2026-12-01/k{i}.csv"))
        })
        .collect();
    // The same delivery twice at once, and two versions of one key at once.
    let dup = "raw/orders/dt=2026-12-01/dup.csv".to_string();
    let two = "raw/orders/dt=2026-12-01/two.csv".to_string();
    jobs.push((a.clone(), f.clone(), dup.clone()));
    jobs.push((b.clone(), f.clone(), dup.clone()));
    jobs.push((a.clone(), f.clone(), two.clone()));
    jobs.push((b.clone(), g.clone(), two.clone()));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(t, file, key)| {
            let reg = reg.clone();
            tokio::spawn(async move { outcome(append(&t, &reg, "orders", &file, &key).await) })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let lost = outcomes
        .iter()
        .map(|o| match o {
            Outcome::Committed { attempts, .. } | Outcome::CommittedInGroup { attempts, .. } => {
                attempts - 1
            }
            Outcome::AlreadyCommitted { .. } => 0,
            Outcome::Superseded { .. } => panic!("local appends are unguarded: {o:?}"),
        })
        .sum();
    let rows = rows_by_source(&a, &reg, "orders", "order_id").await;
    let full = csv_ids(&body);
    for i in 0..distinct {
        assert_eq!(
            rows[&format!("raw/orders/dt=2026-12-01/k{i}.csv")],
            full,
            "k{i}"
        );
    }
    assert_eq!(rows[&dup], full, "the duplicate is in once");
    assert!(
        rows[&two] == full || rows[&two] == csv_ids(&short),
        "one version of two.csv whole: {:?}",
        rows[&two]
    );
    assert_eq!(
        rows.len(),
        distinct + 3,
        "the seed, the distinct keys, dup and two"
    );
    let dup_commits = outcomes[distinct..distinct + 2]
        .iter()
        .filter(|o| {
            matches!(
                o,
                Outcome::Committed { .. } | Outcome::CommittedInGroup { .. }
            )
        })
        .count();
    assert_eq!(dup_commits, 1, "{outcomes:?}");
    Race {
        outcomes,
        rows,
        lost,
    }
}

/// The dataset's table at a glance.
pub async fn view(
    tables: &Tables,
    reg: &Registry,
    dataset: &str,
) -> lakeline_table::show::TableView {
    let (name, _) = reg.dataset(dataset).unwrap();
    let t = tables.load_table(&tables.ident(name)).await.unwrap();
    lakeline_table::show::show(&t).await.unwrap()
}

/// One key's deliveries into the `orders` table: an export is committed once (the same bytes
/// again add no snapshot), its corrected export replaces its rows in one overwrite, and
/// another key lands beside it. Asserts each outcome, the rows read back and the snapshots;
/// returns the table after the first commit and at the end.
pub async fn deliveries_commit_once(
    tables: &Tables,
    reg: &Registry,
) -> (
    lakeline_table::show::TableView,
    lakeline_table::show::TableView,
) {
    let key = "raw/orders/dt=2026-12-01/export.csv";
    let v1 = crate::sample("orders/good.csv");
    let f1 = file_with(&v1, "export.csv");
    let o = outcome(append(tables, reg, "orders", &f1, key).await);
    assert!(
        matches!(o, Outcome::Committed { ref operation, added_rows: 20, removed_files: 0, .. } if operation == "append"),
        "{o:?}"
    );
    let first = view(tables, reg, "orders").await;

    // The same bytes again (a retry, a duplicate event): no new snapshot, the same rows.
    let o = outcome(append(tables, reg, "orders", &f1, key).await);
    assert!(
        matches!(o, Outcome::AlreadyCommitted { files: 1, .. }),
        "{o:?}"
    );
    let again = view(tables, reg, "orders").await;
    assert_eq!(again.snapshots.len(), 1);
    assert_eq!(again.metadata_location, first.metadata_location);
    assert_eq!(
        rows_by_source(tables, reg, "orders", "order_id").await[key],
        csv_ids(&v1)
    );

    // A corrected export under the same key: its rows replace the old ones in one snapshot.
    let v2 = first_lines(&v1, 4);
    let f2 = file_with(&v2, "export.csv");
    let o = outcome(append(tables, reg, "orders", &f2, key).await);
    assert!(
        matches!(o, Outcome::Committed { ref operation, added_rows: 3, removed_files: 1, removed_rows: 20, .. } if operation == "overwrite"),
        "{o:?}"
    );
    // Another key lands beside it.
    let other = "raw/orders/dt=2026-12-02/other.csv";
    outcome(append(tables, reg, "orders", &f1, other).await);

    let rows = rows_by_source(tables, reg, "orders", "order_id").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[key], csv_ids(&v2), "only the corrected rows of {key}");
    assert_eq!(rows[other], csv_ids(&v1));
    let v = view(tables, reg, "orders").await;
    assert_eq!((v.rows, v.data_files), (23, 2));
    let ops: Vec<_> = v
        .snapshots
        .iter()
        .map(|s| (s.operation.as_str(), s.sources.clone()))
        .collect();
    assert_eq!(
        ops,
        [
            ("append", vec![key.to_string()]),
            ("overwrite", vec![key.to_string()]),
            ("append", vec![other.to_string()]),
        ]
    );
    (first, v)
}

/// Every row of the dataset's current table, each rendered as text (all columns, in schema
/// order), sorted: two reads compare value for value.
pub async fn all_rows(tables: &Tables, reg: &Registry, dataset: &str) -> Vec<String> {
    use arrow_cast::display::{ArrayFormatter, FormatOptions};
    let (name, _) = reg.dataset(dataset).unwrap();
    let table = tables.load(&tables.ident(name)).await.unwrap().unwrap();
    let batches: Vec<RecordBatch> = table
        .scan()
        .select_all()
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let opts = FormatOptions::default();
    let mut out = Vec::new();
    for b in &batches {
        let cols: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| c.value(i).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out.sort();
    out
}

/// Compaction, a corrected upload and undo on one `orders` partition, read back after each:
/// - five deliveries, compacted into one file by one `replace` snapshot: every row the same,
///   value for value, each still under its key;
/// - a corrected upload of one of those keys: its rows leave the compacted file (rewritten
///   without them) in the snapshot that adds the new ones; the other keys' rows untouched;
/// - the same corrected upload again: already committed, no snapshot;
/// - undo of another key: its rows leave the compacted file in one snapshot; undo again finds
///   nothing and commits nothing; a dry run of compaction after all this plans nothing due.
///
/// `reg`'s `orders` must compact at once (closed partitions, `min_small_files` ≤ 5).
pub async fn compaction_undo_and_correction(tables: &Tables, reg: &Registry) {
    use lakeline_table::maintain::{compact, undo};
    let (name, ds) = reg.dataset("orders").unwrap();
    let settings = ds.compaction.clone().unwrap_or_default();
    let ident = tables.ident(name);
    let full = crate::sample("orders/good.csv");
    let keys: Vec<String> = (0..5)
        .map(|i| format!("raw/orders/dt=2026-11-20/part-{i}.csv"))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        // Each key its own rows: the first 3 + i lines of the sample.
        let body = first_lines(&full, 3 + i);
        let f = file_with(&body, "part.csv");
        outcome(append(tables, reg, "orders", &f, key).await);
    }
    let before = all_rows(tables, reg, "orders").await;
    let by_source = rows_by_source(tables, reg, "orders", "order_id").await;
    assert_eq!(by_source.len(), 5);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    let dry = compact(tables, &ident, &settings, now, None, true, &mut ())
        .await
        .unwrap();
    assert!(!dry.committed);
    assert_eq!(
        dry.partitions[0].groups.iter().map(Vec::len).sum::<usize>(),
        5
    );
    assert_eq!(
        view(tables, reg, "orders").await.data_files,
        5,
        "a dry run writes nothing"
    );

    let done = compact(tables, &ident, &settings, now, None, false, &mut ())
        .await
        .unwrap();
    assert!(done.committed, "{done:?}");
    assert_eq!((done.files_in, done.files_out), (5, 1), "{done:?}");
    let v = view(tables, reg, "orders").await;
    assert_eq!(v.data_files, 1);
    let last = v.snapshots.last().unwrap();
    assert_eq!(last.operation, "replace");
    assert_eq!(last.rewrite.as_deref(), Some("compact"));
    assert_eq!(all_rows(tables, reg, "orders").await, before);
    assert_eq!(
        rows_by_source(tables, reg, "orders", "order_id").await,
        by_source
    );

    // A corrected upload of part-1: its old rows leave the compacted file.
    let corrected = first_lines(&full, 2);
    let f = file_with(&corrected, "part.csv");
    let o = outcome(append(tables, reg, "orders", &f, &keys[1]).await);
    assert!(
        matches!(&o, Outcome::Committed { operation, removed_rows, .. }
            if operation == "overwrite" && *removed_rows == by_source[&keys[1]].len() as u64),
        "{o:?}"
    );
    let mut want = by_source.clone();
    want.insert(keys[1].clone(), csv_ids(&corrected));
    assert_eq!(
        rows_by_source(tables, reg, "orders", "order_id").await,
        want
    );
    let snapshots = view(tables, reg, "orders").await.snapshots.len();
    let again = outcome(append(tables, reg, "orders", &f, &keys[1]).await);
    assert!(
        matches!(again, Outcome::AlreadyCommitted { .. }),
        "{again:?}"
    );
    assert_eq!(view(tables, reg, "orders").await.snapshots.len(), snapshots);

    // Undo of part-3: its rows leave the compacted file; the others stay, value for value.
    let date = lakeline_table::local::key_date(ds, &keys[3]).unwrap();
    let u = undo(tables, &ident, &keys[3], date, None, false)
        .await
        .unwrap();
    assert!(u.committed, "{u:?}");
    assert_eq!(u.rows, by_source[&keys[3]].len() as u64);
    assert_eq!(u.rewritten_files.len(), 1, "{u:?}");
    want.remove(&keys[3]);
    assert_eq!(
        rows_by_source(tables, reg, "orders", "order_id").await,
        want
    );
    let kept: Vec<String> = before
        .iter()
        .filter(|r| !r.contains(&keys[3]) && !r.contains(&keys[1]))
        .cloned()
        .collect();
    let after: Vec<String> = all_rows(tables, reg, "orders")
        .await
        .into_iter()
        .filter(|r| !r.contains(&keys[1]))
        .collect();
    assert_eq!(after, kept);
    let last = view(tables, reg, "orders")
        .await
        .snapshots
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last.rewrite.as_deref(), Some("undo"));
    assert_eq!(last.removed_sources, vec![keys[3].clone()]);
    let none = undo(tables, &ident, &keys[3], date, None, false)
        .await
        .unwrap();
    assert!(!none.committed && none.rows == 0, "{none:?}");
}

/// A registry whose `orders` partitions compact as soon as five small files are there.
pub fn compacting_registry() -> Registry {
    let mut reg = crate::shipped_registry();
    for (name, ds) in reg.datasets.iter_mut() {
        if name.as_str() == "orders" {
            let mut s = ds.compaction.clone().unwrap_or_default();
            s.quiet_minutes = 0;
            s.grace_days = 0;
            s.min_small_files = 5;
            ds.compaction = Some(s);
        }
    }
    reg
}

/// Erase on `orders`: five deliveries compacted into one file, a sixth in its own file; the
/// rows of one customer (in every delivery) erased in one snapshot, counted per file, their
/// raw keys listed, every other row the same value for value; the snapshot names the column,
/// never the value; a filter on two columns; a filter on a column the table lacks changes
/// nothing. `reg`'s `orders` must compact at once.
pub async fn erase_scenario(tables: &Tables, reg: &Registry) {
    use lakeline_core::erase::parse_where;
    use lakeline_table::erase::erase;
    use lakeline_table::maintain::compact;
    let (name, ds) = reg.dataset("orders").unwrap();
    let ident = tables.ident(name);
    let full = crate::sample("orders/good.csv");
    let keys: Vec<String> = (0..6)
        .map(|i| format!("raw/orders/dt=2026-11-22/e-{i}.csv"))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        let f = file_with(&first_lines(&full, 3 + i), "e.csv");
        outcome(append(tables, reg, "orders", &f, key).await);
        if i == 4 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
                + 1;
            let settings = ds.compaction.clone().unwrap_or_default();
            let c = compact(tables, &ident, &settings, now, None, false, &mut ())
                .await
                .unwrap();
            assert!(c.committed, "{c:?}");
        }
    }
    let before = all_rows(tables, reg, "orders").await;
    let anna = |r: &String| r.contains("Anna Müller");
    assert_eq!(before.iter().filter(|r| anna(r)).count(), 6);

    let filter = parse_where("customer = 'Anna Müller'").unwrap();
    let dry = erase(tables, &ident, &filter, true, &mut ()).await.unwrap();
    assert!(!dry.committed);
    assert_eq!(dry.rows, 6);
    assert_eq!(
        dry.files.len(),
        2,
        "the compacted file and the sixth delivery's: {dry:?}"
    );
    assert_eq!(
        all_rows(tables, reg, "orders").await,
        before,
        "a dry run erases nothing"
    );

    let mut steps = Steps::default();
    let done = erase(tables, &ident, &filter, false, &mut steps)
        .await
        .unwrap();
    assert!(done.committed, "{done:?}");
    assert_eq!(done.rows, 6);
    // What a command shows as it goes: every candidate file read, every matching one rewritten.
    let rewriting = steps
        .0
        .iter()
        .position(|s| s.starts_with("rewriting"))
        .unwrap();
    assert!(steps.0[0].starts_with("reading"), "{:?}", steps.0);
    assert_eq!(
        steps.0.len() - rewriting - 1,
        done.files.len(),
        "{:?}",
        steps.0
    );
    assert_eq!(done.files.values().sum::<u64>(), 6);
    assert_eq!(done.sources, keys.iter().cloned().collect());
    let after = all_rows(tables, reg, "orders").await;
    assert_eq!(
        after,
        before
            .iter()
            .filter(|r| !anna(r))
            .cloned()
            .collect::<Vec<_>>()
    );
    let last = view(tables, reg, "orders")
        .await
        .snapshots
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last.rewrite.as_deref(), Some("erase"));
    assert_eq!(last.erased_columns, vec!["customer".to_string()]);
    assert_eq!(last.deleted_rows - last.added_rows, 6);

    // Two columns: only the row matching both goes.
    let both =
        parse_where("customer IN ('O''Brien, Siobhán', 'nobody') AND order_id = 100204").unwrap();
    let done = erase(tables, &ident, &both, false, &mut ()).await.unwrap();
    assert_eq!(done.rows, 4, "{done:?}"); // keys 2..5 hold row 100204
    let after2 = all_rows(tables, reg, "orders").await;
    assert_eq!(after2.len(), after.len() - 4);
    assert!(after2.iter().all(|r| !r.starts_with("100204|")));

    // Nothing matches: nothing committed.
    let snapshots = view(tables, reg, "orders").await.snapshots.len();
    let none = erase(tables, &ident, &filter, false, &mut ())
        .await
        .unwrap();
    assert!(!none.committed && none.rows == 0, "{none:?}");
    assert_eq!(view(tables, reg, "orders").await.snapshots.len(), snapshots);
    let e = erase(
        tables,
        &ident,
        &parse_where("email = 'x'").unwrap(),
        false,
        &mut (),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("no column \"email\""), "{e}");
}

/// The phases and steps a table operation reported (`phase N` lines, then its steps).
#[derive(Default)]
pub struct Steps(pub Vec<String>);

impl lakeline_table::Observer for Steps {
    fn phase(&mut self, what: &str, total: u64) {
        self.0.push(format!("{what} {total}"));
    }

    fn step(&mut self, line: &str) {
        self.0.push(line.to_string());
    }
}
