//! Deliveries into Iceberg tables on a local warehouse: exactly once, a new version replacing
//! its rows in one snapshot, nothing committed for an invalid file, and committers racing on
//! one table losing and doubling nothing. The table is read back through iceberg-rust's scan
//! and compared with the source files; `tests/tables/` reads the same with pyiceberg and
//! DuckDB.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lakeline_table::commit::{try_commit, Attempt, Delivery, Outcome, Unguarded};
use lakeline_table::local::Appended;
use lakeline_table::{Tables, Target};
use lakeline_tests::tables::{
    append, compacting_registry, compaction_undo_and_correction, deliveries_commit_once,
    erase_scenario, file_with, outcome, race_committers, rows_by_source, view,
};
use lakeline_tests::{sample, shipped_registry, unique};

/// A fresh warehouse directory of its own.
fn warehouse() -> PathBuf {
    std::env::temp_dir().join(unique("lakeline-wh"))
}

/// A fresh warehouse directory and its tables.
async fn fresh() -> (PathBuf, Tables) {
    let wh = warehouse();
    let tables = Tables::open(&Target::Warehouse(wh.clone())).await.unwrap();
    (wh, tables)
}

/// The Parquet files under the table's data directory: a lost or duplicate commit leaves none
/// behind.
fn data_files_on_disk(wh: &Path, table: &str) -> usize {
    fn walk(p: &Path, n: &mut usize) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, n);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&wh.join("lakeline").join(table).join("data"), &mut n);
    n
}

#[tokio::test]
async fn a_delivery_commits_once_and_a_new_version_replaces_its_rows() {
    let reg = shipped_registry();
    let (wh, tables) = fresh().await;
    deliveries_commit_once(&tables, &reg).await;
    // The replaced file stays on disk for time travel (expiry removes it); the duplicate
    // wrote none.
    assert_eq!(data_files_on_disk(&wh, "orders"), 3);
}

#[tokio::test]
async fn compaction_then_a_correction_and_an_undo_inside_the_compacted_file() {
    let reg = compacting_registry();
    let (_, tables) = fresh().await;
    compaction_undo_and_correction(&tables, &reg).await;
}

#[tokio::test]
async fn an_invalid_file_commits_nothing_and_leaves_no_file() {
    let reg = shipped_registry();
    let (wh, tables) = fresh().await;
    let bad = file_with(&sample("orders/bad.csv"), "bad.csv");
    let a = append(
        &tables,
        &reg,
        "orders",
        &bad,
        "raw/orders/dt=2026-12-01/bad.csv",
    )
    .await;
    let Appended::Invalid(report) = a else {
        panic!("bad.csv was accepted")
    };
    assert!(!report.problems.is_empty());
    // A key outside the dataset's pattern is the file's problem too.
    let good = file_with(&sample("orders/good.csv"), "good.csv");
    let a = append(&tables, &reg, "orders", &good, "raw/orders/good.csv").await;
    assert!(matches!(a, Appended::Invalid(_)));
    let v = view(&tables, &reg, "orders").await;
    assert_eq!((v.snapshot_id, v.rows, v.snapshots.len()), (None, 0, 0));
    assert_eq!(data_files_on_disk(&wh, "orders"), 0);
}

#[tokio::test]
async fn an_attempt_built_on_a_stale_version_is_lost_and_leaves_nothing() {
    let reg = shipped_registry();
    let (wh, tables) = fresh().await;
    let f = file_with(&sample("returns/good.tsv"), "a.tsv");
    outcome(
        append(
            &tables,
            &reg,
            "returns",
            &f,
            "raw/returns/dt=2026-12-01/a.tsv",
        )
        .await,
    );
    let (name, _) = reg.dataset("returns").unwrap();
    let ident = tables.ident(name);
    let stale = tables.load(&ident).await.unwrap().unwrap();
    // Another writer commits after `stale` was read…
    outcome(
        append(
            &tables,
            &reg,
            "returns",
            &f,
            "raw/returns/dt=2026-12-01/b.tsv",
        )
        .await,
    );
    let now = tables.load(&ident).await.unwrap().unwrap();
    let metadata_dir = wh.join("lakeline/returns/metadata");
    let files_before = std::fs::read_dir(&metadata_dir).unwrap().count();
    // …so a commit decided and built on `stale` is not published, and takes its files away.
    let d = Delivery {
        source: "raw/returns/dt=2026-12-01/c.tsv".into(),
        version: "v1".into(),
        execution: None,
        engine: "test".into(),
        date: Some(20_788),
    };
    let r = try_commit(&tables, &stale, &d, &Unguarded, &[])
        .await
        .unwrap();
    assert!(matches!(r, Attempt::Lost), "{r:?}");
    assert_eq!(
        std::fs::read_dir(&metadata_dir).unwrap().count(),
        files_before
    );
    let after = tables.load(&ident).await.unwrap().unwrap();
    assert_eq!(after.metadata_location(), now.metadata_location());
    assert!(!tables
        .swap(
            &ident,
            stale.metadata_location().unwrap(),
            "file:///nowhere.json",
            stale.metadata()
        )
        .await
        .unwrap());
    // Decided again on the current version, it goes through.
    let r = try_commit(&tables, &after, &d, &Unguarded, &[])
        .await
        .unwrap();
    assert!(
        matches!(r, Attempt::Done(Outcome::Committed { .. })),
        "{r:?}"
    );
}

#[tokio::test]
async fn racing_committers_lose_nothing_and_double_nothing() {
    let reg = Arc::new(shipped_registry());
    let wh = warehouse();
    // Two handles, as two processes would have: each its own catalog connection.
    let a = Arc::new(Tables::open(&Target::Warehouse(wh.clone())).await.unwrap());
    let b = Arc::new(Tables::open(&Target::Warehouse(wh.clone())).await.unwrap());
    let race = race_committers(a.clone(), b, reg.clone(), 6).await;
    // The table lock makes lakeline's own committers take turns (a lost race would only show
    // with a writer that takes no lock: tests/tables races pyiceberg against them).
    eprintln!(
        "10 concurrent commits lost {} races and decided again",
        race.lost
    );
    // Every data file on disk is in the table, or was replaced by the second version of
    // two.csv: losers and duplicates deleted theirs.
    let v = view(&a, &reg, "orders").await;
    let replaced = race.outcomes[8..]
        .iter()
        .filter(|o| {
            matches!(
                o,
                Outcome::Committed {
                    removed_files: 1,
                    ..
                }
            )
        })
        .count();
    assert_eq!(data_files_on_disk(&wh, "orders"), v.data_files + replaced);
    let total: u64 = race.rows.values().map(|v| v.len() as u64).sum();
    assert_eq!(v.rows, total);
}

#[tokio::test]
async fn a_table_grown_one_append_at_a_time_keeps_a_bounded_manifest_list() {
    use iceberg::transaction::{ApplyTransactionAction, Transaction};
    use lakeline_table::commit::MERGE_PROPERTY;
    let reg = shipped_registry();
    let tables = Tables::open(&Target::Warehouse(warehouse())).await.unwrap();
    let (name, ds) = reg.dataset("returns").unwrap();
    let (table, _) = lakeline_table::sync::sync_table(&tables, name, ds)
        .await
        .unwrap();
    // Merge above 4 manifests (Iceberg's default is 100: the same code, a shorter test). A
    // property change is the one commit iceberg-rust's own transaction may make for us.
    let tx = Transaction::new(&table);
    let tx = tx
        .update_table_properties()
        .set(MERGE_PROPERTY.into(), "4".into())
        .apply(tx)
        .unwrap();
    tx.commit(tables.catalog().unwrap()).await.unwrap();
    let body = sample("returns/good.tsv");
    let f = file_with(&body, "r.tsv");
    let n = 11;
    // Two dates, so manifests of one are ruled out by their partition summaries.
    let key = |i: usize| format!("raw/returns/dt=2026-12-0{}/r{i:03}.tsv", 1 + i % 2);
    for i in 0..n {
        outcome(append(&tables, &reg, "returns", &f, &key(i)).await);
    }
    let table = tables.load(&tables.ident(name)).await.unwrap().unwrap();
    let snap = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snap).load().await.unwrap();
    assert!(
        list.entries().len() <= 5,
        "{} manifests after {n} appends",
        list.entries().len()
    );
    // The merged manifest still names every delivery: one found again, one replaced.
    let o = outcome(append(&tables, &reg, "returns", &f, &key(7)).await);
    assert!(
        matches!(o, Outcome::AlreadyCommitted { files: 1, .. }),
        "{o:?}"
    );
    let short = file_with(
        &body[..body.iter().position(|b| *b == b'\n').unwrap() + 1],
        "r.tsv",
    );
    let o = outcome(append(&tables, &reg, "returns", &short, &key(8)).await);
    assert!(
        matches!(
            o,
            Outcome::Committed {
                removed_files: 1,
                added_rows: 1,
                ..
            }
        ),
        "{o:?}"
    );
    let rows = rows_by_source(&tables, &reg, "returns", "return_id").await;
    assert_eq!(rows.len(), n);
    assert_eq!(rows[&key(8)], vec![5001]);
    assert!(rows
        .iter()
        .filter(|(k, _)| **k != key(8))
        .all(|(_, ids)| ids.len() == 5));
}

/// A compaction planned and written on one version of the table, published after other
/// commits: a new key committed meanwhile is carried over (never dropped); a new version of
/// one of its inputs' keys makes it stale, and it commits nothing and leaves no file.
#[tokio::test]
async fn a_rewrite_racing_deliveries_keeps_new_files_and_gives_up_when_its_inputs_changed() {
    use lakeline_table::maintain::{commit_rewrite, live_files};
    use lakeline_table::rewrite::rewrite;
    let reg = compacting_registry();
    let (wh, tables) = fresh().await;
    let full = sample("orders/good.csv");
    let key = |i: usize| format!("raw/orders/dt=2026-11-21/p{i}.csv");
    for i in 0..3 {
        let f = file_with(&lakeline_tests::tables::first_lines(&full, 3 + i), "p.csv");
        outcome(append(&tables, &reg, "orders", &f, &key(i)).await);
    }
    let (name, _) = reg.dataset("orders").unwrap();
    let ident = tables.ident(name);
    // Written on `base`, as a compaction does before it commits.
    let stage = |base: iceberg::table::Table| async move {
        let files = live_files(&base).await.unwrap();
        let paths: Vec<String> = files
            .iter()
            .map(|f| f.file.file_path().to_string())
            .collect();
        let keep = |b: &arrow_array::RecordBatch| {
            Ok(arrow_array::BooleanArray::from(vec![true; b.num_rows()]))
        };
        let out = rewrite(
            &base,
            &paths,
            files[0].file.partition(),
            files[0].spec_id,
            files[0].date(),
            &keep,
            u64::MAX,
        )
        .await
        .unwrap();
        (base, paths, out.files)
    };
    let props = std::collections::HashMap::new();

    // A new key lands after the rewrite was planned: the rewrite still commits, on top of it.
    let (base, inputs, outputs) = stage(tables.load_table(&ident).await.unwrap()).await;
    let f = file_with(&lakeline_tests::tables::first_lines(&full, 4), "p.csv");
    outcome(append(&tables, &reg, "orders", &f, &key(7)).await);
    let before = rows_by_source(&tables, &reg, "orders", "order_id").await;
    commit_rewrite(
        &tables,
        base,
        inputs,
        outputs,
        iceberg::spec::Operation::Replace,
        props.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        rows_by_source(&tables, &reg, "orders", "order_id").await,
        before
    );
    assert_eq!(view(&tables, &reg, "orders").await.data_files, 2);

    // A new version of a key inside the planned inputs lands first: the rewrite is stale.
    let (base, inputs, outputs) = stage(tables.load_table(&ident).await.unwrap()).await;
    let on_disk = data_files_on_disk(&wh, "orders");
    let f = file_with(&lakeline_tests::tables::first_lines(&full, 2), "p.csv");
    outcome(append(&tables, &reg, "orders", &f, &key(1)).await);
    let before = rows_by_source(&tables, &reg, "orders", "order_id").await;
    let e = commit_rewrite(
        &tables,
        base,
        inputs,
        outputs,
        iceberg::spec::Operation::Replace,
        props,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, lakeline_table::Error::Changed(_)), "{e}");
    assert_eq!(
        rows_by_source(&tables, &reg, "orders", "order_id").await,
        before
    );
    // The stale rewrite's output is gone; the correction's rewrite of the compacted file and
    // its own file are the two new ones.
    assert_eq!(data_files_on_disk(&wh, "orders"), on_disk - 1 + 2);
}

#[tokio::test]
async fn erase_takes_a_filters_rows_out_of_every_file_in_one_snapshot() {
    let reg = compacting_registry();
    let tables = Tables::open(&Target::Warehouse(warehouse())).await.unwrap();
    erase_scenario(&tables, &reg).await;
}

/// Rollback and expiry on a local warehouse: a rollback drops the snapshots after its target
/// (listed, with their deliveries), the table reads as it was; expiry then removes the
/// dropped and old snapshots and deletes only the files no kept snapshot references: the
/// table still reads whole, and the files the kept snapshot reads are all still there.
#[tokio::test]
async fn rollback_lists_what_it_drops_and_expiry_deletes_only_unreferenced_files() {
    use lakeline_table::maintain::{expire, rollback};
    let reg = shipped_registry();
    let (wh, tables) = fresh().await;
    let full = sample("orders/good.csv");
    let a = "raw/orders/dt=2026-11-23/a.csv".to_string();
    let b = "raw/orders/dt=2026-11-23/b.csv".to_string();
    outcome(append(&tables, &reg, "orders", &file_with(&full, "a.csv"), &a).await);
    outcome(append(&tables, &reg, "orders", &file_with(&full, "b.csv"), &b).await);
    let good = view(&tables, &reg, "orders").await;
    let rows = rows_by_source(&tables, &reg, "orders", "order_id").await;
    let short = lakeline_tests::tables::first_lines(&full, 3);
    outcome(append(&tables, &reg, "orders", &file_with(&short, "a.csv"), &a).await);
    let (name, _) = reg.dataset("orders").unwrap();
    let ident = tables.ident(name);
    let to = good.snapshot_id.unwrap();

    let dry = rollback(&tables, &ident, to, true).await.unwrap();
    assert!(!dry.committed);
    assert_eq!(dry.dropped.len(), 1);
    assert_eq!(dry.dropped[0].sources, vec![a.clone()]);
    assert_eq!(dry.dropped[0].operation, "overwrite");
    let done = rollback(&tables, &ident, to, false).await.unwrap();
    assert!(done.committed);
    assert_eq!(
        rows_by_source(&tables, &reg, "orders", "order_id").await,
        rows
    );
    assert_eq!(view(&tables, &reg, "orders").await.snapshot_id, Some(to));
    // Not an ancestor: refused, nothing changed.
    let e = rollback(&tables, &ident, 12345, false).await.unwrap_err();
    assert!(e.to_string().contains("not an ancestor"), "{e}");

    // Expire everything but the current snapshot: the rolled-back overwrite's data file and
    // the older snapshot's metadata go; every file the current snapshot reads stays.
    let on_disk = data_files_on_disk(&wh, "orders");
    assert_eq!(on_disk, 3);
    let future = i64::MAX;
    let dry = expire(&tables, &ident, future, 1, true).await.unwrap();
    assert!(!dry.committed);
    assert_eq!(dry.snapshots.len(), 2, "{dry:?}");
    assert_eq!(
        data_files_on_disk(&wh, "orders"),
        3,
        "a dry run deletes nothing"
    );
    let done = expire(&tables, &ident, future, 1, false).await.unwrap();
    assert!(done.committed);
    assert_eq!(
        done.files
            .iter()
            .filter(|f| f.ends_with(".parquet"))
            .count(),
        1,
        "only the overwrite's data file: {done:?}"
    );
    assert_eq!(data_files_on_disk(&wh, "orders"), 2);
    assert_eq!(
        rows_by_source(&tables, &reg, "orders", "order_id").await,
        rows
    );
    let v = view(&tables, &reg, "orders").await;
    assert_eq!(v.snapshots.len(), 1);
    for f in &v.files {
        assert!(
            std::path::Path::new(f.path.trim_start_matches("file://")).exists(),
            "{f:?}"
        );
    }
    // Nothing more to expire.
    let again = expire(&tables, &ident, future, 1, false).await.unwrap();
    assert!(!again.committed && again.snapshots.is_empty());
}

/// Expiry racing commits (two handles on one warehouse, as two processes would be): whichever
/// order they take, every delivery is in the table and every file the current snapshot reads
/// is still on disk.
#[tokio::test]
async fn expiry_racing_commits_never_deletes_a_file_the_table_reads() {
    use lakeline_table::maintain::expire;
    let reg = shipped_registry();
    let wh = warehouse();
    let one = Tables::open(&Target::Warehouse(wh.clone())).await.unwrap();
    let two = Tables::open(&Target::Warehouse(wh.clone())).await.unwrap();
    let full = sample("orders/good.csv");
    let key = |i: usize| format!("raw/orders/dt=2026-11-24/r{i}.csv");
    for i in 0..3 {
        outcome(append(&one, &reg, "orders", &file_with(&full, "r.csv"), &key(i)).await);
    }
    // A new version of r0: its old file becomes unreferenced by the current snapshot.
    let short = lakeline_tests::tables::first_lines(&full, 4);
    outcome(append(&one, &reg, "orders", &file_with(&short, "r.csv"), &key(0)).await);
    let (name, _) = reg.dataset("orders").unwrap();
    let ident = one.ident(name);
    let appends = async {
        for i in 3..7 {
            outcome(append(&two, &reg, "orders", &file_with(&full, "r.csv"), &key(i)).await);
        }
    };
    let (expired, ()) = tokio::join!(expire(&one, &ident, i64::MAX, 1, false), appends);
    let expired = expired.unwrap();
    assert!(expired.committed, "{expired:?}");
    let rows = rows_by_source(&one, &reg, "orders", "order_id").await;
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[&key(0)], lakeline_tests::tables::csv_ids(&short));
    for f in &view(&one, &reg, "orders").await.files {
        assert!(
            std::path::Path::new(f.path.trim_start_matches("file://")).exists(),
            "{f:?}"
        );
    }
}

/// Orphan removal on a local warehouse: a stray file older than the retention is deleted, a
/// fresh one (a commit still in flight could have written it) is kept, and every file the
/// metadata reaches stays: the table reads whole.
#[tokio::test]
async fn orphan_removal_deletes_only_old_unreferenced_files() {
    use lakeline_table::maintain::remove_orphans;
    let reg = shipped_registry();
    let (wh, tables) = fresh().await;
    let full = sample("orders/good.csv");
    for i in 0..2 {
        let key = format!("raw/orders/dt=2026-11-26/o{i}.csv");
        outcome(append(&tables, &reg, "orders", &file_with(&full, "o.csv"), &key).await);
    }
    let rows = rows_by_source(&tables, &reg, "orders", "order_id").await;
    let (name, _) = reg.dataset("orders").unwrap();
    let ident = tables.ident(name);
    let table = tables.load_table(&ident).await.unwrap();
    let data = wh.join("lakeline/orders/data/_lakeline_date=2026-11-26");
    let old = data.join("crashed-writer.parquet");
    let young = data.join("in-flight.parquet");
    std::fs::write(&old, b"not referenced").unwrap();
    std::fs::write(&young, b"not referenced yet").unwrap();
    let four_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(4 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(four_days_ago)
        .unwrap();
    let three_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3 * 86_400);
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    };
    let listed = tables.list_files(&table).await.unwrap();
    assert!(listed.len() > 4, "{listed:?}");
    let dry = remove_orphans(&tables, &ident, listed.clone(), ms(three_days_ago), true)
        .await
        .unwrap();
    assert_eq!(dry.files, vec![format!("file://{}", old.display())]);
    assert_eq!(dry.young, 1);
    assert!(old.exists(), "a dry run deletes nothing");
    let done = remove_orphans(&tables, &ident, listed, ms(three_days_ago), false)
        .await
        .unwrap();
    assert!(done.deleted);
    assert!(!old.exists() && young.exists());
    assert_eq!(
        rows_by_source(&tables, &reg, "orders", "order_id").await,
        rows
    );
    for f in &view(&tables, &reg, "orders").await.files {
        assert!(
            std::path::Path::new(f.path.trim_start_matches("file://")).exists(),
            "{f:?}"
        );
    }
}

/// A guard that answers `current` and counts how often it was asked.
struct Asked {
    current: bool,
    times: std::sync::atomic::AtomicUsize,
}

impl lakeline_table::commit::Guard for Asked {
    fn still_current(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<bool, lakeline_table::Error>> {
        self.times.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let current = self.current;
        Box::pin(async move { Ok(current) })
    }
}

/// An older upload whose commit comes after a newer one's (its execution passed its checks
/// first) asks whether it is still current before replacing the key's rows, and replaces
/// nothing when it is not; a first delivery of a key replaces nothing and asks nothing.
#[tokio::test]
async fn a_commit_replacing_another_version_asks_whether_its_upload_is_still_current() {
    let reg = shipped_registry();
    let tables = Tables::open(&Target::Warehouse(warehouse())).await.unwrap();
    let key = "raw/returns/dt=2026-12-01/a.tsv";
    let f = file_with(&sample("returns/good.tsv"), "a.tsv");
    outcome(append(&tables, &reg, "returns", &f, key).await);
    let (name, _) = reg.dataset("returns").unwrap();
    let ident = tables.ident(name);
    let newer = tables.load(&ident).await.unwrap().unwrap();
    let older = |source: &str| Delivery {
        source: source.into(),
        version: "v-older".into(),
        execution: None,
        engine: "test".into(),
        date: Some(20_788),
    };
    let not_current = Asked {
        current: false,
        times: Default::default(),
    };
    let r = try_commit(&tables, &newer, &older(key), &not_current, &[])
        .await
        .unwrap();
    assert!(
        matches!(r, Attempt::Done(Outcome::Superseded { .. })),
        "{r:?}"
    );
    assert_eq!(not_current.times.into_inner(), 1);
    let after = tables.load(&ident).await.unwrap().unwrap();
    assert_eq!(
        after.metadata_location(),
        newer.metadata_location(),
        "nothing committed"
    );
    assert_eq!(
        rows_by_source(&tables, &reg, "returns", "return_id").await[key].len(),
        view(&tables, &reg, "returns").await.rows as usize,
        "the newer upload's rows are all there"
    );
    // Still current: it replaces, asking once.
    let current = Asked {
        current: true,
        times: Default::default(),
    };
    let r = try_commit(&tables, &after, &older(key), &current, &[])
        .await
        .unwrap();
    assert!(
        matches!(r, Attempt::Done(Outcome::Committed { ref operation, .. }) if operation == "overwrite"),
        "{r:?}"
    );
    assert_eq!(current.times.into_inner(), 1);
    // A key the table does not hold replaces nothing: not asked.
    let first = Asked {
        current: false,
        times: Default::default(),
    };
    let now = tables.load(&ident).await.unwrap().unwrap();
    let r = try_commit(
        &tables,
        &now,
        &older("raw/returns/dt=2026-12-01/b.tsv"),
        &first,
        &[],
    )
    .await
    .unwrap();
    assert!(
        matches!(r, Attempt::Done(Outcome::Committed { .. })),
        "{r:?}"
    );
    assert_eq!(first.times.into_inner(), 0);
}

/// The data files of `source` in the table as it is (from its manifests).
async fn files_of(table: &iceberg::table::Table, source: &str) -> Vec<iceberg::spec::DataFile> {
    let held = lakeline_table::commit::held(table, source, None)
        .await
        .unwrap();
    let paths: std::collections::HashSet<&str> = held.iter().map(|h| h.path.as_str()).collect();
    let snap = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snap).load().await.unwrap();
    let mut out = Vec::new();
    for mf in list.entries() {
        let m = mf.load_manifest(table.file_io()).await.unwrap();
        for e in m.entries().iter().filter(|e| e.is_alive()) {
            if paths.contains(e.data_file().file_path()) {
                out.push(e.data_file().clone());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_delivery_that_lost_a_race_waits_on_the_board_and_the_next_commit_takes_it_in() {
    use lakeline_table::group::{Board, Pending, S3Board, PENDING_PREFIX};
    let reg = shipped_registry();
    let wh = warehouse();
    let alone = Tables::open(&Target::Warehouse(wh.clone())).await.unwrap();
    let (name, _) = reg.dataset("orders").unwrap();
    let ident = alone.ident(name);
    let key = |k: &str| format!("raw/orders/dt=2026-12-01/{k}.csv");
    let body = sample("orders/good.csv");
    let short = lakeline_tests::tables::first_lines(&body, 4);
    let f = file_with(&body, "o.csv");

    // A lost race, staged: w's data file is written and described but not in the table (it
    // was committed, then the table rolled back past it), as a writer that lost has it.
    outcome(append(&alone, &reg, "orders", &f, &key("seed")).await);
    let seed = alone.load_table(&ident).await.unwrap();
    let seed_snapshot = seed.metadata().current_snapshot().unwrap().snapshot_id();
    let Appended::Done {
        version: w_version, ..
    } = append(
        &alone,
        &reg,
        "orders",
        &file_with(&short, "w.csv"),
        &key("w"),
    )
    .await
    else {
        panic!("w is valid")
    };
    let with_w = alone.load_table(&ident).await.unwrap();
    let w_files = files_of(&with_w, &key("w")).await;
    assert_eq!(w_files.len(), 1);
    lakeline_table::maintain::rollback(&alone, &ident, seed_snapshot, false)
        .await
        .unwrap();
    let w = Delivery {
        source: key("w"),
        version: w_version,
        execution: Some("exec-w".into()),
        engine: "lambda".into(),
        date: Some(20_788),
    };

    // The lake bucket's board, signed as curate (the grants the template gives it there).
    let bucket = unique("lakeline-board");
    let admin_s3 = aws_sdk_s3::Client::new(&lakeline_tests::sdk_config().await);
    admin_s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    lakeline_tests::register_lake(&bucket, &[]).await;
    let curate = lakeline_tests::as_function(&lakeline_tests::sdk_config().await, "curate");
    let board = Arc::new(S3Board::new(
        lakeline_aws::s3_client(&curate),
        &bucket,
        PENDING_PREFIX,
    ));
    let base = alone.load_table(&ident).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    board
        .post(
            &ident,
            &Pending::of(&w, &w_files, base.metadata(), now).unwrap(),
        )
        .await
        .unwrap();
    // An entry of a crashed writer, too old to be committed for it, and one of a key the table
    // holds at another version (a replacement: its own writer's, with its ordering guard).
    let stale = Delivery {
        source: key("crashed"),
        ..w.clone()
    };
    board
        .post(
            &ident,
            &Pending::of(
                &stale,
                &w_files,
                base.metadata(),
                now - lakeline_table::group::FRESH_MS - 1,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let other_version = Delivery {
        source: key("seed"),
        version: "another".into(),
        ..w.clone()
    };
    board
        .post(
            &ident,
            &Pending::of(&other_version, &w_files, base.metadata(), now).unwrap(),
        )
        .await
        .unwrap();

    // The next commit of any writer takes w in with its own delivery, in one snapshot.
    let grouped = Tables::open(&Target::Warehouse(wh.clone()))
        .await
        .unwrap()
        .with_board(Some(board.clone()));
    let x = outcome(append(&grouped, &reg, "orders", &f, &key("x")).await);
    let Outcome::Committed {
        snapshot_id,
        with_others,
        ..
    } = x
    else {
        panic!("{x:?}")
    };
    assert_eq!(
        with_others, 1,
        "w taken in, the stale and the replacing entry not"
    );
    let shown = view(&grouped, &reg, "orders").await;
    let last = shown.snapshots.last().unwrap();
    assert_eq!(last.snapshot_id, snapshot_id);
    assert_eq!(last.sources, [key("x"), key("w")]);
    assert_eq!(last.executions, ["test", "exec-w"]);
    let left: Vec<String> = board
        .read(&ident, &board.list(&ident, 100).await.unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.entry.delivery.source)
        .collect();
    assert_eq!(left, [key("crashed"), key("seed")], "w's entry is settled");

    // w's own writer, deciding again, finds its own file in that snapshot.
    let again =
        lakeline_table::commit::commit_delivery(&grouped, &ident, &w, &Unguarded, w_files.clone())
            .await
            .unwrap();
    assert!(
        matches!(again, Outcome::CommittedInGroup { snapshot_id: s, files: 1, .. } if s == snapshot_id),
        "{again:?}"
    );
    // Every row once, with its own values.
    let rows = rows_by_source(&grouped, &reg, "orders", "order_id").await;
    let ids = lakeline_tests::tables::csv_ids;
    assert_eq!(rows[&key("seed")], ids(&body));
    assert_eq!(rows[&key("x")], ids(&body));
    assert_eq!(rows[&key("w")], ids(&short));
    assert_eq!(rows.len(), 3, "{:?}", rows.keys());
}
