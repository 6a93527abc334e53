//! `lakeline demo`: the pipeline on the sample data, against the local AWS emulator.
//!
//! It builds a lake the way a deployment would (bucket with an ObjectCreated notification,
//! alert topic with a subscribed queue, pipeline state machine), uploads every sample, feeds
//! each S3 notification to the real validate-upload handler, and prints what happened to each
//! file. It exits non-zero when any file did not end where its name says it should
//! (`good*` → validated and started, `bad*` → quarantined and alerted).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

/// The partition every sample lands in.
const DT: &str = "2026-11-25";

/// Until the pipeline state machine lands, executions run this stand-in: it proves that a
/// valid upload starts exactly one named execution with the right input.
const STAND_IN_DEFINITION: &str = r#"{"Comment":"lakeline demo stand-in for the pipeline","StartAt":"Accepted","States":{"Accepted":{"Type":"Pass","End":true}}}"#;

struct Upload {
    key: String,
    expect_valid: bool,
}

pub async fn run(samples: &Path, config: &Path) -> anyhow::Result<ExitCode> {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        bail!("AWS_ENDPOINT_URL is not set: run `make demo`, which starts the local AWS first");
    }
    let registry = crate::load_registry(config)?;
    let conf = lakeline::aws::sdk_config().await;
    let s3 = lakeline::aws::s3_client(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let t0 = Instant::now();

    // The lake.
    let suffix = format!("{:x}", std::process::id());
    let bucket = format!("lakeline-demo-{suffix}");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .context("creating the bucket")?;
    let topic = sns
        .create_topic()
        .name(format!("lakeline-alerts-{suffix}"))
        .send()
        .await?
        .topic_arn
        .unwrap_or_default();
    let inbox = make_queue(&sqs, &format!("lakeline-alerts-inbox-{suffix}")).await?;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&inbox.1)
        .send()
        .await?;
    let events = make_queue(&sqs, &format!("lakeline-s3-events-{suffix}")).await?;
    let notif = aws_sdk_s3::types::NotificationConfiguration::builder()
        .queue_configurations(
            aws_sdk_s3::types::QueueConfiguration::builder()
                .queue_arn(&events.1)
                .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                .build()?,
        )
        .build();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(notif)
        .send()
        .await?;
    let sm = sfn
        .create_state_machine()
        .name(format!("lakeline-pipeline-{suffix}"))
        .definition(STAND_IN_DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/lakeline-pipeline")
        .send()
        .await?
        .state_machine_arn;
    println!("lake: s3://{bucket}  alerts: {topic}\n");

    // The uploads: every sample, plus two mistakes data teams really make.
    let mut uploads = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(samples)
        .with_context(|| format!("reading {}", samples.display()))?
        .collect::<Result<_, _>>()?;
    dirs.sort_by_key(|d| d.file_name());
    for dir in dirs.iter().filter(|d| d.path().is_dir()) {
        let dataset = dir.file_name().to_string_lossy().to_string();
        let mut files: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
        files.sort_by_key(|f| f.file_name());
        for f in files {
            let name = f.file_name().to_string_lossy().to_string();
            let key = format!("raw/{dataset}/dt={DT}/{name}");
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(std::fs::read(f.path())?.into())
                .send()
                .await?;
            uploads.push(Upload {
                key,
                expect_valid: name.starts_with("good"),
            });
        }
    }
    if let Ok(csv) = std::fs::read(samples.join("orders/good.csv")) {
        for key in [
            format!("raw/orders/{DT}/forgot the dt.csv"),
            format!("raw/inventory/dt={DT}/actually-a-csv.parquet"),
        ] {
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(csv.clone().into())
                .send()
                .await?;
            uploads.push(Upload {
                key,
                expect_valid: false,
            });
        }
    }

    // Deliver each S3 notification to the real handler, as Lambda would.
    let deps = validate_upload::Deps {
        s3: s3.clone(),
        sfn: sfn.clone(),
        sns: sns.clone(),
        registry: Arc::new(registry),
        config: validate_upload::Config {
            state_machine_arn: sm.clone(),
            topic_arn: topic.clone(),
            region: conf.region().map_or("us-east-1".into(), |r| r.to_string()),
            multipart_copy_threshold: 5 << 30,
            copy_part_size: 512 << 20,
        },
    };
    let mut outcomes: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while outcomes.len() < uploads.len() && Instant::now() < deadline {
        for ev in receive(&sqs, &events.0).await? {
            let res = validate_upload::handle(&deps, ev)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", e.error_type()))?;
            if let Some(list) = res["outcomes"].as_array() {
                outcomes.extend(list.iter().cloned());
            }
        }
    }
    let mut alerts = Vec::new();
    let want_alerts = uploads.iter().filter(|u| !u.expect_valid).count();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alerts.len() < want_alerts && Instant::now() < deadline {
        alerts.extend(receive(&sqs, &inbox.0).await?);
    }

    // The report.
    let mut failures = Vec::new();
    for u in &uploads {
        let o = outcomes.iter().find(|o| o["key"] == u.key.as_str());
        let Some(o) = o else {
            failures.push(format!("{}: no S3 notification was handled", u.key));
            continue;
        };
        let verdict = o["outcome"].as_str().unwrap_or("?");
        println!(
            "{}  {}",
            if verdict == "valid" {
                "VALID  "
            } else {
                "INVALID"
            },
            u.key
        );
        match verdict {
            "valid" => {
                let exec = o["execution"].as_str().unwrap_or_default();
                let arn = format!("{}:{exec}", sm.replace(":stateMachine:", ":execution:"));
                let status = sfn
                    .describe_execution()
                    .execution_arn(&arn)
                    .send()
                    .await
                    .map(|d| d.status().as_str().to_string())
                    .unwrap_or_else(|e| format!("unknown ({e})"));
                println!(
                    "         stays in raw/, tagged lakeline:status=validated; {} rows",
                    o["rows"]
                );
                println!("         execution {exec}: {status}");
            }
            "quarantined" => {
                println!(
                    "         moved to s3://{bucket}/{}",
                    o["quarantine_key"].as_str().unwrap_or_default()
                );
                if let Some(ps) = o["report"]["problems"].as_array() {
                    for p in ps.iter().take(3) {
                        println!("         - {}", problem_line(p));
                    }
                    if ps.len() > 3 {
                        println!("         … {} more", ps.len() - 3);
                    }
                }
                let subject = alerts
                    .iter()
                    .find(|a| {
                        a["Message"].as_str().is_some_and(|m| {
                            m.contains(&format!("\"object\":\"s3://{bucket}/{}\"", u.key))
                        })
                    })
                    .and_then(|a| a["Subject"].as_str());
                match subject {
                    Some(s) => println!("         alert: {s}"),
                    None => failures.push(format!("{}: no alert arrived", u.key)),
                }
            }
            other => println!("         {other}"),
        }
        if (verdict == "valid") != u.expect_valid {
            failures.push(format!(
                "{}: expected {}, got {verdict}",
                u.key,
                if u.expect_valid {
                    "valid"
                } else {
                    "quarantined"
                }
            ));
        }
    }
    if let Some(a) = alerts.first() {
        let doc: Value =
            serde_json::from_str(a["Message"].as_str().unwrap_or("{}")).unwrap_or_default();
        println!(
            "\nOne alert as a human reads it (email / default):\nSubject: {}\n{}",
            a["Subject"].as_str().unwrap_or_default(),
            doc["text"].as_str().unwrap_or_default()
        );
    }
    let valid = outcomes.iter().filter(|o| o["outcome"] == "valid").count();
    println!(
        "{} files: {valid} valid, {} quarantined, {} alerts; {:.1} s",
        uploads.len(),
        outcomes
            .iter()
            .filter(|o| o["outcome"] == "quarantined")
            .count(),
        alerts.len(),
        t0.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        println!("demo: everything happened as it should");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("demo: FAILED: {f}");
        }
        Ok(ExitCode::from(1))
    }
}

fn problem_line(p: &Value) -> String {
    let p: lakeline::validate::Problem = match serde_json::from_value(p.clone()) {
        Ok(p) => p,
        Err(_) => return p.to_string(),
    };
    p.to_string()
}

async fn make_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<(String, String)> {
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

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<Vec<Value>> {
    let res = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await?;
    let mut out = Vec::new();
    for m in res.messages() {
        out.push(serde_json::from_str(m.body().unwrap_or("null"))?);
        sqs.delete_message()
            .queue_url(url)
            .set_receipt_handle(m.receipt_handle().map(str::to_string))
            .send()
            .await?;
    }
    Ok(out)
}
