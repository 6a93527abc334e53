//! `lakeline registry push --stack NAME` on the local stack, as the registry writer: the stack
//! is found by its name (its outputs), every dataset's table is brought up to the registry
//! before the registry goes live, and a table change lakeline refuses publishes nothing.

use lakeline_cli::stack::StackOutputs;
use lakeline_cli::table::TargetArgs;
use lakeline_core::registry::Registry;
use lakeline_tests::pipeline::{Deployment, Options};
use lakeline_tests::{as_person, Person};
use serde_yaml_ng::Value;

/// The deployed registry as YAML, with `edit` applied to dataset `orders`' columns.
fn orders_columns_edited(reg: &Registry, edit: impl FnOnce(&mut Vec<Value>)) -> String {
    let mut doc: Value = serde_yaml_ng::to_value(reg).unwrap();
    let cols = doc["datasets"]["orders"]["columns"]
        .as_sequence_mut()
        .unwrap();
    edit(cols);
    serde_yaml_ng::to_string(&doc).unwrap()
}

async fn live_registry(d: &Deployment) -> String {
    String::from_utf8(d.lake.body("config/datasets.yaml").await).unwrap()
}

fn by_stack(d: &Deployment) -> TargetArgs {
    TargetArgs {
        warehouse: None,
        catalog: None,
        stack: Some(d.stack.bucket.clone()),
        pending: None,
    }
}

/// `registry push --stack <the deployment>` of `text`, as the registry writer `writer`; an
/// error as its full chain.
async fn push_by_stack(
    d: &Deployment,
    writer: &aws_config::SdkConfig,
    text: &str,
) -> Result<Registry, String> {
    let reg = Registry::from_yaml(text, "pushed.yaml").map_err(|e| e.to_string())?;
    let outputs = StackOutputs::read(writer, &d.stack.bucket)
        .await
        .map_err(|e| format!("{e:#}"))?;
    lakeline_cli::registry::push(
        writer,
        &reg,
        text,
        None,
        Some(&outputs),
        &by_stack(d),
        false,
    )
    .await
    .map_err(|e| format!("{e:#}"))?;
    Ok(reg)
}

#[tokio::test]
async fn push_by_stack_name_evolves_the_tables_then_publishes() {
    let d = Deployment::new(Options::default()).await;
    let writer = as_person(&d.lake.conf, Person::RegistryWriter);
    let before = d.table_view("orders").await;
    assert!(before.columns.iter().all(|c| c.name != "note"));

    let text = orders_columns_edited(&d.stack.registry, |cols| {
        cols.push(serde_yaml_ng::from_str("{name: note, type: string}").unwrap())
    });
    let reg = push_by_stack(&d, &writer, &text).await.unwrap();
    // The table has the new column, optional, with a fresh id; the old ones kept theirs.
    let after = d.table_view("orders").await;
    let note = after.columns.iter().find(|c| c.name == "note").unwrap();
    assert!(!note.required);
    assert!(before.columns.iter().all(|c| c.id < note.id));
    for c in &before.columns {
        assert_eq!(
            after
                .columns
                .iter()
                .find(|a| a.name == c.name)
                .map(|a| a.id),
            Some(c.id)
        );
    }
    assert_eq!(live_registry(&d).await, text);

    // A column's type changed: refused before anything is published.
    let retyped = orders_columns_edited(&reg, |cols| {
        for c in cols.iter_mut() {
            if c["name"] == "amount" {
                c["type"] = Value::from("int");
            }
        }
    });
    let msg = push_by_stack(&d, &writer, &retyped).await.unwrap_err();
    assert!(
        msg.contains("amount") && msg.contains("not published"),
        "{msg}"
    );
    assert_eq!(
        live_registry(&d).await,
        text,
        "the last good registry stays live"
    );
    assert_eq!(d.table_view("orders").await.columns, after.columns);
}

#[tokio::test]
async fn push_without_tables_says_where_to_name_them() {
    let d = Deployment::new(Options::default()).await;
    let writer = as_person(&d.lake.conf, Person::RegistryWriter);
    let text = serde_yaml_ng::to_string(&d.stack.registry).unwrap();
    let to = format!("s3://{}/config/datasets.yaml", d.stack.bucket);
    let none = TargetArgs {
        warehouse: None,
        catalog: None,
        stack: None,
        pending: None,
    };
    let e = lakeline_cli::registry::push(
        &writer,
        &d.stack.registry,
        &text,
        Some(&to),
        None,
        &none,
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--stack NAME") && e.contains("--no-tables"),
        "{e}"
    );
}

#[tokio::test]
async fn a_registry_is_checked_with_the_stacks_placeholder_values_not_the_shells() {
    let d = Deployment::new(Options::default()).await;
    let writer = as_person(&d.lake.conf, Person::RegistryWriter);
    let outputs = StackOutputs::read(&writer, &d.stack.bucket).await.unwrap();
    let vars = outputs.placeholder_vars();
    // The values the stack's functions fill in: its own Glue job, application and artifacts.
    assert_eq!(vars["LAKELINE_GLUE_CURATE_JOB"], d.stack.glue_job);
    assert_eq!(vars["LAKELINE_EMR_APPLICATION_ID"], d.stack.emr_app);
    assert_eq!(
        outputs.artifact_prefix(),
        Some(format!("s3://{}/artifacts/", d.stack.bucket).as_str())
    );
    let text = "version: 1\ndatasets:\n  big:\n    key_pattern: raw/big/dt={date}/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n    job: {engine: glue, job_name: ${LAKELINE_GLUE_CURATE_JOB}, target_prefix: curated/big/, above: 1GiB}\n";
    let reg = lakeline_core::placeholders::load(text, "r.yaml", &vars).unwrap();
    let (_, big) = reg.dataset("big").unwrap();
    match big.job.as_ref().unwrap() {
        lakeline_core::jobs::JobSpec::Glue(g) => assert_eq!(g.job_name, d.stack.glue_job),
        other => panic!("{other:?}"),
    }
}

/// The table commands' `--stack NAME`, as the table writer runs them (its documented least
/// policy): the stack's outputs name its table bucket, and the table reads back from there.
#[tokio::test]
async fn a_table_writer_finds_the_tables_by_the_stacks_name() {
    let d = Deployment::new(Options::default()).await;
    let person = as_person(&d.lake.conf, Person::TableWriter);
    let target = by_stack(&d)
        .target_if_any(Some(&person))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        target,
        lakeline_table::Target::S3Tables {
            bucket_arn: d.stack.table_bucket_arn.clone(),
            namespace: lakeline_local::stack::TABLES_NAMESPACE.to_string(),
        }
    );
    let tables = lakeline_table::Tables::open_with(Some(&person), &target)
        .await
        .unwrap();
    let (name, _) = d.stack.registry.dataset("orders").unwrap();
    let table = tables.load_table(&tables.ident(name)).await.unwrap();
    assert_eq!(
        lakeline_table::show::show(&table)
            .await
            .unwrap()
            .metadata_location,
        d.table_view("orders").await.metadata_location
    );
}

/// A stack with its tables in the Glue Data Catalog (`TablesCatalog: glue`): `registry push
/// --stack` evolves the Glue table (a new column, in the Iceberg schema and the Glue columns
/// alike), and the table writer finds the Glue database by the stack's name and appends a file
/// under its documented policy; the rows read back by key.
#[tokio::test]
async fn on_a_glue_catalog_stack_push_evolves_and_the_table_writer_appends() {
    let d = Deployment::new(Options {
        tables_in_glue: true,
        ..Options::default()
    })
    .await;
    let db = d.stack.glue_database.clone().unwrap();
    let writer = as_person(&d.lake.conf, Person::RegistryWriter);
    let text = orders_columns_edited(&d.stack.registry, |cols| {
        cols.push(serde_yaml_ng::from_str("{name: note, type: string}").unwrap())
    });
    let reg = push_by_stack(&d, &writer, &text).await.unwrap();
    let glue_columns: Vec<String> = d
        .stack
        .c
        .glue
        .get_table()
        .database_name(&db)
        .name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .storage_descriptor
        .unwrap()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert!(
        glue_columns.contains(&"note".to_string()),
        "{glue_columns:?}"
    );
    assert!(d
        .table_view("orders")
        .await
        .columns
        .iter()
        .any(|c| c.name == "note"));

    let person = as_person(&d.lake.conf, Person::TableWriter);
    let target = by_stack(&d)
        .target_if_any(Some(&person))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        target,
        lakeline_table::Target::Glue {
            database: db,
            optimizers: None
        }
    );
    let tables = lakeline_table::Tables::open_with(Some(&person), &target)
        .await
        .unwrap();
    let file = std::env::temp_dir().join(format!("{}.csv", lakeline_tests::unique("glue")));
    // The sample with the new column (a note on every row).
    let body: Vec<u8> = String::from_utf8(lakeline_tests::sample("orders/good.csv"))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{l},{}\n", if i == 0 { "note" } else { "by hand" }))
        .collect::<String>()
        .into_bytes();
    std::fs::write(&file, &body).unwrap();
    let key = "raw/orders/dt=2026-11-21/by-hand.csv";
    let (name, ds) = reg.dataset("orders").unwrap();
    let appended = lakeline_table::local::append_file(
        &tables,
        &reg,
        name,
        ds,
        &lakeline_table::local::Append {
            file: &file,
            key,
            version: None,
            execution: None,
        },
    )
    .await
    .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(
        matches!(appended, lakeline_table::local::Appended::Done { .. }),
        "{appended:?}"
    );
    assert_eq!(
        lakeline_tests::tables::rows_by_source(&tables, &reg, "orders", "order_id").await,
        std::collections::BTreeMap::from([(
            key.to_string(),
            lakeline_tests::tables::csv_ids(&body)
        )])
    );
    // Orphan removal lists the table's location in the lake bucket: every file there is the
    // table's (nothing to remove), and the listing holds its data and metadata.
    let table = tables.load_table(&tables.ident(name)).await.unwrap();
    let listed = tables.list_files(&table).await.unwrap();
    assert!(
        listed
            .iter()
            .any(|(p, _)| p.contains("/tables/orders/data/")),
        "{listed:?}"
    );
    let orphans = lakeline_table::maintain::remove_orphans(
        &tables,
        &tables.ident(name),
        listed,
        i64::MAX,
        true,
    )
    .await
    .unwrap();
    assert!(orphans.files.is_empty(), "{orphans:?}");
}

/// Who compacts each table: with lakeline's maintenance (the default), `registry push` turns
/// S3 Tables' own compaction off, so one compactor commits to a table; `compaction.engine:
/// s3tables` turns it on at the target file size. (moto has no S3 Tables maintenance API: the
/// router's stand-in keeps what was put; that S3 Tables then compacts is proven on AWS only.)
#[tokio::test]
async fn push_sets_who_compacts_each_table() {
    use aws_sdk_s3tables::types::{MaintenanceStatus, TableMaintenanceSettings};
    let d = Deployment::new(Options::default()).await;
    let admin = aws_sdk_s3tables::Client::new(&d.stack.conf);
    let compaction = |table: &'static str| {
        let admin = admin.clone();
        let arn = d.stack.table_bucket_arn.clone();
        async move {
            let out = admin
                .get_table_maintenance_configuration()
                .table_bucket_arn(arn)
                .namespace(lakeline_local::stack::TABLES_NAMESPACE)
                .name(table)
                .send()
                .await
                .unwrap();
            out.configuration()[&aws_sdk_s3tables::types::TableMaintenanceType::IcebergCompaction]
                .clone()
        }
    };
    let off = compaction("orders").await;
    assert_eq!(off.status(), Some(&MaintenanceStatus::Disabled), "{off:?}");

    let writer = as_person(&d.lake.conf, Person::RegistryWriter);
    let mut doc: Value = serde_yaml_ng::to_value(&d.stack.registry).unwrap();
    doc["datasets"]["orders"]["compaction"] =
        serde_yaml_ng::from_str("{engine: s3tables}").unwrap();
    let text = serde_yaml_ng::to_string(&doc).unwrap();
    push_by_stack(&d, &writer, &text).await.unwrap();
    let on = compaction("orders").await;
    assert_eq!(on.status(), Some(&MaintenanceStatus::Enabled), "{on:?}");
    match on.settings() {
        Some(TableMaintenanceSettings::IcebergCompaction(s)) => {
            assert_eq!(s.target_file_size_mb(), Some(128))
        }
        other => panic!("{other:?}"),
    }
    let other = compaction("returns").await;
    assert_eq!(
        other.status(),
        Some(&MaintenanceStatus::Disabled),
        "{other:?}"
    );
}

/// A rollback on a stack, as the table writer: the stack's alert topic hears which
/// delivery left the table, so nothing leaves silently.
#[tokio::test]
async fn a_rollback_on_a_stack_alerts_what_it_dropped() {
    use lakeline_tests::tables::{append, file_with, view};
    let d = Deployment::new(Options::default()).await;
    let person = as_person(&d.lake.conf, Person::TableWriter);
    let target = by_stack(&d)
        .target_if_any(Some(&person))
        .await
        .unwrap()
        .unwrap();
    let tables = lakeline_table::Tables::open_with(Some(&person), &target)
        .await
        .unwrap();
    let reg = &d.stack.registry;
    let body = lakeline_tests::sample("orders/good.csv");
    let (a, b) = (
        "raw/orders/dt=2026-11-27/a.csv",
        "raw/orders/dt=2026-11-27/b.csv",
    );
    append(&tables, reg, "orders", &file_with(&body, "a.csv"), a).await;
    let first = view(&tables, reg, "orders").await.snapshot_id.unwrap();
    append(&tables, reg, "orders", &file_with(&body, "b.csv"), b).await;
    let (name, _) = reg.dataset("orders").unwrap();
    let done = lakeline_table::maintain::rollback(&tables, &tables.ident(name), first, false)
        .await
        .unwrap();
    assert!(done.committed);
    let outputs = StackOutputs::read(&person, &d.stack.bucket).await.unwrap();
    lakeline_cli::table::alert_rollback(&person, &outputs, "orders", &done)
        .await
        .unwrap();
    let alerts = d.lake.alerts(1, std::time::Duration::from_secs(30)).await;
    let alert = alerts
        .iter()
        .find(|a| {
            a["Subject"]
                .as_str()
                .unwrap_or_default()
                .contains("rolled back")
        })
        .unwrap_or_else(|| panic!("no rollback alert: {alerts:?}"));
    let doc: serde_json::Value = serde_json::from_str(alert["Message"].as_str().unwrap()).unwrap();
    let text = doc["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("the rows of {b} left the table")),
        "{text}"
    );
    assert!(!text.contains(&format!("the rows of {a}")), "{text}");
}
