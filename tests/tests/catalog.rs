//! `lakeline catalog sync` against the emulator's Glue Data Catalog: tables from the registry,
//! created once, unchanged on a second sync, updated when the registry changes.

use lakeline_tests::{sdk_config, shipped_registry, unique};

#[tokio::test]
async fn catalog_sync_creates_updates_and_leaves_alone() {
    // `lakeline catalog sync` is run by the registry writer (docs/permissions.md).
    let conf =
        lakeline_tests::as_person(&sdk_config().await, lakeline_tests::Person::RegistryWriter);
    let glue = aws_sdk_glue::Client::new(&conf);
    let db = unique("lake").replace('-', "_");
    let reg = shipped_registry();
    let first = lakeline_cli::catalog::sync(&glue, &reg, "lake-bucket", &db)
        .await
        .unwrap();
    assert_eq!(first.len(), reg.datasets.len());
    assert!(first
        .iter()
        .all(|(_, c)| *c == lakeline_cli::catalog::Change::Created));

    let t = glue
        .get_table()
        .database_name(&db)
        .name("orders")
        .send()
        .await
        .unwrap();
    let t = t.table().unwrap();
    let cols: Vec<(String, String)> = t
        .storage_descriptor()
        .unwrap()
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.r#type().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(cols[0], ("order_id".into(), "bigint".into()));
    assert_eq!(cols[4], ("order_date".into(), "date".into()));
    assert_eq!(cols[5], ("created_at".into(), "timestamp".into()));
    assert_eq!(t.partition_keys()[0].name(), "dt");
    let params = t.parameters().unwrap();
    assert_eq!(params["projection.enabled"], "true");
    assert_eq!(
        params["storage.location.template"],
        "s3://lake-bucket/curated/orders/dt=${dt}/"
    );
    assert_eq!(
        t.storage_descriptor().unwrap().location(),
        Some("s3://lake-bucket/curated/orders/")
    );

    let again = lakeline_cli::catalog::sync(&glue, &reg, "lake-bucket", &db)
        .await
        .unwrap();
    assert!(again
        .iter()
        .all(|(_, c)| *c == lakeline_cli::catalog::Change::Unchanged));

    // A new column in the registry updates that table only.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/datasets.yaml"
    ))
    .unwrap()
    .replace(
        "      - {name: gift,       type: bool}\n",
        "      - {name: gift,       type: bool}\n      - {name: channel,    type: string}\n",
    );
    let changed = lakeline_core::placeholders::load(&text, "t.yaml", &Default::default()).unwrap();
    let third = lakeline_cli::catalog::sync(&glue, &changed, "lake-bucket", &db)
        .await
        .unwrap();
    for (table, change) in &third {
        let want = if table == "orders" {
            lakeline_cli::catalog::Change::Updated
        } else {
            lakeline_cli::catalog::Change::Unchanged
        };
        assert_eq!(*change, want, "{table}");
    }
    let t = glue
        .get_table()
        .database_name(&db)
        .name("orders")
        .send()
        .await
        .unwrap();
    let n = t
        .table()
        .unwrap()
        .storage_descriptor()
        .unwrap()
        .columns()
        .len();
    assert_eq!(n, 8);
}
