//! The harness of lakeline's integration tests: real aws-sdk-rust clients pointed at one moto
//! server per test run (started by `scripts/local-aws run`, which `make test` uses) through the
//! router in front of it, which records every call for the permissions check; a fresh, uniquely
//! named lake per test so tests run in parallel without seeing each other. The harness's own
//! clients sign as the unchecked admin; a handler or CLI command under test signs as its
//! template role or documented person (`lakeline_local::identity`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use lakeline_core::registry::Registry;
use serde_json::Value;

pub mod curated;
pub mod jobs;
pub mod pipeline;
pub mod tables;

/// One plain HTTP/1.1 request (moto's own API and the router's deploy endpoint have no SDK);
/// returns (status, body).
pub async fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("{base}: {e}"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The emulator's URL, from the environment `scripts/local-aws` sets.
pub fn endpoint() -> String {
    std::env::var("LAKELINE_TEST_ENDPOINT").unwrap_or_else(|_| {
        panic!("LAKELINE_TEST_ENDPOINT is not set: run the tests with `make test` (it starts the local AWS), or `scripts/local-aws run cargo test`")
    })
}

/// SDK configuration for the emulator (through the router, which records every call), fixed
/// region, signed as the harness's admin: set-up and inspection, never checked. A handler or
/// CLI command under test gets its own identity: [`as_function`], [`as_person`].
pub async fn sdk_config() -> SdkConfig {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new("us-east-1"))
        .load()
        .await;
    lakeline_local::identity::as_admin(&conf)
}

pub use lakeline_local::identity::{as_function, as_person, Person};

/// Registers a bucket a test made itself as a lake (a stack with nothing else) with the
/// router's call log, so the calls on it are checked against the template's policies with it
/// as the lake bucket. `resources` maps template logical ids to local ARNs or names.
pub async fn register_lake(bucket: &str, resources: &[(&'static str, String)]) {
    let router = std::env::var("LAKELINE_ROUTER_URL")
        .expect("LAKELINE_ROUTER_URL is not set: run with `make test`");
    lakeline_local::stack::register_stack(
        &router,
        bucket,
        &resources.iter().cloned().collect(),
        &Default::default(),
    )
    .await
    .unwrap();
}

pub use lakeline_local::stack::unique;

/// The shipped registry (`config/datasets.yaml`).
pub fn shipped_registry() -> Registry {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/datasets.yaml");
    lakeline_core::placeholders::load(
        &std::fs::read_to_string(path).unwrap(),
        path,
        &Default::default(),
    )
    .unwrap()
}

/// A sample file from `samples/`.
pub fn sample(rel: &str) -> Vec<u8> {
    let path = format!("{}/../samples/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A Step Functions role ARN; moto accepts any well-formed one.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/lakeline-test";

/// A state machine that stays RUNNING for a minute: for tests that start executions and look
/// at them while they are open.
pub const WAITING_DEFINITION: &str = r#"{"StartAt":"Hold","States":{"Hold":{"Type":"Wait","Seconds":60,"Next":"Done"},"Done":{"Type":"Succeed"}}}"#;

/// One test's lake: bucket, alert topic with an SQS subscription, pipeline state machine.
pub struct Lake {
    /// SDK configuration.
    pub conf: SdkConfig,
    /// S3 client.
    pub s3: aws_sdk_s3::Client,
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// Step Functions client.
    pub sfn: aws_sdk_sfn::Client,
    /// The bucket.
    pub bucket: String,
    /// Alert topic ARN.
    pub topic_arn: String,
    /// Queue subscribed to the topic.
    pub alert_queue_url: String,
    /// Pipeline state machine ARN.
    pub state_machine_arn: String,
}

impl Lake {
    /// Creates a fresh lake whose pipeline state machine has `definition`.
    pub async fn new(definition: &str) -> Lake {
        let conf = sdk_config().await;
        let s3 = lakeline_aws::s3_client(&conf);
        let sns = aws_sdk_sns::Client::new(&conf);
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let sfn = aws_sdk_sfn::Client::new(&conf);
        let id = unique("lake");
        s3.create_bucket().bucket(&id).send().await.unwrap();
        let topic_arn = sns
            .create_topic()
            .name(&id)
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let alert_queue_url = sqs
            .create_queue()
            .queue_name(&id)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = queue_arn(&sqs, &alert_queue_url).await;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .send()
            .await
            .unwrap();
        let state_machine_arn = sfn
            .create_state_machine()
            .name(&id)
            .definition(definition)
            .role_arn(ROLE_ARN)
            .send()
            .await
            .unwrap()
            .state_machine_arn;
        // The test's state machine stands for the pipeline validate-upload starts.
        register_lake(
            &id,
            &[
                ("AlertTopic", topic_arn.clone()),
                ("Pipeline", state_machine_arn.clone()),
            ],
        )
        .await;
        Lake {
            conf,
            s3,
            sns,
            sqs,
            sfn,
            bucket: id,
            topic_arn,
            alert_queue_url,
            state_machine_arn,
        }
    }

    /// SDK configuration signed as a function's template role (by handler name).
    pub fn conf_as(&self, handler: &str) -> SdkConfig {
        as_function(&self.conf, handler)
    }

    /// An S3 client signed as a function's role.
    pub fn s3_as(&self, handler: &str) -> aws_sdk_s3::Client {
        lakeline_aws::s3_client(&self.conf_as(handler))
    }

    /// The validate-upload dependencies for this lake, signed as its role.
    pub fn validate_deps(&self, registry: Registry) -> validate_upload::Deps {
        let conf = self.conf_as("validate-upload");
        validate_upload::Deps {
            s3: lakeline_aws::s3_client(&conf),
            sfn: aws_sdk_sfn::Client::new(&conf),
            sns: aws_sdk_sns::Client::new(&conf),
            registry: Arc::new(registry),
            config: validate_upload::Config {
                state_machine_arn: self.state_machine_arn.clone(),
                topic_arn: self.topic_arn.clone(),
                region: "us-east-1".into(),
                multipart_copy_threshold: 5 << 30,
                copy_part_size: 512 << 20,
            },
        }
    }

    /// Uploads an object; returns its ETag without quotes.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> String {
        let out = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        out.e_tag.unwrap_or_default().trim_matches('"').to_string()
    }

    /// Whether a key exists.
    pub async fn exists(&self, key: &str) -> bool {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
            Err(e) => panic!("head {key}: {e:?}"),
        }
    }

    /// An object's HEAD (metadata, ETag, size); panics when it is not there.
    pub async fn head(&self, key: &str) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
        self.s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {key}: {e:?}"))
    }

    /// The object's tags as (key, value) pairs.
    pub async fn tags(&self, key: &str) -> Vec<(String, String)> {
        let out = self
            .s3
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }

    /// An object's bytes.
    pub async fn body(&self, key: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// Marks a quarantined copy's alert as not yet sent, as a crash between the quarantine
    /// and the alert leaves it (the other tags are kept).
    pub async fn mark_alert_pending(&self, key: &str) {
        let mut tags: Vec<aws_sdk_s3::types::Tag> = self
            .tags(key)
            .await
            .into_iter()
            .filter(|(k, _)| k != "lakeline:alert")
            .map(|(k, v)| {
                aws_sdk_s3::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .unwrap()
            })
            .collect();
        tags.push(
            aws_sdk_s3::types::Tag::builder()
                .key("lakeline:alert")
                .value("pending")
                .build()
                .unwrap(),
        );
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .unwrap();
        self.s3
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .unwrap();
    }

    /// The S3 event S3 would deliver for an upload of `key` (key form-encoded like S3 does),
    /// with a sequencer of its own, as every PUT gets one.
    pub fn event_for(&self, key: &str, size: usize, etag: &str) -> Value {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let sequencer = format!(
            "00{:08X}{:08X}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let encoded: String = form_encode(key);
        serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-25T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:TEST"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "lakeline",
                   "bucket": {"name": self.bucket, "ownerIdentity": {"principalId": "TEST"}, "arn": format!("arn:aws:s3:::{}", self.bucket)},
                   "object": {"key": encoded, "size": size, "eTag": etag, "sequencer": sequencer}}
        }]})
    }

    /// Uploads and returns the S3 event for it.
    pub async fn upload(&self, key: &str, body: Vec<u8>) -> Value {
        let size = body.len();
        let etag = self.put(key, body).await;
        self.event_for(key, size, &etag)
    }

    /// Alerts that arrived on the subscribed queue within `wait` (SNS envelopes, parsed).
    pub async fn alerts(&self, want: usize, wait: Duration) -> Vec<Value> {
        receive(&self.sqs, &self.alert_queue_url, want, wait).await
    }

    /// Executions of the pipeline state machine.
    pub async fn executions(&self) -> Vec<aws_sdk_sfn::types::ExecutionListItem> {
        self.sfn
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .send()
            .await
            .unwrap()
            .executions
    }
}

/// Form-encodes a key the way S3 notifications do (space → `+`).
pub fn form_encode(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b' ');
    percent_encoding::utf8_percent_encode(key, SET)
        .to_string()
        .replace(' ', "+")
}

/// The ARN of a queue.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone()
}

/// Receives up to `want` messages (long polling, no sleeps), deleting them; bodies parsed as
/// JSON when they are JSON, else kept as strings.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
    wait: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while out.len() < want && Instant::now() < deadline {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs()
            .clamp(1, 20) as i32;
        let res = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(left)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        for m in res.messages() {
            let body = m.body().unwrap_or_default();
            out.push(
                serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())),
            );
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out
}

/// Runs the validate-upload handler on an event, as Lambda would.
pub async fn validate(
    deps: &validate_upload::Deps,
    event: Value,
) -> Result<Value, validate_upload::HandlerError> {
    validate_upload::handle(deps, event).await
}

/// The `order_id`s of a curated orders object, in order.
pub async fn curated_order_ids(lake: &Lake, key: &str) -> Vec<i64> {
    let bytes = lake.body(key).await;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut ids = Vec::new();
    for b in reader {
        let b = b.unwrap();
        let col = b.column_by_name("order_id").unwrap();
        let col = col
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        ids.extend(col.values().iter().copied());
    }
    ids
}

/// The `order_id`s of an orders CSV (the first field of each row after the header).
pub fn csv_order_ids(body: &[u8]) -> Vec<i64> {
    String::from_utf8_lossy(body)
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// The single outcome of a one-record invocation.
pub fn outcome(result: &Value) -> &Value {
    let list = result["outcomes"].as_array().expect("outcomes");
    assert_eq!(list.len(), 1, "{result}");
    &list[0]
}
