//! A running function follows its registry object: a new version is picked up after the TTL
//! without a cold start; a broken one is refused and the last good one keeps serving.

use std::collections::HashMap;

use lakeline_aws::live::Live;
use lakeline_core::registry::Registry;
use lakeline_tests::{Lake, WAITING_DEFINITION};

const V1: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    columns: [{name: id, type: int}]\n";
const V2: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    columns: [{name: id, type: int}, {name: note, type: string}]\n";
const BROKEN: &str = "version: 1\ndatasets:\n  orders:\n    key_pattern: raw/orders/{file}\n    format: csv\n    colums: []\n";

#[tokio::test]
async fn a_new_registry_is_picked_up_and_a_broken_one_refused() {
    let lake = Lake::new(WAITING_DEFINITION).await;
    lake.put("config/datasets.yaml", V1.into()).await;
    let location = format!("s3://{}/config/datasets.yaml", lake.bucket);
    let env: HashMap<String, String> = HashMap::from([
        ("LAKELINE_REGISTRY".to_string(), location.clone()),
        // Look at the object on every invocation.
        ("LAKELINE_REGISTRY_TTL_SECONDS".to_string(), "0".to_string()),
    ]);
    // A function's registry reads: any function's role may read the registry; curate's here.
    let s3 = lake.s3_as("curate");
    let first = lakeline_aws::load_registry(&location, &s3, &Default::default())
        .await
        .unwrap();
    let live = Live::new(first, &env, s3, "test").await.unwrap();
    let columns = |r: &Registry| r.dataset("orders").unwrap().1.columns.len();
    let keep = |_: &Registry, r: Registry| r;

    assert_eq!(columns(&*live.current(keep).await), 1);
    lake.put("config/datasets.yaml", V2.into()).await;
    assert_eq!(
        columns(&*live.current(keep).await),
        2,
        "new version picked up"
    );
    lake.put("config/datasets.yaml", BROKEN.into()).await;
    assert_eq!(
        columns(&*live.current(keep).await),
        2,
        "a broken version is refused; the last good one serves"
    );
    lake.put("config/datasets.yaml", V1.into()).await;
    assert_eq!(
        columns(&*live.current(keep).await),
        1,
        "a fixed version is taken"
    );
}

/// A new version that could not be read (S3 answered 503 SlowDown) was not judged, so it is
/// read again after the TTL and taken once it reads, rather than refused until its bytes
/// change. moto never throttles: the S3 client is aws-smithy-mocks' (HEAD answers the cold
/// start's ETag, then the new one; GET fails once, then answers the new registry), with the
/// SDK's retries off so one 503 is one failed read.
#[tokio::test]
async fn a_registry_version_that_could_not_be_read_is_read_again() {
    use aws_sdk_s3::config::{retry::RetryConfig, Credentials, Region};
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_smithy_mocks::{mock, MockResponseInterceptor, RuleMode};

    let head = mock!(aws_sdk_s3::Client::head_object)
        .sequence()
        .output(|| HeadObjectOutput::builder().e_tag("\"v1\"").build())
        .output(|| HeadObjectOutput::builder().e_tag("\"v2\"").build())
        .repeatedly()
        .build();
    let get = mock!(aws_sdk_s3::Client::get_object)
        .sequence()
        .http_status(
            503,
            Some("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into()),
        )
        .output(|| GetObjectOutput::builder().body(ByteStream::from_static(V2.as_bytes())).build())
        .build();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("mock", "mock", None, None, "mock"))
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(&head)
                .with_rule(&get),
        )
        .retry_config(RetryConfig::disabled())
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let env: HashMap<String, String> = HashMap::from([
        (
            "LAKELINE_REGISTRY".to_string(),
            "s3://lake/config/datasets.yaml".to_string(),
        ),
        ("LAKELINE_REGISTRY_TTL_SECONDS".to_string(), "0".to_string()),
    ]);
    let first = Registry::from_yaml(V1, "t.yaml").unwrap();
    let live = Live::new(first, &env, s3, "test").await.unwrap();
    let columns = |r: &Registry| r.dataset("orders").unwrap().1.columns.len();
    let keep = |_: &Registry, r: Registry| r;
    assert_eq!(
        columns(&*live.current(keep).await),
        1,
        "the unreadable version is not taken"
    );
    assert_eq!(get.num_calls(), 1);
    assert_eq!(
        columns(&*live.current(keep).await),
        2,
        "read again, and taken"
    );
    assert_eq!(get.num_calls(), 2);
}
