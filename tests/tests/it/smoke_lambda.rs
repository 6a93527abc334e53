//! Smoke test of the real Lambda binaries: `cargo lambda watch` builds and runs each function's
//! `main` (environment, clients, runtime loop) and we invoke it through the Lambda Invoke API
//! with the sample events in `events/`, against the emulator. The handlers are tested in depth
//! elsewhere; this proves the wiring around them.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lakeline_tests::{endpoint, http, sdk_config, shipped_registry, WAITING_DEFINITION};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn event(name: &str) -> Value {
    let path = root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `cargo lambda watch` and everything it spawned, stopped on drop.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        // It runs in its own process group: stop the function processes too.
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", self.0.id()))
            .status();
        let _ = self.0.wait();
    }
}

async fn invoke(port: u16, function: &str, payload: &Value) -> (u16, Value) {
    let (status, body) = http(
        &format!("http://127.0.0.1:{port}"),
        "POST",
        &format!("/2015-03-31/functions/{function}/invocations"),
        &payload.to_string(),
    )
    .await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// The one identity of all six binaries: `cargo lambda watch` gives every function the same
/// environment. The permissions check reports this key's calls as a named exception (they
/// are the same handlers' calls the other tests check per role: docs/permissions.md).
const SMOKE_KEY: &str = "lakeline-smoke";

#[tokio::test]
async fn each_function_binary_answers_its_sample_event() {
    use std::os::unix::process::CommandExt;
    let conf = sdk_config().await;
    let s3 = lakeline_aws::s3_client(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let glue = aws_sdk_glue::Client::new(&conf);

    // The resources the sample events name.
    let mut put = event("s3-put.json");
    let bucket = put["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let key = lakeline_core::keys::decode_event_key(
        put["Records"][0]["s3"]["object"]["key"].as_str().unwrap(),
    )
    .unwrap();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let body = lakeline_tests::sample("orders/good.csv");
    let etag = s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(body.into())
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    // The fixture names a version and ETag of its own; point it at the object we uploaded.
    let obj = &mut put["Records"][0]["s3"]["object"];
    obj["eTag"] = Value::String(etag.trim_matches('"').to_string());
    obj.as_object_mut().unwrap().remove("versionId");
    let topic = sns
        .create_topic()
        .name(lakeline_tests::unique("smoke"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let sm = sfn
        .create_state_machine()
        .name(lakeline_tests::unique("smoke"))
        .definition(WAITING_DEFINITION)
        .role_arn(lakeline_tests::ROLE_ARN)
        .send()
        .await
        .unwrap()
        .state_machine_arn;
    let reg = shipped_registry();
    let (_, orders) = reg.dataset("orders").unwrap();
    let Some(lakeline_core::jobs::JobSpec::Glue(g)) = &orders.job else {
        panic!("orders runs a Glue job in the shipped registry")
    };
    glue.create_job()
        .name(&g.job_name)
        .role(lakeline_tests::ROLE_ARN)
        .command(
            aws_sdk_glue::types::JobCommand::builder()
                .name("glueetl")
                .script_location("s3://artifacts/x.py")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let env_file = std::env::temp_dir().join(lakeline_tests::unique("lambda-env"));
    std::fs::write(
        &env_file,
        format!(
            "LAKELINE_REGISTRY={}\nSTATE_MACHINE_ARN={sm}\nALERT_TOPIC_ARN={topic}\nAWS_ENDPOINT_URL={}\nAWS_ACCESS_KEY_ID={SMOKE_KEY}\nAWS_SECRET_ACCESS_KEY=testing\nAWS_REGION=us-east-1\nAWS_LAMBDA_LOG_FORMAT=JSON\n",
            root().join("config/datasets.yaml").display(),
            endpoint()
        ),
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("cargo")
        .args(["lambda", "watch", "-A", "127.0.0.1", "-P", &port.to_string(), "--env-file"])
        .arg(&env_file)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("cargo lambda is not installed: run the tests with `make test` (scripts/local-aws installs it)");
    let _watch = Watch(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, out) = invoke(port, "validate-upload", &put).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outcomes"][0]["outcome"], "valid", "{out}");

    // curate: the execution input for the same upload, pointed at the object uploaded above.
    let mut cur = event("curate.json");
    cur["etag"] = Value::String(etag.trim_matches('"').to_string());
    cur["rows"] = out["outcomes"][0]["rows"].clone();
    let (status, out) = invoke(port, "curate", &cur).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], "CURATED", "{out}");
    assert_eq!(out["rows"], cur["rows"], "{out}");

    let (status, out) = invoke(port, "start-job", &event("start-job-start.json")).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["jobName"], g.job_name.as_str(), "{out}");

    let (status, out) = invoke(
        port,
        "check-compaction",
        &event("check-compaction-partition.json"),
    )
    .await;
    // No tables in this environment (no LAKELINE_TABLE_BUCKET_ARN): nothing to plan.
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (&out["bucket"], &out["compact"]),
        (&Value::from("lakeline-demo"), &Value::Bool(false)),
        "{out}"
    );

    // compact: a table partition's compaction needs the stack's tables, and says so.
    let (status, out) = invoke(port, "compact", &event("compact-table.json")).await;
    assert_ne!(status, 200, "{out}");
    assert_eq!(
        out["errorType"],
        lakeline_core::error_names::CONFIG,
        "{out}"
    );
    assert!(
        out["errorMessage"].as_str().unwrap().contains("no tables"),
        "{out}"
    );

    let (status, out) = invoke(
        port,
        "notify-failure",
        &event("notify-failure-timeout.json"),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert!(out["messageId"].is_string(), "{out}");

    // A function error comes back with its stable errorType (cargo lambda answers 500 where
    // Lambda answers 200 + X-Amz-Function-Error).
    let (status, out) = invoke(port, "start-job", &serde_json::json!({"action": "launch"})).await;
    assert_ne!(status, 200);
    assert_eq!(
        out["errorType"],
        lakeline_core::error_names::BAD_INPUT,
        "{out}"
    );
    let _ = std::fs::remove_file(env_file);
}
