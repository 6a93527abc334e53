//! Running things again once their cause is fixed: `lakeline redrive`, `rerun`, `replay` and
//! `redrive-dlq`. Each works the same against AWS and the local emulator, except
//! RedriveExecution, which moto does not have (the command says so instead of pretending).
//!
//! Which one an alert asks for is decided in [`lakeline_core::failure::Remedy`]:
//! - `redrive`: the execution failed in a Task; it resumes at that step with the same input.
//! - `rerun`: the upload is validated and routed again by validate-upload, as a new execution
//!   named after the failed one ([`lakeline_core::keys::rerun_name`]); a second rerun of the same
//!   execution is the same name, so it runs once.
//! - `replay`: a quarantined object goes back to its raw key with an audit trail in its
//!   metadata; its S3 event has it validated again (quarantined again with a new alert if it is
//!   still invalid).
//! - `redrive-dlq`: the events validate-upload gave up on are handed to it again; each is
//!   deleted from the queue only once it was processed.

use anyhow::{bail, Context};
use aws_sdk_s3::types::{MetadataDirective, TaggingDirective};
use lakeline_core::event::RerunRequest;
use serde_json::{json, Value};

/// Metadata a replayed object carries in raw/ (S3 user metadata, `x-amz-meta-…`).
pub const META_REPLAYED_AT: &str = "lakeline-replayed-at";
/// Why it was replayed (the operator's words).
pub const META_REPLAY_REASON: &str = "lakeline-replay-reason";
/// The verdict it was quarantined with.
pub const META_PREVIOUS_VERDICT: &str = "lakeline-previous-verdict";
/// The quarantine key it came back from (validate-upload removes that copy once the replayed
/// object validates).
pub use lakeline_core::keys::{META_REPLAYED_ETAG, META_REPLAYED_FROM};

/// How `replay` copies: above `multipart_above` bytes part by part (CopyObject stops at 5 GiB).
pub struct Copying {
    /// Objects larger than this are copied part by part.
    pub multipart_above: u64,
    /// The parts' size.
    pub part_size: u64,
}

impl Default for Copying {
    fn default() -> Copying {
        Copying {
            multipart_above: lakeline_aws::copy::COPY_OBJECT_MAX,
            part_size: lakeline_aws::copy::DEFAULT_PART,
        }
    }
}

/// `s3://bucket/key` → (bucket, key).
pub fn parse_s3_uri(uri: &str) -> anyhow::Result<(String, String)> {
    let rest = uri
        .strip_prefix("s3://")
        .with_context(|| format!("{uri}: not an s3:// URI"))?;
    match rest.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => bail!("{uri}: expected s3://bucket/key"),
    }
}

/// The raw key a quarantined object came from: the quarantine prefix removed, and the
/// `.<etag12>` suffix a second rejected upload of the same key gets
/// ([`lakeline_core::keys::quarantine_key_for_upload`]) when it matches the recorded source ETag.
pub fn raw_key_of(
    quarantine_key: &str,
    quarantine_prefix: &str,
    source_etag: Option<&str>,
) -> anyhow::Result<String> {
    let Some(rest) = quarantine_key.strip_prefix(quarantine_prefix) else {
        bail!("{quarantine_key} is not under the quarantine prefix {quarantine_prefix}");
    };
    if let Some(etag) = source_etag {
        let tag: String = etag
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        if let Some(raw) = rest
            .strip_suffix(&format!(".{tag}"))
            .filter(|_| !tag.is_empty())
        {
            return Ok(raw.to_string());
        }
    }
    Ok(rest.to_string())
}

/// `lakeline replay s3://bucket/quarantine/…`: copies the quarantined object back to its raw
/// key with the audit trail (and the copy's origin: key and ETag), and checks the copy. The
/// quarantined copy is removed by validate-upload once the replayed object validates: the
/// bucket policy lets only validate-upload delete there, and the object is in at least one of
/// the two places throughout. Refuses when the raw key holds an object (a newer upload); the
/// copy itself is conditional (`If-None-Match: *`), so an upload arriving after that check is
/// not overwritten either.
pub async fn replay(
    s3: &aws_sdk_s3::Client,
    uri: &str,
    reason: &str,
    quarantine_prefix: &str,
    now: &str,
    copying: &Copying,
) -> anyhow::Result<Value> {
    let (bucket, qkey) = parse_s3_uri(uri)?;
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&qkey)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("HeadObject {uri}: {}", lakeline_aws::describe(&e)))?;
    let etag = head
        .e_tag()
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let meta = head.metadata().cloned().unwrap_or_default();
    let raw_key = raw_key_of(
        &qkey,
        quarantine_prefix,
        meta.get("lakeline-source-etag").map(String::as_str),
    )?;
    match s3.head_object().bucket(&bucket).key(&raw_key).send().await {
        Ok(_) => bail!(
            "s3://{bucket}/{raw_key} holds an object (a newer upload of that key): replaying would overwrite it. Move that one aside first, or upload the fixed file under another name."
        ),
        Err(e) if lakeline_aws::is_gone(&e) => {}
        Err(e) => bail!(
            "HeadObject s3://{bucket}/{raw_key}: {}",
            lakeline_aws::describe(&e)
        ),
    }
    let previous = meta
        .get("lakeline-reason")
        .cloned()
        .unwrap_or_else(|| "(no verdict recorded)".into());
    let metadata = [
        (META_REPLAYED_AT, lakeline_core::text::header_safe(now, 64)),
        (
            META_REPLAY_REASON,
            lakeline_core::text::header_safe(reason, 512),
        ),
        (
            META_PREVIOUS_VERDICT,
            lakeline_core::text::header_safe(&previous, 1024),
        ),
        (
            META_REPLAYED_FROM,
            lakeline_core::text::header_safe(&qkey, 256),
        ),
        (META_REPLAYED_ETAG, etag.clone()),
    ];
    let size = head.content_length().unwrap_or(0).max(0) as u64;
    let src = lakeline_aws::copy::Source {
        bucket: &bucket,
        key: &qkey,
        version_id: None,
        etag: &etag,
        size,
    };
    let meanwhile = || {
        anyhow::anyhow!(
            "s3://{bucket}/{raw_key} was uploaded meanwhile (a newer upload of that key): nothing was replayed, the quarantined object is kept"
        )
    };
    if size > copying.multipart_above {
        // CopyObject stops at 5 GiB: part by part, completed only if the raw key is still free.
        let dst = lakeline_aws::copy::Target {
            bucket: &bucket,
            key: &raw_key,
            metadata: &metadata,
            tagging: None,
            content_type: head.content_type(),
            only_if_absent: true,
        };
        match lakeline_aws::copy::multipart_copy(s3, &src, &dst, copying.part_size).await? {
            lakeline_aws::copy::Copied::Done => {}
            lakeline_aws::copy::Copied::PreconditionFailed => return Err(meanwhile()),
        }
    } else {
        let mut copy = s3
            .copy_object()
            .bucket(&bucket)
            .key(&raw_key)
            .copy_source(src.copy_source())
            .copy_source_if_match(&etag)
            .metadata_directive(MetadataDirective::Replace)
            // The quarantine tags (status, reason, alert) do not describe the replayed object.
            .tagging_directive(TaggingDirective::Replace)
            // Never over a newer upload of the key that arrived after the check above.
            .if_none_match("*");
        for (k, v) in &metadata {
            copy = copy.metadata(*k, v);
        }
        if let Some(ct) = head.content_type() {
            copy = copy.content_type(ct);
        }
        if let Err(e) = copy.send().await {
            if lakeline_aws::error_code(&e).as_deref() == Some("PreconditionFailed") {
                return Err(meanwhile());
            }
            bail!(
                "CopyObject {uri} → s3://{bucket}/{raw_key}: {}",
                lakeline_aws::describe(&e)
            );
        }
    }
    let back = s3
        .head_object()
        .bucket(&bucket)
        .key(&raw_key)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "HeadObject (check of the copy): {}",
                lakeline_aws::describe(&e)
            )
        })?;
    if back.content_length() != head.content_length() {
        bail!(
            "the copy at s3://{bucket}/{raw_key} has {:?} bytes, the quarantined object {:?}: the quarantined object is kept",
            back.content_length(),
            head.content_length()
        );
    }
    Ok(json!({
        "replayed": format!("s3://{bucket}/{raw_key}"),
        "from": uri,
        "previousVerdict": previous,
        "reason": reason,
        "at": now,
        "next": "the upload event has validate-upload check it again: a valid file is curated and its quarantined copy removed (by validate-upload, which alone may delete there); an invalid one is quarantined again with a new alert",
    }))
}

/// Invokes a Lambda function synchronously; the function's error becomes this one's.
pub async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
) -> anyhow::Result<Value> {
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(aws_smithy_types::Blob::new(
            payload.to_string().into_bytes(),
        ))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("Invoke {function}: {}", lakeline_aws::describe(&e)))?;
    let body: Value = out
        .payload()
        .map(|p| serde_json::from_slice(p.as_ref()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    if let Some(kind) = out.function_error() {
        bail!(
            "{function} failed ({kind}): {} {}",
            body["errorType"].as_str().unwrap_or("?"),
            body["errorMessage"].as_str().unwrap_or_default()
        );
    }
    Ok(body)
}

/// `lakeline rerun EXECUTION`: the upload of a failed, timed-out or aborted execution goes
/// through validate-upload again, as a new execution. A superseded execution (its upload was
/// replaced before it was curated) starts nothing: the newer upload has its own execution.
pub async fn rerun(
    sfn: &aws_sdk_sfn::Client,
    s3: &aws_sdk_s3::Client,
    lambda: &aws_sdk_lambda::Client,
    execution_arn: &str,
    function: &str,
) -> anyhow::Result<Value> {
    let d = sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "DescribeExecution {execution_arn}: {}",
                lakeline_aws::describe(&e)
            )
        })?;
    let input: Value = serde_json::from_str(d.input().unwrap_or("{}"))
        .context("the execution's input is not JSON")?;
    let output: Value = d
        .output()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or(Value::Null);
    let status = d.status().as_str();
    let superseded = output.pointer("/job/status/status") == Some(&json!("SUPERSEDED"));
    match status {
        "FAILED" | "TIMED_OUT" | "ABORTED" => {}
        "SUCCEEDED" if superseded => {}
        other => bail!(
            "{execution_arn} is {other}: only a failed, timed-out, aborted or superseded execution is run again"
        ),
    }
    let field = |k: &str| {
        input[k].as_str().map(str::to_string).with_context(|| {
            format!("the execution's input has no \"{k}\": not an upload execution")
        })
    };
    let (bucket, key) = (field("bucket")?, field("key")?);
    let etag = field("etag")?;
    if superseded {
        // The file was replaced before it was curated. The object there now is a newer upload,
        // which its own S3 event started its own execution for: running it from here would
        // run that upload a second time. Say so, and start nothing.
        let h = s3
            .head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "HeadObject s3://{bucket}/{key}: {}",
                    lakeline_aws::describe(&e)
                )
            })?;
        let current = h.e_tag().unwrap_or_default().trim_matches('"').to_string();
        return Ok(json!({
            "rerunOf": execution_arn,
            "outcome": "superseded",
            "execution": Value::Null,
            "current": {"etag": current, "versionId": h.version_id()},
            "why": format!(
                "the upload this execution validated (ETag {etag}) was replaced by a newer one (ETag {current}) before it was curated; the newer upload's own execution, started by its upload, curates it: nothing was started (rerun that execution if it failed)"
            ),
        }));
    }
    let req = RerunRequest {
        bucket,
        key,
        etag,
        version_id: input["versionId"].as_str().map(str::to_string),
        of: d.name().unwrap_or_default().to_string(),
    };
    let answer = invoke(lambda, function, &req.payload()).await?;
    let outcome = answer["outcomes"][0].clone();
    let execution = outcome["execution"].as_str().map(|name| {
        format!(
            "{}:{name}",
            d.state_machine_arn()
                .replace(":stateMachine:", ":execution:")
        )
    });
    Ok(json!({
        "rerunOf": execution_arn,
        "outcome": outcome["outcome"],
        "execution": execution,
        "duplicate": outcome["duplicate"],
        "detail": outcome,
    }))
}

/// `lakeline redrive EXECUTION`: RedriveExecution, which resumes at the failed step.
pub async fn redrive(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> anyhow::Result<Value> {
    match sfn
        .redrive_execution()
        .execution_arn(execution_arn)
        .send()
        .await
    {
        Ok(out) => Ok(json!({
            "redriven": execution_arn,
            "redriveDate": out.redrive_date().to_string(),
        })),
        Err(e) => {
            let unsupported = e
                .raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 404 | 501))
                || lakeline_aws::error_code(&e).is_some_and(|c| {
                    c.contains("UnknownOperation") || c.contains("NotImplemented")
                });
            if unsupported {
                bail!(
                    "this endpoint has no RedriveExecution (the local emulator lacks it; on AWS it resumes the execution at its failed step). Locally, use `lakeline rerun {execution_arn} --function …` instead."
                );
            }
            bail!(
                "RedriveExecution {execution_arn}: {}",
                lakeline_aws::describe(&e)
            )
        }
    }
}

/// `lakeline redrive-dlq QUEUE_URL`: hands each message (a Lambda on-failure destination
/// record, or an S3 event) to validate-upload again, which accepts both shapes. A message is
/// deleted only after the function processed it; one that fails again stays in the queue
/// (hidden for `visibility_seconds`, so this run does not pick it up twice). The execution
/// names are the uploads' own, so an event processed twice starts one execution.
pub async fn redrive_dlq(
    sqs: &aws_sdk_sqs::Client,
    lambda: &aws_sdk_lambda::Client,
    queue_url: &str,
    function: &str,
    max: usize,
    visibility_seconds: i32,
    progress: &mut crate::progress::Progress,
) -> anyhow::Result<Value> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    while done.len() + failed.len() < max {
        let batch = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(visibility_seconds)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("ReceiveMessage {queue_url}: {}", lakeline_aws::describe(&e))
            })?;
        if batch.messages().is_empty() {
            break;
        }
        for m in batch.messages() {
            let id = m.message_id().unwrap_or_default().to_string();
            let body: Value = match serde_json::from_str(m.body().unwrap_or_default()) {
                Ok(v) => v,
                Err(e) => {
                    progress.step(&format!("{id}: body is not JSON, left in the queue"));
                    failed
                        .push(json!({"messageId": id, "error": format!("body is not JSON: {e}")}));
                    continue;
                }
            };
            match invoke(lambda, function, &body).await {
                Ok(answer) => {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .set_receipt_handle(m.receipt_handle().map(str::to_string))
                        .send()
                        .await
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "DeleteMessage {id} (it was processed; a second redrive is harmless): {}",
                                lakeline_aws::describe(&e)
                            )
                        })?;
                    let what: Vec<&str> = answer["outcomes"]
                        .as_array()
                        .map(|o| o.iter().filter_map(|o| o["outcome"].as_str()).collect())
                        .unwrap_or_default();
                    progress.step(&format!("{id}: {}", what.join(", ")));
                    done.push(json!({"messageId": id, "outcomes": answer["outcomes"]}));
                }
                Err(e) => {
                    progress.step(&format!("{id}: failed again, left in the queue"));
                    failed.push(json!({"messageId": id, "error": format!("{e:#}")}))
                }
            }
        }
    }
    progress.finish();
    Ok(json!({"redriven": done, "failed": failed}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (quarantine key, source ETag, raw key).
    #[test]
    fn raw_keys_of_quarantined_objects() {
        let cases = [
            (
                "quarantine/raw/orders/dt=2026-11-25/a.csv",
                Some("abc"),
                "raw/orders/dt=2026-11-25/a.csv",
            ),
            (
                "quarantine/raw/orders/a.csv.0123456789ab",
                Some("0123456789abcdef"),
                "raw/orders/a.csv",
            ),
            (
                "quarantine/raw/orders/a.csv.0123456789ab",
                Some("ffff"),
                "raw/orders/a.csv.0123456789ab",
            ),
            ("quarantine/raw/orders/a b.csv", None, "raw/orders/a b.csv"),
        ];
        for (q, etag, want) in cases {
            assert_eq!(raw_key_of(q, "quarantine/", etag).unwrap(), want, "{q}");
        }
        assert!(raw_key_of("raw/a.csv", "quarantine/", None).is_err());
        assert_eq!(
            parse_s3_uri("s3://lake/quarantine/a b.csv").unwrap(),
            ("lake".into(), "quarantine/a b.csv".into())
        );
        for bad in ["lake/a", "s3://lake", "s3:///a"] {
            assert!(parse_s3_uri(bad).is_err(), "{bad}");
        }
    }
}
