//! A whole deployment on the emulator for end-to-end tests: [`lakeline_local::stack`] (the same
//! code `make demo` deploys with), seen through the test harness's [`Lake`].

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::HistoryEvent;
pub use lakeline_local::stack::{entered, placeholders, transitions};
use lakeline_local::stack::{Stack, StackOptions};
use serde_json::Value;

use lakeline_core::registry::Registry;

use crate::{sdk_config, shipped_registry, Lake};

/// The pipeline definition as committed.
pub fn definition_template() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/pipeline.asl.json"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The maintenance definition as committed.
pub fn maintenance_template() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/maintenance.asl.json"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The router's base URL, from the environment `scripts/local-aws` sets.
pub fn router_url() -> String {
    std::env::var("LAKELINE_ROUTER_URL")
        .expect("LAKELINE_ROUTER_URL is not set: run with `make test`")
}

/// Knobs for a deployment.
pub struct Options {
    /// Glue MaxConcurrentRuns of the datasets' Glue job.
    pub glue_max_concurrent_runs: i32,
    /// Whether that Glue job exists at all.
    pub glue_job_exists: bool,
    /// The registry to deploy (default: the shipped one).
    pub registry: Registry,
    /// Keep the tables in the Glue Data Catalog instead of S3 Tables.
    pub tables_in_glue: bool,
    /// With `tables_in_glue`: Glue's table optimizers keep the tables' history.
    pub glue_optimizers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            glue_max_concurrent_runs: 10,
            glue_job_exists: true,
            registry: shipped_registry(),
            tables_in_glue: false,
            glue_optimizers: false,
        }
    }
}

/// The shipped registry with every orders file routed to its Glue job (no `above:`), for
/// tests of the Spark path with small files.
pub fn spark_registry() -> Registry {
    let mut reg = shipped_registry();
    for (name, ds) in reg.datasets.iter_mut() {
        if let (true, Some(lakeline_core::jobs::JobSpec::Glue(g))) =
            (name.as_str() == "orders", ds.job.as_mut())
        {
            g.above = None;
        }
    }
    reg
}

/// One deployment: the stack, and the lake view the other tests use.
pub struct Deployment {
    /// The deployed stack.
    pub stack: Stack,
    /// The same resources as a test [`Lake`].
    pub lake: Lake,
}

impl Deployment {
    /// Deploys the shipped registry with partitions that close at once.
    pub async fn new(opts: Options) -> Deployment {
        let conf = sdk_config().await;
        let stack = Stack::deploy(
            &conf,
            &router_url(),
            StackOptions {
                definition: definition_template(),
                registry: opts.registry,
                glue_job_exists: opts.glue_job_exists,
                glue_max_concurrent_runs: opts.glue_max_concurrent_runs,
                tables_in_glue: opts.tables_in_glue,
                glue_optimizers: opts.glue_optimizers,
                maintenance_definition: maintenance_template(),
            },
        )
        .await
        .unwrap();
        let lake = Lake {
            conf,
            s3: stack.c.s3.clone(),
            sns: stack.c.sns.clone(),
            sqs: stack.c.sqs.clone(),
            sfn: stack.c.sfn.clone(),
            bucket: stack.bucket.clone(),
            topic_arn: stack.topic_arn.clone(),
            alert_queue_url: stack.alert_queue_url.clone(),
            state_machine_arn: stack.state_machine_arn.clone(),
        };
        Deployment { stack, lake }
    }

    /// Delivers an S3 event to validate-upload through the Lambda Invoke API, as S3 would.
    pub async fn deliver(&self, event: &Value) -> (Option<String>, Value) {
        self.stack.invoke("validate-upload", event).await.unwrap()
    }

    /// The ARN of an execution.
    pub fn execution_arn(&self, name: &str) -> String {
        self.stack.execution_arn(name)
    }

    /// The execution once it left RUNNING (or after `within`).
    pub async fn finished(&self, arn: &str, within: Duration) -> DescribeExecutionOutput {
        self.stack.finished(arn, within).await.unwrap()
    }

    /// The execution's history.
    pub async fn history(&self, arn: &str) -> Vec<HistoryEvent> {
        self.stack.history(arn).await.unwrap()
    }

    /// The output of execution `arn` once it finished (within `within`); it must have
    /// SUCCEEDED.
    pub async fn succeeded(&self, arn: &str, within: Duration) -> Value {
        let done = self.finished(arn, within).await;
        self.output_of_success(arn, &done).await
    }

    /// The output of `done`, the finished execution `arn`, which must have SUCCEEDED: else
    /// the failure names its error, cause and history.
    pub async fn output_of_success(&self, arn: &str, done: &DescribeExecutionOutput) -> Value {
        if done.status().as_str() != "SUCCEEDED" {
            let history = self.history(arn).await;
            panic!(
                "{arn} ended {}: {:?} {:?} {history:#?}",
                done.status().as_str(),
                done.error(),
                done.cause()
            );
        }
        serde_json::from_str(done.output().unwrap()).unwrap()
    }

    /// The rows of `dataset`'s table as the pipeline left them, read back with iceberg-rust's
    /// scan (as the harness): `_lakeline_source` → the values of its id column `id`, sorted.
    pub async fn table_ids(&self, dataset: &str, id: &str) -> BTreeMap<String, Vec<i64>> {
        let tables = self.stack.tables(&self.stack.conf).await.unwrap();
        crate::tables::rows_by_source(&tables, &self.stack.registry, dataset, id).await
    }

    /// Stages the data file the dataset's Spark job would stage for `key` (uploaded with
    /// `body`, ETag `etag`) under [`lakeline_core::curate::staged_prefix`]: the emulator's Glue
    /// and EMR Serverless run nothing, so this stands in for the job's output, written by the
    /// Lambda's encoder with the table's field ids and the delivery's lineage (what
    /// `jobs/curate.py` in table mode writes: tests/spark/test_table.py). The pipeline's
    /// CommitStaged step then commits it. Written as the harness, like the upload itself.
    pub async fn stage_as_spark(&self, dataset: &str, key: &str, body: &[u8], etag: &str) {
        use lakeline_core::curate::{curate_stream_as, Provenance, TableShape};
        let tables = self.stack.tables(&self.stack.conf).await.unwrap();
        let (name, ds) = self.stack.registry.dataset(dataset).unwrap();
        let table = tables.load_table(&tables.ident(name)).await.unwrap();
        let m = ds.key_pattern.matches(key).unwrap();
        let lineage = lakeline_core::table::Lineage {
            source: key.to_string(),
            version: etag.to_string(),
            date: m
                .date
                .as_deref()
                .and_then(|d| lakeline_core::types::parse_date(d.as_bytes())),
        };
        let ids = lakeline_table::schema::field_ids(table.metadata().current_schema());
        let shape = TableShape::new(ds, &ids, &lineage).unwrap();
        let prov = Provenance {
            source: key.to_string(),
            source_version: etag.to_string(),
            dataset: dataset.to_string(),
            registry_sha256: String::new(),
        };
        let (_, file) =
            curate_stream_as(dataset, ds, key, 20, body, Vec::new(), &prov, Some(&shape)).unwrap();
        let staged = lakeline_core::curate::staged_prefix(dataset, key, etag);
        self.lake
            .put(&format!("{staged}part-00000-c000.zstd.parquet"), file)
            .await;
    }

    /// Writes what `jobs/compact.py` would for the rewrite plan at `plan_key` (in the lake
    /// bucket): the plan's input data files, read from the table's storage, merged into one
    /// Parquet file with the same columns and field ids, under the plan's output folder. The
    /// emulator's Glue and EMR Serverless run nothing, so this stands in for the run (the job
    /// itself is tested in tests/spark/test_compact.py). Written as the harness.
    pub async fn stage_rewrite_as_spark(
        &self,
        plan_key: &str,
    ) -> lakeline_table::spark::RewritePlan {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        use parquet::arrow::ArrowWriter;
        let plan: lakeline_table::spark::RewritePlan =
            serde_json::from_slice(&self.lake.body(plan_key).await).unwrap();
        let mut writer: Option<ArrowWriter<Vec<u8>>> = None;
        for f in &plan.inputs {
            let (bucket, key) = f
                .path
                .strip_prefix("s3://")
                .unwrap()
                .split_once('/')
                .unwrap();
            let body = self
                .lake
                .s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            let reader = ParquetRecordBatchReaderBuilder::try_new(body)
                .unwrap()
                .build()
                .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let w = writer.get_or_insert_with(|| {
                    ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap()
                });
                w.write(&batch).unwrap();
            }
        }
        let merged = writer.unwrap().into_inner().unwrap();
        let (_, out) = plan
            .output
            .strip_prefix("s3://")
            .unwrap()
            .split_once('/')
            .unwrap();
        self.lake
            .put(&format!("{out}part-00000-c000.zstd.parquet"), merged)
            .await;
        plan
    }

    /// Uploads `body` to `key` and stages what the dataset's Spark job would for it
    /// ([`Deployment::stage_as_spark`]); the upload's event, to deliver.
    pub async fn upload_for_spark(&self, dataset: &str, key: &str, body: &[u8]) -> Value {
        let event = self.lake.upload(key, body.to_vec()).await;
        let etag = event["Records"][0]["s3"]["object"]["eTag"]
            .as_str()
            .unwrap()
            .to_string();
        self.stage_as_spark(dataset, key, body, &etag).await;
        event
    }

    /// `dataset`'s table at a glance: snapshots with their sources, rows, files.
    pub async fn table_view(&self, dataset: &str) -> lakeline_table::show::TableView {
        let tables = self.stack.tables(&self.stack.conf).await.unwrap();
        crate::tables::view(&tables, &self.stack.registry, dataset).await
    }
}
