//! Deliveries into Iceberg tables in an S3 Tables table bucket, against moto's S3 Tables (the
//! router corrects the two answers of moto that aws-sdk-s3tables cannot read:
//! `lakeline_local::router::correct_moto_s3tables`). The same exactly-once rules as on a local
//! warehouse (`tables.rs`), with S3 Tables' own commit point: `UpdateTableMetadataLocation` with
//! the version token read with the base, which moto refuses with `ConflictException` once the
//! table moved on. Creating the table bucket and the namespace is set-up (admin); everything
//! after signs as the documented `table-writer` person, checked against its least policy.
//!
//! S3 Tables keeps orphan files for its unreferenced file removal (a warehouse refuses
//! deletes), so these tests check the table, not the files in the warehouse.

use std::path::Path;
use std::sync::Arc;

use lakeline_core::registry::Registry;
use lakeline_table::commit::{try_commit, Attempt, Delivery, Outcome, Unguarded};
use lakeline_table::Tables;
use lakeline_tests::tables::{
    compacting_registry, compaction_undo_and_correction, deliveries_commit_once, erase_scenario,
    file_with, outcome, race_committers, rows_by_source, view,
};
use lakeline_tests::{as_person, sample, sdk_config, shipped_registry, unique, Person};

/// `file` appended as raw key `key`; the file is valid.
async fn append(tables: &Tables, reg: &Registry, dataset: &str, file: &Path, key: &str) -> Outcome {
    outcome(lakeline_tests::tables::append(tables, reg, dataset, file, key).await)
}

const NAMESPACE: &str = "curated";

/// A new table bucket with the namespace [`NAMESPACE`] (set-up, as admin): its ARN.
async fn table_bucket() -> String {
    let s3t = aws_sdk_s3tables::Client::new(&sdk_config().await);
    let arn = s3t
        .create_table_bucket()
        .name(unique("lakeline-tb"))
        .send()
        .await
        .unwrap()
        .arn;
    s3t.create_namespace()
        .table_bucket_arn(&arn)
        .namespace(NAMESPACE)
        .send()
        .await
        .unwrap();
    arn
}

/// The bucket's tables as the table writer sees them.
async fn writer(arn: &str) -> Tables {
    let conf = as_person(&sdk_config().await, Person::TableWriter);
    Tables::open_s3tables(&conf, arn, NAMESPACE).await.unwrap()
}

/// Tells the permissions check which table each of `tables`' warehouse bucket holds, so the
/// S3 calls on it are checked as `s3tables:GetTableData`/`PutTableData` on the table.
async fn register(arn: &str, tables: &[&str]) {
    let router = std::env::var("LAKELINE_ROUTER_URL").expect("run with scripts/local-aws");
    let id = arn.rsplit('/').next().unwrap();
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    lakeline_local::stack::register_warehouses(
        &sdk_config().await,
        &router,
        id,
        arn,
        NAMESPACE,
        &names,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn moto_s3tables_answers_deserialize_through_the_router() {
    let arn = table_bucket().await;
    let s3t = aws_sdk_s3tables::Client::new(&sdk_config().await);
    let created = s3t
        .create_table()
        .table_bucket_arn(&arn)
        .namespace(NAMESPACE)
        .name("probe")
        .format(aws_sdk_s3tables::types::OpenTableFormat::Iceberg)
        .send()
        .await
        .unwrap();
    // moto answers `managedByService: false`: without the router's correction this fails
    // with "expected ValueString or ValueNull".
    let got = s3t
        .get_table()
        .table_bucket_arn(&arn)
        .namespace(NAMESPACE)
        .name("probe")
        .send()
        .await
        .unwrap();
    assert_eq!(got.managed_by_service(), None);
    assert_eq!(got.version_token(), created.version_token());
    let location = format!(
        "{}/metadata/00000-probe.metadata.json",
        got.warehouse_location().trim_end_matches('/')
    );
    // moto answers `namespace` as a string and `tableArn`: corrected to the model's list and
    // `tableARN`.
    let updated = s3t
        .update_table_metadata_location()
        .table_bucket_arn(&arn)
        .namespace(NAMESPACE)
        .name("probe")
        .version_token(got.version_token())
        .metadata_location(&location)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.namespace(), [NAMESPACE.to_string()]);
    assert_eq!(updated.table_arn(), got.table_arn());
    assert_eq!(updated.metadata_location(), location);
    assert_ne!(updated.version_token(), got.version_token());
    // The old token again: S3 Tables' compare-and-swap refuses it.
    let stale = s3t
        .update_table_metadata_location()
        .table_bucket_arn(&arn)
        .namespace(NAMESPACE)
        .name("probe")
        .version_token(got.version_token())
        .metadata_location(format!("{location}.2"))
        .send()
        .await
        .unwrap_err();
    assert!(
        stale
            .as_service_error()
            .is_some_and(|e| e.is_conflict_exception()),
        "{stale:?}"
    );
}

#[tokio::test]
async fn a_delivery_commits_once_and_a_new_version_replaces_its_rows() {
    let reg = shipped_registry();
    let arn = table_bucket().await;
    let tables = writer(&arn).await;
    let (first, _) = deliveries_commit_once(&tables, &reg).await;
    register(&arn, &["orders"]).await;
    assert!(first.metadata_location.starts_with("s3://"), "{first:?}");
}

/// Compaction, a corrected upload into a compacted file, and undo, on S3 Tables as the table
/// writer: rewrites read the table's files (GetTableData) and write new ones (PutTableData).
#[tokio::test]
async fn compaction_then_a_correction_and_an_undo_inside_the_compacted_file() {
    let reg = compacting_registry();
    let arn = table_bucket().await;
    let tables = writer(&arn).await;
    compaction_undo_and_correction(&tables, &reg).await;
    register(&arn, &["orders"]).await;
}

#[tokio::test]
async fn an_attempt_built_on_a_stale_version_is_lost_and_changes_nothing() {
    let reg = shipped_registry();
    let arn = table_bucket().await;
    let tables = writer(&arn).await;
    let body = sample("returns/good.tsv");
    let f = file_with(&body, "a.tsv");
    append(
        &tables,
        &reg,
        "returns",
        &f,
        "raw/returns/dt=2026-12-01/a.tsv",
    )
    .await;
    register(&arn, &["returns"]).await;
    let (name, _) = reg.dataset("returns").unwrap();
    let ident = tables.ident(name);
    let stale = tables.load_table(&ident).await.unwrap();
    // Another writer (its own handle, as another process) commits after `stale` was read…
    let other = writer(&arn).await;
    append(
        &other,
        &reg,
        "returns",
        &f,
        "raw/returns/dt=2026-12-01/b.tsv",
    )
    .await;
    let now = other.load_table(&ident).await.unwrap();
    // …so a commit decided and built on `stale` is refused by S3 Tables (its version token is
    // stale: ConflictException) and the table stays as the other writer left it.
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
    let after = other.load_table(&ident).await.unwrap();
    assert_eq!(after.metadata_location(), now.metadata_location());
    let rows = rows_by_source(&other, &reg, "returns", "return_id").await;
    assert_eq!(
        rows.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "raw/returns/dt=2026-12-01/a.tsv",
            "raw/returns/dt=2026-12-01/b.tsv"
        ]
    );
    // Decided again on the current version, it goes through.
    let current = tables.load_table(&ident).await.unwrap();
    let r = try_commit(&tables, &current, &d, &Unguarded, &[])
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
    let arn = table_bucket().await;
    // Two handles, as two processes would have. S3 Tables gives lakeline no lock: every
    // collision is settled by the version token alone.
    let a = Arc::new(writer(&arn).await);
    let b = Arc::new(writer(&arn).await);
    let race = race_committers(a.clone(), b, reg.clone(), 4).await;
    register(&arn, &["orders"]).await;
    eprintln!(
        "8 concurrent commits on S3 Tables lost {} races and decided again",
        race.lost
    );
    let v = view(&a, &reg, "orders").await;
    let total: u64 = race.rows.values().map(|v| v.len() as u64).sum();
    assert_eq!(v.rows, total);
}

#[tokio::test]
async fn a_data_file_larger_than_an_upload_part_lands_whole() {
    // 600,000 rows with random customers: a data file of about 13 MiB, uploaded in 8 MiB
    // writes (a multipart upload: create, two parts, complete).
    let mut body = b"order_id,customer,amount,currency,order_date,created_at,gift\n".to_vec();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..600_000u64 {
        let mut customer = String::with_capacity(40);
        for _ in 0..2 {
            // xorshift: incompressible enough that zstd keeps the file above one part.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            customer.push_str(&format!("{x:016x}{:04x}", x >> 48));
        }
        body.extend_from_slice(
            format!("{i},{customer},1.00,EUR,2026-11-25,2026-11-25T08:02:11Z,false\n").as_bytes(),
        );
    }
    let reg = shipped_registry();
    let arn = table_bucket().await;
    let tables = writer(&arn).await;
    let f = file_with(&body, "big.csv");
    let o = append(
        &tables,
        &reg,
        "orders",
        &f,
        "raw/orders/dt=2026-11-25/big.csv",
    )
    .await;
    register(&arn, &["orders"]).await;
    assert!(
        matches!(
            o,
            Outcome::Committed {
                added_rows: 600_000,
                ..
            }
        ),
        "{o:?}"
    );
    let v = view(&tables, &reg, "orders").await;
    assert_eq!((v.rows, v.data_files), (600_000, 1));
    let rows = rows_by_source(&tables, &reg, "orders", "order_id").await;
    assert_eq!(
        rows["raw/orders/dt=2026-11-25/big.csv"],
        (0..600_000).collect::<Vec<i64>>()
    );
}

/// Erase on S3 Tables, as the table writer.
#[tokio::test]
async fn erase_takes_a_filters_rows_out_of_every_file_in_one_snapshot() {
    let reg = compacting_registry();
    let arn = table_bucket().await;
    let tables = writer(&arn).await;
    erase_scenario(&tables, &reg).await;
    register(&arn, &["orders"]).await;
}
