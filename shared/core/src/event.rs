//! S3 event notifications as they really arrive: batches of records, a `s3:TestEvent` when the
//! notification is configured, and emulators that leave out fields real S3 sends.

use aws_lambda_events::s3::S3Entity;
use serde::Deserialize;
use serde_json::Value;

/// One object-created record, reduced to what lakeline needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectEvent {
    /// `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, …
    pub event_name: String,
    /// Bucket name.
    pub bucket: String,
    /// The key as in the event (form-encoded).
    pub raw_key: String,
    /// Size in bytes, when given.
    pub size: Option<u64>,
    /// ETag without quotes, when given.
    pub etag: Option<String>,
    /// Version id, when the bucket is versioned.
    pub version_id: Option<String>,
    /// S3's per-key ordering token.
    pub sequencer: Option<String>,
}

/// What a Lambda invocation payload turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// The test message S3 sends when a notification is configured.
    Test,
    /// Records (possibly none).
    Records(Vec<ObjectEvent>),
    /// `lakeline rerun`: validate and route an upload again as a new execution.
    Rerun(RerunRequest),
    /// `lakeline reprocess`: validate and curate an upload again under today's rules.
    Reprocess(ReprocessRequest),
}

/// What `lakeline reprocess` sends validate-upload for one raw object: `{"lakeline":
/// "reprocess", "bucket", "key", "etag", "versionId", "pass"}`. `pass` is the first 12 hex
/// digits of the dataset's [`crate::registry::Dataset::rules_hash`] as the command read the
/// live registry; validate-upload refuses the request when its own registry's differ (it has
/// not reloaded the registry yet, or the registry changed since), so the pass the rows are
/// recorded under is the rules they were validated and curated with.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReprocessRequest {
    /// Bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// Its ETag as listed; a different object there now is not reprocessed.
    pub etag: String,
    /// The version, on a versioned bucket.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The dataset's rules pass.
    pub pass: String,
}

impl ReprocessRequest {
    /// The payload `lakeline reprocess` invokes validate-upload with.
    pub fn payload(&self) -> Value {
        command_payload(self, "reprocess")
    }

    /// The record validate-upload checks.
    pub fn object_event(&self) -> ObjectEvent {
        command_event(
            "Reprocess",
            &self.bucket,
            &self.key,
            &self.etag,
            &self.version_id,
        )
    }
}

/// What `lakeline rerun` sends validate-upload: `{"lakeline": "rerun", "bucket", "key",
/// "etag", "versionId", "of"}`. The key is the object's real key (not event-encoded); `of` is
/// the name of the execution being run again, from which the new name is derived
/// ([`crate::keys::rerun_name`]).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RerunRequest {
    /// Bucket.
    pub bucket: String,
    /// The object's key.
    pub key: String,
    /// The ETag the original execution was for; a different object now is refused.
    pub etag: String,
    /// The version, on a versioned bucket.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The execution run again.
    pub of: String,
}

impl RerunRequest {
    /// The payload `lakeline rerun` invokes validate-upload with.
    pub fn payload(&self) -> Value {
        command_payload(self, "rerun")
    }

    /// The record validate-upload checks: the object as the original execution saw it.
    pub fn object_event(&self) -> ObjectEvent {
        command_event(
            "Rerun",
            &self.bucket,
            &self.key,
            &self.etag,
            &self.version_id,
        )
    }
}

/// A command's request as validate-upload's payload: its fields and `"lakeline": kind`.
fn command_payload(req: &impl serde::Serialize, kind: &str) -> Value {
    let mut v = serde_json::to_value(req).unwrap_or_default();
    v["lakeline"] = Value::String(kind.into());
    v
}

/// The record validate-upload checks for a command's object (`ObjectCreated:Lakeline<what>`),
/// its key event-encoded as S3's own records have it.
fn command_event(
    what: &str,
    bucket: &str,
    key: &str,
    etag: &str,
    version_id: &Option<String>,
) -> ObjectEvent {
    ObjectEvent {
        event_name: format!("ObjectCreated:Lakeline{what}"),
        bucket: bucket.to_string(),
        raw_key: crate::keys::encode_event_key(key),
        size: None,
        etag: Some(etag.to_string()),
        version_id: version_id.clone(),
        sequencer: None,
    }
}

/// The record shape, lenient where emulators differ (no `userIdentity`, no `eventTime`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LenientRecord {
    #[serde(default)]
    event_name: Option<String>,
    s3: S3Entity,
}

/// How deep envelopes are unwrapped (SQS around SNS around S3 is three).
const MAX_ENVELOPES: usize = 4;

/// Parses an invocation payload; the error says what is wrong with it.
///
/// Every shape an S3 notification reaches validate-upload in is accepted, so a message from
/// anywhere in the delivery path can be fed back without editing it:
/// - S3's own event (`Records[].s3`), and its `s3:TestEvent`;
/// - an SQS batch whose bodies are S3 events or SNS envelopes (S3 → SQS → Lambda);
/// - an SNS record or envelope (S3 → SNS → Lambda, or → SQS);
/// - a Lambda on-failure destination record (`requestPayload` holds the original event): what
///   the template's DLQ receives after validate-upload gave up.
///
/// EventBridge's `Object Created` shape is not accepted: whether its key is URL-encoded like
/// the notification's is not settled here, and a wrong guess would corrupt keys with `+`.
pub fn parse_notification(payload: &Value) -> Result<Notification, String> {
    match payload.get("lakeline").and_then(Value::as_str) {
        Some("rerun") => {
            return serde_json::from_value(payload.clone())
                .map(Notification::Rerun)
                .map_err(|e| format!("a lakeline rerun request, but {e}"))
        }
        Some("reprocess") => {
            return serde_json::from_value(payload.clone())
                .map(Notification::Reprocess)
                .map_err(|e| format!("a lakeline reprocess request, but {e}"))
        }
        _ => {}
    }
    let mut out = Vec::new();
    let mut tests = 0;
    collect(payload, 0, "payload", &mut out, &mut tests)?;
    if out.is_empty() && tests > 0 {
        return Ok(Notification::Test);
    }
    Ok(Notification::Records(out))
}

fn is_test_event(v: &Value) -> bool {
    v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent")
}

/// A string holding JSON (SQS bodies, SNS messages), parsed; the error names where it was.
fn inner_json(text: &str, at: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{at} is not JSON ({e}): starts {}",
            crate::text::shorten(text, 80)
        )
    })
}

fn collect(
    v: &Value,
    depth: usize,
    at: &str,
    out: &mut Vec<ObjectEvent>,
    tests: &mut usize,
) -> Result<(), String> {
    if depth > MAX_ENVELOPES {
        return Err(format!(
            "{at}: envelopes nested deeper than {MAX_ENVELOPES}"
        ));
    }
    if is_test_event(v) {
        *tests += 1;
        return Ok(());
    }
    // Lambda destination record (on-failure destination, DLQ via destination).
    if let Some(p) = v.get("requestPayload") {
        return collect(p, depth + 1, &format!("{at}.requestPayload"), out, tests);
    }
    // SNS envelope as delivered to SQS or HTTP (`Type: Notification`, `Message`: a string).
    if v.get("Type").and_then(Value::as_str) == Some("Notification") {
        if let Some(m) = v.get("Message").and_then(Value::as_str) {
            let at = format!("{at}.Message");
            return collect(&inner_json(m, &at)?, depth + 1, &at, out, tests);
        }
    }
    let Some(records) = v.get("Records").and_then(Value::as_array) else {
        return Err(format!(
            "not an S3 event notification: no \"Records\" array at {at} (it starts {})",
            crate::text::shorten(&v.to_string(), 120)
        ));
    };
    for (i, r) in records.iter().enumerate() {
        let at = format!("{at}.Records[{i}]");
        let source = r
            .get("eventSource")
            .or_else(|| r.get("EventSource"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        match source {
            "aws:sqs" => {
                let body = r.get("body").and_then(Value::as_str).unwrap_or_default();
                let at = format!("{at}.body");
                collect(&inner_json(body, &at)?, depth + 1, &at, out, tests)?;
            }
            "aws:sns" | "aws:SNS" => {
                let msg = r
                    .pointer("/Sns/Message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let at = format!("{at}.Sns.Message");
                collect(&inner_json(msg, &at)?, depth + 1, &at, out, tests)?;
            }
            _ => out.push(from_s3_record(r).map_err(|e| format!("{at}: {e}"))?),
        }
    }
    Ok(())
}

fn from_s3_record(r: &Value) -> Result<ObjectEvent, String> {
    let rec: LenientRecord =
        serde_json::from_value(r.clone()).map_err(|e| format!("not an S3 record: {e}"))?;
    let bucket = rec.s3.bucket.name.ok_or("no s3.bucket.name")?;
    let raw_key = rec.s3.object.key.ok_or("no s3.object.key")?;
    Ok(ObjectEvent {
        event_name: rec.event_name.unwrap_or_default(),
        bucket,
        raw_key,
        size: rec.s3.object.size.and_then(|s| u64::try_from(s).ok()),
        etag: rec
            .s3
            .object
            .e_tag
            .map(|e| e.trim_matches('"').to_string())
            .filter(|e| !e.is_empty()),
        version_id: rec
            .s3
            .object
            .version_id
            .filter(|v| !v.is_empty() && v != "null"),
        sequencer: rec.s3.object.sequencer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_moto_and_test_events() {
        let real: Value =
            serde_json::from_str(include_str!("../../../events/s3-put.json")).unwrap();
        let Notification::Records(r) = parse_notification(&real).unwrap() else {
            panic!()
        };
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].event_name, "ObjectCreated:Put");
        assert!(r[0].raw_key.contains('+'), "{:?}", r[0].raw_key);

        let moto = serde_json::json!({"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-25T10:00:00.000Z","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","configurationId":"x","bucket":{"name":"b","arn":"arn:aws:s3:::b"},"object":{"key":"raw%2Fa+b.csv","size":3,"eTag":"abc"}}}]});
        let Notification::Records(r) = parse_notification(&moto).unwrap() else {
            panic!()
        };
        assert_eq!(
            (r[0].bucket.as_str(), r[0].size, r[0].etag.as_deref()),
            ("b", Some(3), Some("abc"))
        );

        let test = serde_json::json!({"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00.000Z","Bucket":"b","RequestId":"r","HostId":"h"});
        assert_eq!(parse_notification(&test).unwrap(), Notification::Test);

        for bad in [
            serde_json::json!({"Records":[{"eventSource":"aws:sqs","body":"not json"}]}),
            serde_json::json!({"requestPayload":{"nothing":1}}),
            serde_json::json!({}),
            serde_json::json!({"Records":[{"s3":{}}]}),
            serde_json::json!([1]),
        ] {
            assert!(parse_notification(&bad).is_err(), "{bad}");
        }
    }

    /// One S3 event inside every envelope the delivery path can put around it: each yields the
    /// same record (the DLQ, SQS, SNS shapes are AWS's documented ones).
    #[test]
    fn every_envelope_yields_the_same_record() {
        let s3: Value = serde_json::from_str(include_str!("../../../events/s3-put.json")).unwrap();
        let Notification::Records(want) = parse_notification(&s3).unwrap() else {
            panic!()
        };
        let sns_envelope = serde_json::json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": s3.to_string()});
        let shapes = [
            (
                "destination",
                serde_json::json!({"version": "1.0", "timestamp": "2026-11-25T10:00:00Z",
                "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:1:function:v:$LATEST", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
                "requestPayload": s3, "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": {"errorType": "Lakeline.Config", "errorMessage": "x"}}),
            ),
            (
                "sqs",
                serde_json::json!({"Records": [{"messageId": "1", "receiptHandle": "h", "body": s3.to_string(), "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"}]}),
            ),
            (
                "sns",
                serde_json::json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Type": "Notification", "Message": s3.to_string()}}]}),
            ),
            (
                "sqs around sns",
                serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": sns_envelope.to_string()}]}),
            ),
            (
                "sqs around a destination record",
                serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": serde_json::json!({"requestPayload": s3}).to_string()}]}),
            ),
        ];
        for (name, payload) in shapes {
            assert_eq!(
                parse_notification(&payload),
                Ok(Notification::Records(want.clone())),
                "{name}"
            );
        }
        let rerun = RerunRequest {
            bucket: "lake".into(),
            key: "raw/orders/a+b c.csv".into(),
            etag: "e1".into(),
            version_id: None,
            of: "orders-a-0123".into(),
        };
        assert_eq!(
            parse_notification(&rerun.payload()),
            Ok(Notification::Rerun(rerun.clone()))
        );
        let ev = rerun.object_event();
        assert_eq!(
            crate::keys::decode_event_key(&ev.raw_key).unwrap(),
            "raw/orders/a+b c.csv"
        );
        assert!(
            parse_notification(&serde_json::json!({"lakeline": "rerun", "bucket": "b"})).is_err()
        );
        let again = ReprocessRequest {
            bucket: "lake".into(),
            key: "raw/orders/a+b c.csv".into(),
            etag: "e1".into(),
            version_id: Some("v1".into()),
            pass: "0123456789ab".into(),
        };
        assert_eq!(
            parse_notification(&again.payload()),
            Ok(Notification::Reprocess(again.clone()))
        );
        assert_eq!(again.object_event().version_id.as_deref(), Some("v1"));
        let e = parse_notification(&serde_json::json!({"lakeline": "reprocess", "bucket": "b"}))
            .unwrap_err();
        assert!(e.contains("reprocess request"), "{e}");
        // A test event inside an SQS body is still only a test.
        let test_in_sqs = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{\"Event\":\"s3:TestEvent\",\"Bucket\":\"b\"}"}]});
        assert_eq!(parse_notification(&test_in_sqs), Ok(Notification::Test));
    }
}
