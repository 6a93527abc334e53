//! notify-failure against the local AWS: the alert is published to a real (moto) SNS topic and
//! arrives on SQS subscriptions, with its attributes, through a filter policy.

use std::time::Duration;

use lakeline_tests::{queue_arn, receive, sdk_config, unique};
use notify_failure::{handle, Deps};
use serde_json::{json, Value};

struct Topic {
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    arn: String,
    /// notify-failure's SNS client, signed as its template role.
    function_sns: aws_sdk_sns::Client,
}

impl Topic {
    async fn new() -> Topic {
        let conf = sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&conf);
        let sqs = aws_sdk_sqs::Client::new(&conf);
        let arn = sns
            .create_topic()
            .name(unique("alerts"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        // The topic is the stack's AlertTopic: the only one notify-failure may publish to.
        lakeline_tests::register_lake(&unique("alerts-stack"), &[("AlertTopic", arn.clone())])
            .await;
        let function_sns =
            aws_sdk_sns::Client::new(&lakeline_tests::as_function(&conf, "notify-failure"));
        Topic {
            sns,
            sqs,
            arn,
            function_sns,
        }
    }

    /// A queue subscribed with a filter policy on the message attributes; returns its URL.
    async fn queue(&self, filter_policy: &str) -> String {
        let url = self
            .sqs
            .create_queue()
            .queue_name(unique("q"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let qarn = queue_arn(&self.sqs, &url).await;
        self.sns
            .subscribe()
            .topic_arn(&self.arn)
            .protocol("sqs")
            .endpoint(qarn)
            .attributes("FilterPolicy", filter_policy)
            .send()
            .await
            .unwrap();
        url
    }

    fn deps(&self) -> Deps {
        Deps {
            sns: self.function_sns.clone(),
            topic_arn: self.arn.clone(),
            region: "us-east-1".into(),
        }
    }
}

fn glue_failure_event() -> Value {
    let status = json!({
        "status": "FAILED", "done": true, "engineState": "FAILED",
        "message": "AnalysisException: Path does not exist: s3://lake/raw/orders/dt=2026-11-25/export.csv",
        "durationSeconds": 95, "billed": {"dpuSeconds": 190.0}, "links": [], "waitSeconds": 0,
        "run": {"engine": "glue", "jobName": "lakeline-orders-curate", "runId": "jr_0f3c", "runKey": "lakeline-1a2b",
                "startedAt": "2026-11-25T10:00:00Z", "dataset": "orders", "partition": "dt=2026-11-25", "checks": 4}
    });
    json!({
        "stage": "job",
        "execution": {"Id": "arn:aws:states:us-east-1:123456789012:execution:lakeline-pipeline:orders-2026-11-25-export-5d41402abc4b2a76b971",
                      "Name": "orders-2026-11-25-export-5d41402abc4b2a76b971", "StartTime": "2026-11-25T10:00:00.000Z"},
        "input": {"bucket": "lake", "key": "raw/orders/dt=2026-11-25/export.csv", "dataset": "orders",
                  "partition": "dt=2026-11-25", "format": "csv", "etag": "0123abcd"},
        "error": {"Error": "Lakeline.JobFailed", "Cause": status.to_string()}
    })
}

#[tokio::test]
async fn job_failure_alert_arrives_through_a_filter_policy_with_its_attributes() {
    let topic = Topic::new().await;
    let jobs_q = topic
        .queue(r#"{"stage": ["job"], "error_type": ["Lakeline.JobFailed"]}"#)
        .await;
    let validation_q = topic.queue(r#"{"stage": ["validation"]}"#).await;

    let out = handle(&topic.deps(), glue_failure_event()).await.unwrap();
    let subject = "[lakeline] ERROR orders job: Glue job failed (Lakeline.JobFailed)";
    assert_eq!(out["subject"], subject);

    let got = receive(&topic.sqs, &jobs_q, 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let env = &got[0];
    assert_eq!(env["Subject"], subject);
    assert_eq!(env["MessageId"], out["messageId"]);
    let attrs = &env["MessageAttributes"];
    assert_eq!(attrs["dataset"]["Value"], "orders");
    assert_eq!(attrs["stage"]["Value"], "job");
    assert_eq!(attrs["error_type"]["Value"], "Lakeline.JobFailed");
    assert_eq!(attrs["severity"]["Value"], "ERROR");
    // The SQS protocol gets the JSON variant of MessageStructure json.
    let doc: Value = serde_json::from_str(env["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        doc["object"],
        "s3://lake/raw/orders/dt=2026-11-25/export.csv"
    );
    assert_eq!(
        doc["reasons"][0],
        "AnalysisException: Path does not exist: s3://lake/raw/orders/dt=2026-11-25/export.csv"
    );
    let text = doc["text"].as_str().unwrap();
    assert!(
        text.contains("Execution: https://us-east-1.console.aws.amazon.com/states/"),
        "{text}"
    );
    assert!(
        text.contains("Glue error log: https://us-east-1.console.aws.amazon.com/cloudwatch/"),
        "{text}"
    );
    println!("{subject}\n\n{text}");

    // moto fans out during Publish, so the filtered-out queue is already final.
    let none = receive(&topic.sqs, &validation_q, 1, Duration::from_secs(1)).await;
    assert!(none.is_empty(), "{none:?}");
}

#[tokio::test]
async fn garbage_and_oversized_causes_still_alert_within_sns_limits() {
    let topic = Topic::new().await;
    let q = topic.queue(r#"{"severity": ["ERROR"]}"#).await;
    let huge = "x".repeat(300 * 1024);
    let events = [
        json!("not even an object"),
        json!({"error": {"Error": "States.Runtime", "Cause": huge}}),
        json!({"Error": "States.TaskFailed", "Cause": json!({"errorType": "Lakeline.Transient", "errorMessage": "é".repeat(200_000)}).to_string()}),
    ];
    for ev in events {
        let out = handle(&topic.deps(), ev).await.unwrap();
        assert!(out["subject"].as_str().unwrap().len() <= 100);
    }
    let got = receive(&topic.sqs, &q, 3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let types: Vec<&str> = got
        .iter()
        .map(|e| {
            e["MessageAttributes"]["error_type"]["Value"]
                .as_str()
                .unwrap()
        })
        .collect();
    for t in ["Unknown", "States.Runtime", "Lakeline.Transient"] {
        assert!(types.contains(&t), "{t} not in {types:?}");
    }
}

#[tokio::test]
async fn missing_topic_is_a_config_error() {
    let topic = Topic::new().await;
    // The stack's topic was deleted behind its back: the policy still names it.
    let gone = format!("{}-gone", topic.arn);
    lakeline_tests::register_lake(&unique("gone-stack"), &[("AlertTopic", gone.clone())]).await;
    let deps = Deps {
        topic_arn: gone,
        ..topic.deps()
    };
    let err = handle(&deps, glue_failure_event()).await.unwrap_err();
    assert_eq!(err.error_type(), "Lakeline.Config", "{err}");
}

#[tokio::test]
async fn sns_throttling_is_transient() {
    // moto never throttles SNS: a canned answer instead.
    use aws_sdk_sns::config::retry::RetryConfig;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    let rule = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .http_status(400, Some("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>".into()))
        .build();
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rule], |c| c
        .retry_config(RetryConfig::disabled()));
    let deps = Deps {
        sns,
        topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
        region: "us-east-1".into(),
    };
    let err = handle(&deps, glue_failure_event()).await.unwrap_err();
    assert_eq!(err.error_type(), "Lakeline.Transient", "{err}");
}
