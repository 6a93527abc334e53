//! One format for every alert lakeline sends: a subject that says what failed, a body a human
//! reads in five seconds, a JSON variant for machines, and attributes for filter policies.
//! Bounded whatever the input: SNS subjects are ≤ 100 ASCII characters, messages ≤ 256 KB.

use serde::Serialize;
use serde_json::json;

use crate::text::{shorten, truncate_bytes};

/// Longest subject SNS accepts.
pub const SUBJECT_MAX: usize = 100;
/// Budget for the human text; the JSON variant carries it too, so the whole message stays far
/// below SNS's 256 KB.
pub const BODY_MAX: usize = 16 * 1024;
/// Longest single reason line in the body.
pub const REASON_MAX: usize = 600;

/// How bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Data was rejected or a job failed: someone must act.
    Error,
    /// Something to look at, nothing lost.
    Warning,
}

impl Severity {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        }
    }
}

/// A message to a human about one failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// How bad.
    pub severity: Severity,
    /// Pipeline stage: `validation`, `job`, `compaction`, …
    pub stage: String,
    /// Dataset, when known.
    pub dataset: Option<String>,
    /// What failed, in a few words: `file rejected`, `Glue job failed`.
    pub what: String,
    /// The file concerned, as `s3://bucket/key`.
    pub object: Option<String>,
    /// Partition, e.g. `dt=2026-11-25`.
    pub partition: Option<String>,
    /// Stable error name (`errorType`, problem code).
    pub error_type: String,
    /// Why, root cause first.
    pub reasons: Vec<String>,
    /// Where the data is now, when it moved.
    pub now_at: Option<String>,
    /// Where to look: (label, URL or identifier).
    pub links: Vec<(String, String)>,
    /// What to do next.
    pub action: String,
}

impl Alert {
    /// The SNS subject: `[lakeline] ERROR orders validation: file rejected (type)`, ASCII only,
    /// one line, at most 100 characters.
    pub fn subject(&self) -> String {
        let ds = self.dataset.as_deref().unwrap_or("-");
        let s = format!(
            "[lakeline] {} {ds} {}: {} ({})",
            self.severity.as_str(),
            self.stage,
            self.what,
            self.error_type
        );
        let ascii: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        shorten(&ascii, SUBJECT_MAX).replace('…', "~")
    }

    /// The human text body, at most [`BODY_MAX`] bytes.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let ds = self.dataset.as_deref().unwrap_or("(unknown dataset)");
        out.push_str(&format!(
            "{} (dataset {ds}, stage {}).\n",
            capitalise(&self.what),
            self.stage
        ));
        if let Some(o) = &self.object {
            out.push_str(&format!("File:      {o}\n"));
        }
        if let Some(p) = &self.partition {
            out.push_str(&format!("Partition: {p}\n"));
        }
        if let Some(n) = &self.now_at {
            out.push_str(&format!("Now at:    {n}\n"));
        }
        out.push_str(&format!("Error:     {}\n", self.error_type));
        out.push_str("\nWhy:\n");
        let mut shown = 0;
        for r in &self.reasons {
            let line = format!("  - {}\n", shorten(r, REASON_MAX));
            // Keep room for the links and the action, which matter more than reason #17.
            if out.len() + line.len() > BODY_MAX / 2 {
                break;
            }
            out.push_str(&line);
            shown += 1;
        }
        if shown < self.reasons.len() {
            out.push_str(&format!("  … and {} more\n", self.reasons.len() - shown));
        }
        if !self.links.is_empty() {
            out.push_str("\nWhere to look:\n");
            for (label, url) in &self.links {
                out.push_str(&format!("  {label}: {}\n", shorten(url, 1000)));
            }
        }
        out.push_str(&format!("\nWhat to do: {}\n", self.action));
        truncate_bytes(&out, BODY_MAX).to_string()
    }

    /// The JSON document for machine subscribers (SQS, Lambda, HTTPS), bounded like the text.
    pub fn json(&self) -> serde_json::Value {
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .take(20)
            .map(|r| shorten(r, REASON_MAX))
            .collect();
        json!({
            "source": "lakeline",
            "severity": self.severity,
            "stage": self.stage,
            "dataset": self.dataset,
            "what": self.what,
            "object": self.object,
            "partition": self.partition,
            "errorType": self.error_type,
            "reasons": reasons,
            "reasonCount": self.reasons.len(),
            "nowAt": self.now_at,
            "links": self.links.iter().take(10).map(|(l, u)| json!({"label": shorten(l, 100), "url": shorten(u, 1000)})).collect::<Vec<_>>(),
            "action": self.action,
            "subject": self.subject(),
            "text": self.text(),
        })
    }

    /// The `Message` for `MessageStructure: json`: the text by default (email, SMS), the JSON
    /// document for queues and functions. Well under 256 KB by construction.
    pub fn sns_message(&self) -> String {
        let doc = self.json().to_string();
        json!({"default": self.text(), "sqs": doc, "lambda": doc}).to_string()
    }

    /// String message attributes for subscription filter policies.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "dataset",
                self.dataset.clone().unwrap_or_else(|| "-".into()),
            ),
            ("stage", self.stage.clone()),
            ("error_type", self.error_type.clone()),
            ("severity", self.severity.as_str().to_string()),
        ]
    }
}

/// A file rejected on arrival and moved to quarantine: the facts an alert is made of.
#[derive(Debug, Clone)]
pub struct Rejection<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// Bucket.
    pub bucket: &'a str,
    /// Original key.
    pub key: &'a str,
    /// Partition label.
    pub partition: Option<&'a str>,
    /// Main problem code.
    pub reason_code: &'a str,
    /// The problems, as lines.
    pub reasons: Vec<String>,
    /// Where the object lies now.
    pub quarantine_key: &'a str,
    /// Region, for console links.
    pub region: &'a str,
}

/// The problem lines of a report, with a note when checking stopped early.
pub fn report_reasons(report: &crate::report::Report) -> Vec<String> {
    let mut reasons: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    if report.stopped_early {
        reasons.push(format!(
            "checking stopped after {} problems; there may be more",
            report.problems.len()
        ));
    }
    reasons
}

/// The alert for uploads under a prefix no dataset claims: sent once per prefix per hour
/// (validate-upload keeps a marker), the objects stay where they are.
pub fn unclaimed_alert(bucket: &str, key: &str, prefix: &str) -> Alert {
    Alert {
        severity: Severity::Warning,
        stage: "validation".into(),
        dataset: None,
        what: format!("uploads under {prefix} belong to no dataset"),
        object: Some(format!("s3://{bucket}/{key}")),
        partition: None,
        error_type: "Lakeline.Unclaimed".into(),
        reasons: vec![format!(
            "no dataset's key_pattern covers {prefix}: the object was not validated, curated or moved; it stays where it is (this alert is sent once per prefix per hour; the UnclaimedUploads metric counts every object)"
        )],
        now_at: Some(format!("s3://{bucket}/{key}")),
        links: Vec::new(),
        action: format!(
            "Add a dataset for {prefix} to the registry (lakeline registry push), or list the prefix under lake.ignore_prefixes if it is not lakeline's on purpose; then upload the files again, or re-send an object's upload event in place: aws s3 cp s3://{bucket}/{key} s3://{bucket}/{key} --metadata-directive REPLACE"
        ),
    }
}

/// One snapshot a table rollback dropped, as its alert lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedSnapshot {
    /// The snapshot.
    pub snapshot_id: i64,
    /// Its operation (`append`, `overwrite`, `replace`, `delete`).
    pub operation: String,
    /// The raw keys whose rows it had added.
    pub sources: Vec<String>,
    /// What a lakeline rewrite did (`compact`, `undo`, `erase`).
    pub rewrite: Option<String>,
}

/// The alert of a table rollback: which deliveries left the table, which rewrites were
/// undone, so nothing leaves a table silently.
pub fn rollback_alert(dataset: &str, table: &str, to: i64, dropped: &[DroppedSnapshot]) -> Alert {
    let mut reasons: Vec<String> = dropped
        .iter()
        .map(|d| match d.rewrite.as_deref() {
            Some("erase") => format!(
                "snapshot {} (erase) was undone: the rows it erased are in the table again",
                d.snapshot_id
            ),
            Some(r) => format!("snapshot {} ({r}) was undone", d.snapshot_id),
            None if d.sources.is_empty() => {
                format!("snapshot {} ({}) was dropped", d.snapshot_id, d.operation)
            }
            None => format!(
                "snapshot {} ({}) was dropped: the rows of {} left the table",
                d.snapshot_id,
                d.operation,
                d.sources.join(", ")
            ),
        })
        .collect();
    reasons.insert(
        0,
        format!(
            "table {table} was rolled back to snapshot {to}; {} later snapshot(s) are no longer in it (time travel still reads them until expiry)",
            dropped.len()
        ),
    );
    let erased_back = dropped
        .iter()
        .any(|d| d.rewrite.as_deref() == Some("erase"));
    Alert {
        severity: Severity::Warning,
        stage: "table".into(),
        dataset: Some(dataset.to_string()),
        what: format!("table {table} rolled back"),
        object: None,
        partition: None,
        error_type: "Lakeline.Rollback".into(),
        reasons,
        now_at: None,
        links: Vec::new(),
        action: if erased_back {
            "Erase the rows again (lakeline table erase), and commit the dropped deliveries again if they belong in the table (lakeline rerun, or replay their raw files).".into()
        } else {
            "If the dropped deliveries belong in the table, commit them again (lakeline rerun, or replay their raw files); a redelivery of one now commits it.".into()
        },
    }
}

/// The folder an unclaimed key is reported under: the raw prefix and one more segment
/// (`raw/sales/` for `raw/sales/2026/x.csv`).
pub fn unclaimed_prefix(raw_prefix: &str, key: &str) -> String {
    let rest = key.strip_prefix(raw_prefix).unwrap_or(key);
    match rest.split_once('/') {
        Some((first, _)) => format!("{raw_prefix}{first}/"),
        None => raw_prefix.to_string(),
    }
}

/// The marker that makes the unclaimed alert once per prefix and hour (`hour` as
/// `YYYY-MM-DDTHH`).
pub fn unclaimed_marker(prefix: &str, hour: &str) -> String {
    use sha2::{Digest, Sha256};
    let h: String = Sha256::digest(prefix.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("_lakeline/unclaimed/{h}/{hour}")
}

/// The alert for a rejected file.
pub fn rejection_alert(r: Rejection<'_>) -> Alert {
    Alert {
        severity: Severity::Error,
        stage: "validation".into(),
        dataset: Some(r.dataset.to_string()),
        what: "file rejected".into(),
        object: Some(format!("s3://{}/{}", r.bucket, r.key)),
        partition: r.partition.map(str::to_string),
        error_type: r.reason_code.to_string(),
        reasons: r.reasons,
        now_at: Some(format!("s3://{}/{}", r.bucket, r.quarantine_key)),
        links: vec![("Quarantined object".into(), s3_console_url(r.region, r.bucket, r.quarantine_key))],
        action: format!(
            "Fix the file and upload it again to {key} (check it first with: lakeline validate <file> --dataset {dataset}). If the registry was wrong instead, fix it (lakeline registry push), then: lakeline replay s3://{bucket}/{q} --reason \"<why>\" (it goes back to {key} and is validated again; the quarantined copy keeps the verdict in its metadata).",
            key = r.key,
            dataset = r.dataset,
            bucket = r.bucket,
            q = r.quarantine_key,
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Console link to an S3 object (the region decides the console host).
pub fn s3_console_url(region: &str, bucket: &str, key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = percent_encoding::utf8_percent_encode(key, SET);
    format!(
        "https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={enc}"
    )
}

#[cfg(test)]
mod unclaimed_tests {
    use super::*;

    #[test]
    fn unclaimed_prefixes_and_markers() {
        for (key, want) in [
            ("raw/sales/2026/x.csv", "raw/sales/"),
            ("raw/sales/x.csv", "raw/sales/"),
            ("raw/x.csv", "raw/"),
        ] {
            assert_eq!(unclaimed_prefix("raw/", key), want, "{key}");
        }
        let a = unclaimed_marker("raw/sales/", "2026-12-01T10");
        assert!(a.starts_with("_lakeline/unclaimed/") && a.ends_with("/2026-12-01T10"));
        assert_ne!(a, unclaimed_marker("raw/sales/", "2026-12-01T11"));
        assert_ne!(a, unclaimed_marker("raw/other/", "2026-12-01T10"));
        let alert = unclaimed_alert("lake", "raw/sales/x.csv", "raw/sales/");
        assert!(alert.subject().len() <= SUBJECT_MAX);
        assert!(alert.action.contains("ignore_prefixes"));
        assert!(
            alert
                .action
                .contains("aws s3 cp s3://lake/raw/sales/x.csv s3://lake/raw/sales/x.csv --metadata-directive REPLACE"),
            "{}",
            alert.action
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_alert_names_what_left_the_table() {
        let dropped = [
            DroppedSnapshot {
                snapshot_id: 3,
                operation: "overwrite".into(),
                sources: vec!["raw/orders/dt=2026-11-20/a.csv".into()],
                rewrite: None,
            },
            DroppedSnapshot {
                snapshot_id: 2,
                operation: "overwrite".into(),
                sources: vec![],
                rewrite: Some("erase".into()),
            },
        ];
        let a = rollback_alert("orders", "lakeline.orders", 1, &dropped);
        let text = a.text();
        assert!(
            a.subject()
                .contains("orders table: table lakeline.orders rolled back"),
            "{}",
            a.subject()
        );
        assert!(
            text.contains("rolled back to snapshot 1; 2 later snapshot(s)"),
            "{text}"
        );
        assert!(
            text.contains("the rows of raw/orders/dt=2026-11-20/a.csv left the table"),
            "{text}"
        );
        assert!(
            text.contains(
                "snapshot 2 (erase) was undone: the rows it erased are in the table again"
            ),
            "{text}"
        );
        assert!(text.contains("Erase the rows again"), "{text}");
        let plain = rollback_alert("orders", "lakeline.orders", 1, &dropped[..1]);
        assert!(plain.text().contains("a redelivery of one now commits it"));
    }

    fn sample() -> Alert {
        Alert {
            severity: Severity::Error,
            stage: "validation".into(),
            dataset: Some("orders".into()),
            what: "file rejected".into(),
            object: Some("s3://lake/raw/orders/dt=2026-11-25/o.csv".into()),
            partition: Some("dt=2026-11-25".into()),
            error_type: "type".into(),
            reasons: vec!["line 3 (row 2), column amount: not a valid float: \"12,5\"".into()],
            now_at: Some("s3://lake/quarantine/raw/orders/dt=2026-11-25/o.csv".into()),
            links: vec![(
                "Quarantined object".into(),
                s3_console_url("eu-west-1", "lake", "quarantine/raw/o.csv"),
            )],
            action: "Fix the file and upload it again to raw/.".into(),
        }
    }

    /// A rejection names both ways back: upload a fixed file, or replay the quarantined copy
    /// once the registry is fixed (`lakeline replay`, with the exact URI).
    #[test]
    fn rejection_alerts_name_the_commands_that_bring_the_file_back() {
        let a = rejection_alert(Rejection {
            dataset: "orders",
            bucket: "lake",
            key: "raw/orders/dt=2026-11-25/o.csv",
            partition: Some("dt=2026-11-25"),
            reason_code: "type",
            reasons: vec!["line 3".into()],
            quarantine_key: "quarantine/raw/orders/dt=2026-11-25/o.csv",
            region: "eu-west-1",
        });
        for cmd in [
            "lakeline validate <file> --dataset orders",
            "lakeline replay s3://lake/quarantine/raw/orders/dt=2026-11-25/o.csv --reason",
            "lakeline registry push",
        ] {
            assert!(a.action.contains(cmd), "{cmd}: {}", a.action);
        }
    }

    #[test]
    fn renders_subject_body_and_json() {
        let a = sample();
        assert_eq!(
            a.subject(),
            "[lakeline] ERROR orders validation: file rejected (type)"
        );
        let t = a.text();
        assert!(
            t.starts_with("File rejected (dataset orders, stage validation).\n"),
            "{t}"
        );
        assert!(t.contains("Now at:    s3://lake/quarantine/"));
        assert!(t.contains("column amount"));
        let m: serde_json::Value = serde_json::from_str(&a.sns_message()).unwrap();
        let sqs: serde_json::Value = serde_json::from_str(m["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(sqs["dataset"], "orders");
        assert_eq!(sqs["errorType"], "type");
    }

    #[test]
    fn bounded_whatever_the_input() {
        let mut a = sample();
        a.what = "é".repeat(300);
        a.reasons = (0..10_000)
            .map(|i| format!("reason {i} {}", "x".repeat(5_000)))
            .collect();
        a.links.push(("huge".into(), "y".repeat(100_000)));
        let s = a.subject();
        assert!(
            s.len() <= SUBJECT_MAX && s.is_ascii() && !s.contains('\n'),
            "{s}"
        );
        assert!(a.text().len() <= BODY_MAX);
        assert!(a.text().contains("more\n"));
        assert!(
            a.sns_message().len() < 128 * 1024,
            "{}",
            a.sns_message().len()
        );
    }
}
