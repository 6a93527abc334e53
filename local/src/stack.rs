//! A whole lakeline deployment on the local emulator, built the way template.yaml builds it in
//! AWS: the lake bucket, the alert topic (with a queue subscribed, to see alerts), a Glue job,
//! an EMR Serverless application, the registry in S3, the six functions deployed to the local
//! Lambda router with their environments, and both state machines from the real definitions
//! with their `${Placeholders}` substituted. `make demo` and the end-to-end tests both stand on
//! it. The deployment signs as the admin (crate::identity) and registers its resources with the
//! router's call log, so every later call can be checked against the template's policies.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_glue::types::{ExecutionProperty, JobCommand};
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::HistoryEvent;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use lakeline_core::jobs::JobSpec;
use lakeline_core::registry::Registry;
use serde_json::{json, Value};

/// Placeholder account of the emulator.
pub const ACCOUNT: &str = "123456789012";
/// A role ARN for the state machine and Glue; moto accepts any well-formed one.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/lakeline-local";
/// The EMR Serverless execution role (moto wants the emulator's own account).
pub const EMR_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/lakeline-emr-local";

/// Replaces every `${Name}` with its value; an unknown placeholder is an error, so a new one
/// cannot slip through untested.
pub fn substitute(template: &str, values: &BTreeMap<&str, String>) -> anyhow::Result<String> {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    if let Some(i) = out.find("${") {
        bail!(
            "placeholder without a substitution: {}",
            &out[i..out.len().min(i + 40)]
        );
    }
    Ok(out)
}

/// The placeholders of a definition, in order of first appearance.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find("${") {
        let Some(end) = rest[i..].find('}') else {
            break;
        };
        let name = rest[i + 2..i + end].to_string();
        if !out.contains(&name) {
            out.push(name);
        }
        rest = &rest[i + end + 1..];
    }
    out
}

/// State transitions as AWS bills them: every state entered.
pub fn transitions(history: &[HistoryEvent]) -> usize {
    history
        .iter()
        .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
        .count()
}

/// How often `state` was entered.
pub fn entered(history: &[HistoryEvent], state: &str) -> usize {
    history
        .iter()
        .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
        .filter(|e| {
            e.state_entered_event_details()
                .is_some_and(|s| s.name() == state)
        })
        .count()
}

/// A name unique in this emulator: lowercase, digits and dashes.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos % 0xffff
    )
}

/// The namespace of the stack's tables (the template's `TablesNamespace` default).
pub const TABLES_NAMESPACE: &str = "lakeline";

/// What to deploy.
pub struct StackOptions {
    /// The pipeline definition (`statemachine/pipeline.asl.json`, with placeholders).
    pub definition: String,
    /// The maintenance definition (`statemachine/maintenance.asl.json`, with placeholders).
    pub maintenance_definition: String,
    /// The registry to deploy; its Spark jobs are pointed at the stack's own Glue job and EMR
    /// Serverless application.
    pub registry: Registry,
    /// Create the Glue job (false: datasets point at a job that does not exist).
    pub glue_job_exists: bool,
    /// Glue MaxConcurrentRuns.
    pub glue_max_concurrent_runs: i32,
    /// Keep the datasets' tables in the Glue Data Catalog (the template's `TablesCatalog:
    /// glue`: a database whose LocationUri is the lake's `tables/`) instead of S3 Tables.
    pub tables_in_glue: bool,
    /// With `tables_in_glue`: Glue's table optimizers keep the tables' history (the
    /// template's `GlueTableMaintenance: glue-optimizers`), not lakeline's sweep.
    pub glue_optimizers: bool,
}

/// The SDK clients of a stack.
#[derive(Clone)]
pub struct Clients {
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// SNS.
    pub sns: aws_sdk_sns::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
    /// Glue.
    pub glue: aws_sdk_glue::Client,
    /// EMR Serverless.
    pub emr: aws_sdk_emrserverless::Client,
}

impl Clients {
    /// Clients for `conf`.
    pub fn new(conf: &aws_config::SdkConfig) -> Clients {
        Clients {
            s3: lakeline_aws::s3_client(conf),
            sns: aws_sdk_sns::Client::new(conf),
            sqs: aws_sdk_sqs::Client::new(conf),
            sfn: aws_sdk_sfn::Client::new(conf),
            glue: aws_sdk_glue::Client::new(conf),
            emr: aws_sdk_emrserverless::Client::new(conf),
        }
    }
}

/// A deployed stack.
pub struct Stack {
    /// The SDK configuration of the deployment (signed as the unchecked admin).
    pub conf: aws_config::SdkConfig,
    /// Clients (the admin's: set-up and inspection).
    pub c: Clients,
    /// The router's base URL.
    pub router_url: String,
    /// Lake bucket.
    pub bucket: String,
    /// Alert topic.
    pub topic_arn: String,
    /// Queue subscribed to the alert topic.
    pub alert_queue_url: String,
    /// Pipeline state machine.
    pub state_machine_arn: String,
    /// Maintenance state machine (the scheduled compaction sweep).
    pub maintenance_arn: String,
    /// The Glue job datasets run.
    pub glue_job: String,
    /// The EMR Serverless application.
    pub emr_app: String,
    /// The registry as deployed.
    pub registry: Registry,
    /// The S3 Tables table bucket of the datasets' tables (the template's `TableBucket`);
    /// empty when the tables are in [`Stack::glue_database`].
    pub table_bucket_arn: String,
    /// The Glue database of the datasets' tables (the template's `TablesDatabase`, with
    /// `TablesCatalog: glue`), instead of the table bucket.
    pub glue_database: Option<String>,
    /// The role of Glue's table optimizers, when they keep the Glue tables' history.
    pub optimizer_role: Option<String>,
    /// Function names on the router, by handler.
    pub functions: BTreeMap<&'static str, String>,
    /// The functions' environment, as deployed.
    env: BTreeMap<&'static str, String>,
    /// Executions whose status change was delivered to notify-failure (see [`Stack::finished`]).
    delivered: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Stack {
    /// Deploys a stack on the emulator behind `router_url`.
    pub async fn deploy(
        conf: &aws_config::SdkConfig,
        router_url: &str,
        opts: StackOptions,
    ) -> anyhow::Result<Stack> {
        // Creating the stack is CloudFormation's part, not a function's: the admin identity,
        // which the permissions check leaves out.
        let admin = crate::identity::as_admin(conf);
        let c = Clients::new(&admin);
        let id = unique("lakeline");
        c.s3.create_bucket()
            .bucket(&id)
            .send()
            .await
            .context("creating the bucket")?;
        let topic_arn = c
            .sns
            .create_topic()
            .name(&id)
            .send()
            .await?
            .topic_arn
            .unwrap_or_default();
        let (alert_queue_url, queue_arn) = queue(&c.sqs, &format!("{id}-alerts")).await?;
        c.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .send()
            .await?;

        let glue_job = format!("{id}-curate");
        if opts.glue_job_exists {
            c.glue
                .create_job()
                .name(&glue_job)
                .role(ROLE_ARN)
                .command(
                    JobCommand::builder()
                        .name("glueetl")
                        .script_location("s3://artifacts/curate.py")
                        .build(),
                )
                .execution_property(
                    ExecutionProperty::builder()
                        .max_concurrent_runs(opts.glue_max_concurrent_runs)
                        .build(),
                )
                .send()
                .await
                .context("creating the Glue job")?;
            // The template's CompactGlueJob (jobs/compact.py): a table partition's Spark rewrite.
            c.glue
                .create_job()
                .name(format!("{id}-compact"))
                .role(ROLE_ARN)
                .command(
                    JobCommand::builder()
                        .name("glueetl")
                        .script_location("s3://artifacts/compact.py")
                        .build(),
                )
                .send()
                .await
                .context("creating the compaction Glue job")?;
        }
        let emr_app = c
            .emr
            .create_application()
            .name(format!("{id}-spark"))
            .release_label("emr-7.5.0")
            .r#type("SPARK")
            .send()
            .await
            .context("creating the EMR Serverless application")?
            .application_id;

        // The template's TableBucket and its namespace, or (TablesCatalog glue) its
        // TablesDatabase: CloudFormation's part.
        let (table_bucket_arn, glue_database) = if opts.tables_in_glue {
            // TablesNamespace names the database: unique per account, so the stack's id.
            let db = id.replace('-', "_");
            c.glue
                .create_database()
                .database_input(
                    aws_sdk_glue::types::DatabaseInput::builder()
                        .name(&db)
                        .location_uri(format!("s3://{id}/tables/"))
                        .build()?,
                )
                .send()
                .await
                .context("creating the tables' Glue database")?;
            (String::new(), Some(db))
        } else {
            let arn = aws_sdk_s3tables::Client::new(&admin)
                .create_table_bucket()
                .name(format!("{id}-tables"))
                .send()
                .await
                .context("creating the table bucket")?
                .arn;
            aws_sdk_s3tables::Client::new(&admin)
                .create_namespace()
                .table_bucket_arn(&arn)
                .namespace(TABLES_NAMESPACE)
                .send()
                .await
                .context("creating the tables' namespace")?;
            (arn, None)
        };

        let mut registry = opts.registry;
        for ds in registry.datasets.values_mut() {
            // Locally a batch gathers for 3 s, not a minute (a run per file stays so).
            match ds.job.as_mut() {
                Some(JobSpec::Glue(g)) => {
                    g.job_name = glue_job.clone();
                    g.batch_seconds = g.batch_seconds.min(3);
                }
                Some(JobSpec::EmrServerless(e)) => {
                    e.application_id = emr_app.clone();
                    e.execution_role_arn = EMR_ROLE_ARN.to_string();
                    e.batch_seconds = e.batch_seconds.min(3);
                }
                Some(JobSpec::Lambda(_)) | None => {}
            }
            // A Spark engine for large table partitions runs the stack's own job or application.
            if let Some(cp) = ds.compaction.as_mut() {
                match cp.job.engine {
                    lakeline_core::compaction::Engine::Glue => {
                        cp.job.glue_job_name = Some(format!("{id}-compact"));
                    }
                    lakeline_core::compaction::Engine::EmrServerless => {
                        cp.job.application_id = Some(emr_app.clone());
                        cp.job.execution_role_arn = Some(EMR_ROLE_ARN.to_string());
                    }
                    lakeline_core::compaction::Engine::Lambda => {}
                }
            }
        }
        let yaml = serde_yaml_ng::to_string(&registry)?;
        c.s3.put_object()
            .bucket(&id)
            .key("config/datasets.yaml")
            .body(yaml.into_bytes().into())
            .send()
            .await?;

        let functions: BTreeMap<&'static str, String> = crate::functions::HANDLERS
            .iter()
            .map(|h| (*h, format!("{id}-{h}")))
            .collect();
        let arn = |h: &str| {
            format!(
                "arn:aws:lambda:us-east-1:{ACCOUNT}:function:{}",
                functions[h]
            )
        };
        let subs = BTreeMap::from([
            ("StartJobFunctionArn", arn("start-job")),
            ("CheckCompactionFunctionArn", arn("check-compaction")),
            ("NotifyFailureFunctionArn", arn("notify-failure")),
            ("CurateFunctionArn", arn("curate")),
            ("CompactFunctionArn", arn("compact")),
        ]);
        let maintenance_arn = c
            .sfn
            .create_state_machine()
            .name(format!("{id}-maintenance"))
            .definition(substitute(&opts.maintenance_definition, &subs)?)
            .role_arn(ROLE_ARN)
            .send()
            .await
            .context("creating the maintenance state machine")?
            .state_machine_arn;
        let definition = substitute(&opts.definition, &subs)?;
        let state_machine_arn = c
            .sfn
            .create_state_machine()
            .name(format!("{id}-pipeline"))
            .definition(definition)
            .role_arn(ROLE_ARN)
            .send()
            .await
            .context("creating the state machine")?
            .state_machine_arn;

        let optimizer_role = (opts.tables_in_glue && opts.glue_optimizers)
            .then(|| format!("arn:aws:iam::{ACCOUNT}:role/{id}-GlueTableOptimizerRole"));
        let env = BTreeMap::from([
            (
                lakeline_table::catalog::GLUE_OPTIMIZER_ROLE_VAR,
                optimizer_role.clone().unwrap_or_default(),
            ),
            (
                "LAKELINE_REGISTRY",
                format!("s3://{id}/config/datasets.yaml"),
            ),
            ("ALERT_TOPIC_ARN", topic_arn.clone()),
            ("STATE_MACHINE_ARN", state_machine_arn.clone()),
            // Locally a job check waits a second, not 15 s doubling to 5 minutes.
            ("LAKELINE_POLL_FIRST_SECONDS", "1".to_string()),
            ("LAKELINE_POLL_MAX_SECONDS", "1".to_string()),
            (
                lakeline_table::catalog::TABLE_BUCKET_VAR,
                table_bucket_arn.clone(),
            ),
            (
                lakeline_table::catalog::TABLE_NAMESPACE_VAR,
                glue_database
                    .clone()
                    .unwrap_or_else(|| TABLES_NAMESPACE.to_string()),
            ),
            (
                lakeline_table::catalog::TABLE_GLUE_DATABASE_VAR,
                glue_database.clone().unwrap_or_default(),
            ),
            // Where a delivery that lost a commit race waits for a group commit.
            (
                lakeline_table::catalog::PENDING_VAR,
                format!("s3://{id}/{}", lakeline_table::group::PENDING_PREFIX),
            ),
        ]);
        let stack = Stack {
            conf: admin,
            c,
            router_url: router_url.trim_end_matches('/').to_string(),
            bucket: id,
            topic_arn,
            alert_queue_url,
            state_machine_arn,
            maintenance_arn,
            glue_job,
            emr_app,
            registry,
            table_bucket_arn,
            glue_database,
            optimizer_role,
            functions,
            env,
            delivered: Default::default(),
        };
        for handler in crate::functions::HANDLERS {
            stack.redeploy(handler).await?;
        }
        let mut resources = BTreeMap::from([
            ("AlertTopic", stack.topic_arn.clone()),
            ("Pipeline", stack.state_machine_arn.clone()),
            ("MaintenanceStateMachine", stack.maintenance_arn.clone()),
            ("CurateGlueJob", stack.glue_job.clone()),
            ("CompactGlueJob", format!("{}-compact", stack.bucket)),
        ]);
        let mut params = BTreeMap::from([
            ("ExistingEmrApplicationId", stack.emr_app.clone()),
            ("EmrExecutionRoleArns", EMR_ROLE_ARN.to_string()),
            ("TablesNamespace", TABLES_NAMESPACE.to_string()),
            // The documented eraser (`lakeline table erase --include-raw`).
            (
                "EraserArns",
                crate::identity::person_arn(crate::identity::Person::Eraser),
            ),
        ]);
        match &stack.glue_database {
            Some(db) => {
                resources.insert("TablesDatabase", db.clone());
                params.insert("TablesCatalog", "glue".to_string());
                params.insert("TablesNamespace", db.clone());
                if let Some(role) = &stack.optimizer_role {
                    resources.insert("GlueTableOptimizerRole", role.clone());
                    params.insert("GlueTableMaintenance", "glue-optimizers".to_string());
                }
            }
            None => {
                resources.insert("TableBucket", stack.table_bucket_arn.clone());
            }
        }
        for (handler, name) in &stack.functions {
            resources.insert(function_logical_id(handler), name.clone());
        }
        register_stack(&stack.router_url, &stack.bucket, &resources, &params).await?;
        stack.sync_tables(&stack.registry).await?;
        stack.publish_outputs().await?;
        Ok(stack)
    }

    /// Deploys a function again: its next invocation is a cold start, which reads the registry
    /// afresh (what a Lambda's new instance does; a warm one reloads it after
    /// `LAKELINE_REGISTRY_TTL_SECONDS`).
    pub async fn redeploy(&self, handler: &str) -> anyhow::Result<()> {
        let name = self
            .functions
            .get(handler)
            .with_context(|| format!("no function {handler}"))?;
        self.deploy_function(name, handler, &self.env).await
    }

    /// Publishes `registry` as the stack's live registry (what `lakeline registry push` does)
    /// and cold-starts every function, so all of them use it at once.
    pub async fn publish_registry(&self, registry: &Registry) -> anyhow::Result<()> {
        // As the registry writer does it (docs/permissions.md), so the check holds it to that
        // person's policy.
        let writer =
            crate::identity::as_person(&self.conf, crate::identity::Person::RegistryWriter);
        lakeline_aws::s3_client(&writer)
            .put_object()
            .bucket(&self.bucket)
            .key("config/datasets.yaml")
            .body(serde_yaml_ng::to_string(registry)?.into_bytes().into())
            .send()
            .await?;
        self.sync_tables(registry).await?;
        for handler in crate::functions::HANDLERS {
            self.redeploy(handler).await?;
        }
        Ok(())
    }

    /// Creates or evolves every dataset's table to `registry`, as `lakeline registry push`
    /// does (signed as the registry writer), and tells the permissions check which table each
    /// warehouse bucket holds.
    pub async fn sync_tables(&self, registry: &Registry) -> anyhow::Result<()> {
        let writer =
            crate::identity::as_person(&self.conf, crate::identity::Person::RegistryWriter);
        let tables = self.tables(&writer).await?;
        let mut names = Vec::new();
        for (name, ds) in &registry.datasets {
            let (table, _, _) = lakeline_table::sync::sync_dataset(&tables, name, ds)
                .await
                .with_context(|| format!("syncing the table of dataset {name}"))?;
            names.push(table.identifier().name().to_string());
        }
        if self.glue_database.is_some() {
            // The tables' files are in the lake bucket, which the check knows already.
            return Ok(());
        }
        register_warehouses(
            &self.conf,
            &self.router_url,
            &self.bucket,
            &self.table_bucket_arn,
            TABLES_NAMESPACE,
            &names,
        )
        .await
    }

    /// Publishes the stack's outputs under its name, as `sam deploy` leaves template.yaml's
    /// `Outputs` on the CloudFormation stack, so `lakeline … --stack NAME` finds the lake from
    /// the name alone. (moto's CloudFormation keeps outputs; the one resource is a placeholder
    /// it does not create.)
    async fn publish_outputs(&self) -> anyhow::Result<()> {
        let outputs = serde_json::Map::from_iter(
            [
                ("LakeBucketName", self.bucket.clone()),
                (
                    "RegistryUri",
                    format!("s3://{}/config/datasets.yaml", self.bucket),
                ),
                ("TableBucketArn", self.table_bucket_arn.clone()),
                (
                    "TablesNamespace",
                    self.glue_database
                        .clone()
                        .unwrap_or_else(|| TABLES_NAMESPACE.to_string()),
                ),
                (
                    "TablesGlueDatabase",
                    self.glue_database.clone().unwrap_or_default(),
                ),
                ("StateMachineArn", self.state_machine_arn.clone()),
                ("MaintenanceStateMachineArn", self.maintenance_arn.clone()),
                ("AlertTopicArn", self.topic_arn.clone()),
                (
                    "ValidateUploadFunctionName",
                    self.functions["validate-upload"].clone(),
                ),
                ("GlueCurateJobName", self.glue_job.clone()),
                ("GlueCompactJobName", format!("{}-compact", self.bucket)),
                (
                    "GlueTableOptimizerRoleArn",
                    self.optimizer_role.clone().unwrap_or_default(),
                ),
                ("TableSnapshotRetentionDays", "5".to_string()),
                ("TableSnapshotsKept", "1".to_string()),
                ("TableOrphanRetentionDays", "3".to_string()),
                ("EmrApplicationId", self.emr_app.clone()),
                ("ArtifactUri", format!("s3://{}/artifacts/", self.bucket)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), json!({ "Value": v }))),
        );
        let template = json!({
            "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": outputs,
        });
        aws_sdk_cloudformation::Client::new(&self.conf)
            .create_stack()
            .stack_name(&self.bucket)
            .template_body(template.to_string())
            .send()
            .await
            .context("publishing the stack's outputs")?;
        Ok(())
    }

    /// Glue's table optimizers as the stack's outputs describe them (the template's defaults).
    pub fn glue_optimizers(&self) -> Option<lakeline_table::GlueOptimizers> {
        self.optimizer_role
            .as_ref()
            .map(|role| lakeline_table::GlueOptimizers {
                role_arn: role.clone(),
                snapshot_days: 5,
                keep: 1,
                orphan_days: 3,
            })
    }

    /// The stack's tables, every call signed with `conf`.
    pub async fn tables(
        &self,
        conf: &aws_config::SdkConfig,
    ) -> anyhow::Result<lakeline_table::Tables> {
        Ok(match &self.glue_database {
            Some(db) => lakeline_table::Tables::open_glue(conf, db)
                .await?
                .with_glue_optimizers(self.glue_optimizers()),
            None => {
                lakeline_table::Tables::open_s3tables(
                    conf,
                    &self.table_bucket_arn,
                    TABLES_NAMESPACE,
                )
                .await?
            }
        })
    }

    async fn deploy_function(
        &self,
        name: &str,
        handler: &str,
        env: &BTreeMap<&str, String>,
    ) -> anyhow::Result<()> {
        let body = json!({"handler": handler, "env": env}).to_string();
        let (status, _, text) = self
            .http("PUT", &format!("/_lakeline/functions/{name}"), body)
            .await?;
        if status != 200 {
            bail!("deploying {name} to the router: HTTP {status}: {text}");
        }
        Ok(())
    }

    /// One request to the router: (status, `X-Amz-Function-Error`, body).
    async fn http(
        &self,
        method: &str,
        path: &str,
        body: String,
    ) -> anyhow::Result<(u16, Option<String>, String)> {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.router_url))
            .body(Full::new(Bytes::from(body)))?;
        let resp = client
            .request(req)
            .await
            .with_context(|| format!("calling the router at {}", self.router_url))?;
        let status = resp.status().as_u16();
        let err = resp
            .headers()
            .get("X-Amz-Function-Error")
            .map(|v| v.to_str().unwrap_or_default().to_string());
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, err, String::from_utf8_lossy(&bytes).to_string()))
    }

    /// Invokes a deployed function by handler name, like the Lambda Invoke API; returns the
    /// function's `errorType` (None when it succeeded) and the payload.
    pub async fn invoke(
        &self,
        handler: &str,
        payload: &Value,
    ) -> anyhow::Result<(Option<String>, Value)> {
        let name = self
            .functions
            .get(handler)
            .with_context(|| format!("no function {handler}"))?;
        let (status, err, text) = self
            .http(
                "POST",
                &format!("/2015-03-31/functions/{name}/invocations"),
                payload.to_string(),
            )
            .await?;
        if status != 200 {
            bail!("invoking {name}: HTTP {status}: {text}");
        }
        let payload: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((
            err.map(|_| {
                payload["errorType"]
                    .as_str()
                    .unwrap_or("Unhandled")
                    .to_string()
            }),
            payload,
        ))
    }

    /// Sends the bucket's ObjectCreated notifications under `raw/` to a new queue (as S3 would
    /// to Lambda); returns the queue URL.
    pub async fn notify_uploads_to_queue(&self) -> anyhow::Result<String> {
        let (url, arn) = queue(&self.c.sqs, &format!("{}-uploads", self.bucket)).await?;
        let conf = aws_sdk_s3::types::NotificationConfiguration::builder()
            .queue_configurations(
                aws_sdk_s3::types::QueueConfiguration::builder()
                    .queue_arn(arn)
                    .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                    // Like the template: only uploads to raw/ concern validate-upload.
                    .filter(
                        aws_sdk_s3::types::NotificationConfigurationFilter::builder()
                            .key(
                                aws_sdk_s3::types::S3KeyFilter::builder()
                                    .filter_rules(
                                        aws_sdk_s3::types::FilterRule::builder()
                                            .name(aws_sdk_s3::types::FilterRuleName::Prefix)
                                            .value("raw/")
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()?,
            )
            .build();
        self.c
            .s3
            .put_bucket_notification_configuration()
            .bucket(&self.bucket)
            .notification_configuration(conf)
            .send()
            .await?;
        Ok(url)
    }

    /// A Step Functions client signed as the maintenance schedule's role: what starts a sweep
    /// "as the schedule would".
    pub fn schedule_sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&crate::identity::as_role(
            &self.conf,
            crate::identity::SWEEP_SCHEDULE_ROLE,
        ))
    }

    /// The ARN of an execution of the pipeline.
    pub fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine_arn
                .replace(":stateMachine:", ":execution:")
        )
    }

    /// Polls until the execution is no longer RUNNING, or `within` passed.
    ///
    /// Stand-in for the template's EventBridge rule (`PipelineFailedRule`), which moto lacks:
    /// Step Functions emits no status-change events there. When a pipeline execution is seen
    /// FAILED, TIMED_OUT or ABORTED, its event is built from DescribeExecution the way AWS
    /// builds it and delivered to notify-failure, once per execution. So locally an alert
    /// arrives for the executions somebody waits on; on AWS the rule sends it for every one.
    pub async fn finished(
        &self,
        execution_arn: &str,
        within: Duration,
    ) -> anyhow::Result<DescribeExecutionOutput> {
        let d = wait_finished(&self.c.sfn, execution_arn, within).await?;
        let failed = matches!(d.status().as_str(), "FAILED" | "TIMED_OUT" | "ABORTED");
        if failed && d.state_machine_arn() == self.state_machine_arn {
            let first = self
                .delivered
                .lock()
                .map_err(|_| anyhow::anyhow!("delivery set poisoned"))?
                .insert(execution_arn.to_string());
            if first {
                let (err, out) = self
                    .invoke("notify-failure", &status_change_event(&d))
                    .await?;
                if let Some(e) = err {
                    bail!(
                        "notify-failure failed on the status change of {execution_arn}: {e}: {out}"
                    );
                }
            }
        }
        Ok(d)
    }

    /// The execution's history (all pages).
    pub async fn history(&self, execution_arn: &str) -> anyhow::Result<Vec<HistoryEvent>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .c
                .sfn
                .get_execution_history()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .max_results(1000)
                .send()
                .await?;
            out.extend(page.events().iter().cloned());
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}

/// The template's logical id of a function, by handler name (`check-compaction` →
/// `CheckCompactionFunction`).
pub fn function_logical_id(handler: &str) -> &'static str {
    match handler {
        "validate-upload" => "ValidateUploadFunction",
        "curate" => "CurateFunction",
        "start-job" => "StartJobFunction",
        "check-compaction" => "CheckCompactionFunction",
        "compact" => "CompactFunction",
        "notify-failure" => "NotifyFailureFunction",
        _ => "UnknownFunction",
    }
}

/// Tells the router's call log which local resources stand for which template resources
/// (logical id → ARN or name; the lake bucket is `id`), and the template parameters the local
/// stack deploys with, so `tests/permissions` can resolve the template's policies the way this
/// stack would have them. The running test's name (its thread's) goes along, so a denied call
/// names its test.
pub async fn register_stack(
    router_url: &str,
    id: &str,
    resources: &BTreeMap<&str, String>,
    parameters: &BTreeMap<&str, String>,
) -> anyhow::Result<()> {
    register(
        router_url,
        id,
        json!({
            "stack": id,
            "bucket": id,
            "test": std::thread::current().name().unwrap_or("main"),
            "resources": resources,
            "parameters": parameters,
        }),
    )
    .await
}

/// Tells the router's call log which S3 Tables table each warehouse bucket holds (warehouse
/// bucket → table ARN) for stack `id`: moto checks table data as S3 calls on the warehouse,
/// AWS as `s3tables:GetTableData`/`PutTableData` on the table, and `tests/permissions` maps one
/// to the other with this.
pub async fn register_tables(
    router_url: &str,
    id: &str,
    tables: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    register(
        router_url,
        id,
        json!({"stack": id, "bucket": id, "tables": tables}),
    )
    .await
}

/// [`register_tables`] for tables `names` of namespace `namespace` in table bucket
/// `bucket_arn`: their warehouse buckets and ARNs read with `GetTable` (signed with `conf`, the
/// harness's), registered for stack `id`.
pub async fn register_warehouses(
    conf: &aws_config::SdkConfig,
    router_url: &str,
    id: &str,
    bucket_arn: &str,
    namespace: &str,
    names: &[String],
) -> anyhow::Result<()> {
    let s3t = aws_sdk_s3tables::Client::new(conf);
    let mut warehouses = BTreeMap::new();
    for name in names {
        let got = s3t
            .get_table()
            .table_bucket_arn(bucket_arn)
            .namespace(namespace)
            .name(name)
            .send()
            .await
            .with_context(|| format!("GetTable {bucket_arn}/{namespace}/{name}"))?;
        let warehouse = got
            .warehouse_location()
            .trim_start_matches("s3://")
            .trim_end_matches('/')
            .to_string();
        warehouses.insert(warehouse, got.table_arn().to_string());
    }
    register_tables(router_url, id, &warehouses).await
}

async fn register(router_url: &str, id: &str, body: Value) -> anyhow::Result<()> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let req = hyper::Request::builder()
        .method("PUT")
        .uri(format!(
            "{}/_lakeline/stacks/{id}",
            router_url.trim_end_matches('/')
        ))
        .body(Full::new(Bytes::from(body.to_string())))?;
    let resp = client
        .request(req)
        .await
        .with_context(|| format!("registering stack {id} with the router at {router_url}"))?;
    if resp.status() != 200 {
        bail!("registering stack {id}: HTTP {}", resp.status());
    }
    Ok(())
}

/// The EventBridge event Step Functions emits when an execution's status changes
/// (`detail-type: Step Functions Execution Status Change`), from its description.
pub fn status_change_event(d: &DescribeExecutionOutput) -> Value {
    let millis = |t: &aws_smithy_types::DateTime| t.to_millis().unwrap_or(0);
    let region = d.execution_arn().split(':').nth(3).unwrap_or("us-east-1");
    json!({
        "version": "0",
        "id": format!("local-{}", d.name().unwrap_or_default()),
        "detail-type": lakeline_core::failure::STATUS_CHANGE,
        "source": "aws.states",
        "account": ACCOUNT,
        "time": d.stop_date().map(|t| t.to_string()),
        "region": region,
        "resources": [d.execution_arn()],
        "detail": {
            "executionArn": d.execution_arn(),
            "stateMachineArn": d.state_machine_arn(),
            "name": d.name(),
            "status": d.status().as_str(),
            "startDate": millis(d.start_date()),
            "stopDate": d.stop_date().map(millis),
            "input": d.input(),
            "output": d.output(),
            "error": d.error(),
            "cause": d.cause(),
        }
    })
}

/// Polls an execution until it is no longer RUNNING, or `within` passed (then returns it as
/// it is, still RUNNING, for the caller to report). moto runs executions on a thread of its
/// own and offers nothing to wait on, so this polls every 100 ms within a bound.
pub async fn wait_finished(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    within: Duration,
) -> anyhow::Result<DescribeExecutionOutput> {
    let deadline = Instant::now() + within;
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await?;
        if d.status().as_str() != "RUNNING" || Instant::now() > deadline {
            return Ok(d);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<(String, String)> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap_or_default();
    Ok((url, arn))
}

/// Receives up to 10 messages with a short long-poll, deleting them; bodies parsed as JSON.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    wait_seconds: i32,
) -> anyhow::Result<Vec<Value>> {
    let res = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .send()
        .await?;
    let mut out = Vec::new();
    for m in res.messages() {
        out.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap_or_default());
        sqs.delete_message()
            .queue_url(url)
            .set_receipt_handle(m.receipt_handle().map(str::to_string))
            .send()
            .await?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_all_or_fails() {
        let t = r#"{"a":"${X}","b":"${Y}","c":"${X}"}"#;
        assert_eq!(placeholders(t), vec!["X", "Y"]);
        let full = BTreeMap::from([("X", "1".to_string()), ("Y", "2".to_string())]);
        assert_eq!(
            substitute(t, &full).unwrap(),
            r#"{"a":"1","b":"2","c":"1"}"#
        );
        let partial = BTreeMap::from([("X", "1".to_string())]);
        assert!(substitute(t, &partial)
            .unwrap_err()
            .to_string()
            .contains("${Y}"));
    }
}
