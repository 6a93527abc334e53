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
}

/// The record shape, lenient where emulators differ (no `userIdentity`, no `eventTime`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LenientRecord {
    #[serde(default)]
    event_name: Option<String>,
    s3: S3Entity,
}

/// Parses an invocation payload; the error says what is wrong with it.
pub fn parse_notification(payload: &Value) -> Result<Notification, String> {
    if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    let Some(records) = payload.get("Records").and_then(Value::as_array) else {
        return Err(format!(
            "not an S3 event notification: no \"Records\" array (payload starts {})",
            crate::text::shorten(&payload.to_string(), 120)
        ));
    };
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let rec: LenientRecord = serde_json::from_value(r.clone())
            .map_err(|e| format!("Records[{i}] is not an S3 record: {e}"))?;
        let bucket = rec
            .s3
            .bucket
            .name
            .ok_or_else(|| format!("Records[{i}]: no s3.bucket.name"))?;
        let raw_key = rec
            .s3
            .object
            .key
            .ok_or_else(|| format!("Records[{i}]: no s3.object.key"))?;
        out.push(ObjectEvent {
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
        });
    }
    Ok(Notification::Records(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_moto_and_test_events() {
        let real: Value = serde_json::from_str(include_str!("../../events/s3-put.json")).unwrap();
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
            serde_json::json!({}),
            serde_json::json!({"Records":[{"s3":{}}]}),
            serde_json::json!([1]),
        ] {
            assert!(parse_notification(&bad).is_err(), "{bad}");
        }
    }
}
