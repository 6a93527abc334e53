//! Delivery expectations (SLA alerts): when a dataset's files are due, and whether
//! the one due last has arrived. Plain functions over data: "now" and what a listing found are
//! arguments, the caller lists S3, keeps the once-per-period marker and publishes the alert.
//!
//! Two shapes:
//!
//! - `expect: {every: day, by: "06:00Z", offset_days: 1}`: the partition dated D must hold a
//!   file by `by` (UTC) on day D + `offset_days` (0 by default: the same day). At any "now" the
//!   period judged is the latest whose deadline has passed.
//! - `expect: {every: 6h}`: some file must arrive in every 6-hour window (aligned on midnight
//!   UTC); the window judged is the last one that has ended.

use crate::alert::{Alert, Severity};

pub use crate::registry::expect::{Every, Expect, TimeOfDay};

/// The period judged at some "now".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Stable name of the period (`2026-11-25`, `2026-11-25T06`): the marker's name.
    pub period: String,
    /// `every: day`: the date whose partition must hold a file (`2026-11-25`).
    pub date: Option<String>,
    /// The deadline, Unix seconds.
    pub deadline: i64,
    /// `every: Nh`: the window [start, deadline) in which some file must have arrived.
    pub window_start: Option<i64>,
}

/// A file found by the caller's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its key.
    pub key: String,
    /// When it was written (S3 LastModified), Unix seconds.
    pub at: i64,
}

/// What the caller's listing found for a period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Evidence {
    /// `every: day`: files in the expected partition.
    pub files_in_partition: u64,
    /// The newest file of the dataset the listing saw (any partition).
    pub last_seen: Option<Seen>,
}

/// The period judged at `now` (Unix seconds): the latest whose deadline has passed.
pub fn due(e: &Expect, now: i64) -> Due {
    match e.every {
        Every::Day => {
            let by = i64::from(e.by.map_or(0, |t| t.0));
            // The deadline of partition D is (D + offset) days + by; the latest one ≤ now.
            let d = (now - by).div_euclid(86_400) - i64::from(e.offset_days);
            Due {
                period: date_text(d),
                date: Some(date_text(d)),
                deadline: (d + i64::from(e.offset_days)) * 86_400 + by,
                window_start: None,
            }
        }
        Every::Hours(n) => {
            let len = i64::from(n) * 3600;
            let end = now.div_euclid(len) * len;
            Due {
                period: time_text(end - len)[..13].to_string(),
                date: None,
                deadline: end,
                window_start: Some(end - len),
            }
        }
    }
}

/// Whether the period due at `now` was missed, given what the listing found.
pub fn missed(e: &Expect, now: i64, ev: &Evidence) -> Option<Due> {
    let d = due(e, now);
    let arrived = match d.window_start {
        None => ev.files_in_partition > 0,
        Some(start) => ev
            .last_seen
            .as_ref()
            .is_some_and(|s| s.at >= start && s.at < d.deadline),
    };
    (!arrived).then_some(d)
}

/// The marker that makes the alert of one dataset and period go out once, however often the
/// check runs (created with `If-None-Match: *` before publishing).
pub fn marker(dataset: &str, d: &Due) -> String {
    format!("_lakeline/sla/{dataset}/{}", d.period)
}

/// A pending marker claimed this long ago (seconds of the check's "now") is taken for a run
/// that crashed between claiming the period and publishing its alert: the next run sends it.
/// Longer than any check-compaction invocation (Lambda's 15-minute limit).
pub const PENDING_STALE_SECONDS: i64 = 900;

/// What a delivery marker records: whether its alert went out, and when the period was claimed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerBody {
    /// `pending` (claimed, not yet published) or `sent`.
    pub state: String,
    /// When the period was claimed, the check's "now" (Unix seconds).
    pub claimed_at: i64,
    /// The alert's JSON form, kept for an audit of what was sent.
    pub alert: serde_json::Value,
}

impl MarkerBody {
    /// A marker claiming the period at `now`, its alert not yet sent.
    pub fn pending(alert: &Alert, now: i64) -> MarkerBody {
        MarkerBody {
            state: "pending".into(),
            claimed_at: now,
            alert: alert.json(),
        }
    }

    /// The same marker once its alert went out.
    pub fn sent(mut self) -> MarkerBody {
        self.state = "sent".into();
        self
    }
}

/// Whether a run at `now` finding a marker with `body` must send its alert: the marker is
/// pending and was claimed [`PENDING_STALE_SECONDS`] ago or more (its run crashed before it
/// published). A sent marker, a pending one still within its run's time, and a marker of any
/// other form (written before markers had a state: its alert was sent) are left alone.
pub fn resend(body: &[u8], now: i64) -> bool {
    serde_json::from_slice::<MarkerBody>(body)
        .is_ok_and(|m| m.state == "pending" && now - m.claimed_at >= PENDING_STALE_SECONDS)
}

/// The alert for a missed delivery. `folder` is where the period's files should be (the
/// partition's folder for `every: day`, the dataset's prefix otherwise); `partition` its label.
pub fn missed_alert(
    bucket: &str,
    dataset: &str,
    folder: &str,
    partition: Option<&str>,
    e: &Expect,
    d: &Due,
    ev: &Evidence,
) -> Alert {
    let last = match &ev.last_seen {
        Some(s) => format!(
            "the last file seen is s3://{bucket}/{} ({})",
            s.key,
            time_text(s.at)
        ),
        None => "no file of the dataset was seen at all".to_string(),
    };
    let (what, reason) = match partition {
        Some(p) => (
            format!("no file for {p} by {}", time_text(d.deadline)),
            format!(
                "expect: every day by {} (+{} days): s3://{bucket}/{folder} holds no file at the deadline {}; {last}",
                String::from(e.by.unwrap_or(TimeOfDay(0))),
                e.offset_days,
                time_text(d.deadline)
            ),
        ),
        None => (
            format!(
                "no file between {} and {}",
                time_text(d.window_start.unwrap_or(d.deadline)),
                time_text(d.deadline)
            ),
            format!(
                "expect: a file every {}: none arrived under s3://{bucket}/{folder} in the window ending {}; {last}",
                e.every,
                time_text(d.deadline)
            ),
        ),
    };
    Alert {
        severity: Severity::Warning,
        stage: "delivery".into(),
        dataset: Some(dataset.to_string()),
        what,
        object: None,
        partition: partition.map(str::to_string),
        error_type: "Lakeline.MissedDelivery".into(),
        reasons: vec![
            reason,
            "this alert is sent once per dataset and period; the MissedDeliveries metric counts each".into(),
        ],
        now_at: None,
        links: Vec::new(),
        action: format!(
            "Ask the team that delivers {dataset} whether the export ran; if it did, look for the file in quarantine/ or under a misnamed key. Once the file is uploaded it is validated as usual; nothing else needs redoing."
        ),
    }
}

fn date_text(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map_or_else(|| day.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

fn time_text(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%dT%H:%MZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (marker body, now, resend).
    #[test]
    fn a_marker_left_pending_by_a_crashed_run_is_sent_by_a_later_one() {
        let alert = Alert {
            severity: Severity::Warning,
            stage: "delivery".into(),
            dataset: Some("orders".into()),
            what: "no file".into(),
            object: None,
            partition: None,
            error_type: "Lakeline.MissedDelivery".into(),
            reasons: vec![],
            now_at: None,
            links: vec![],
            action: "ask".into(),
        };
        let t = 1_000_000;
        let pending = serde_json::to_vec(&MarkerBody::pending(&alert, t)).unwrap();
        let sent = serde_json::to_vec(&MarkerBody::pending(&alert, t).sent()).unwrap();
        let legacy = serde_json::to_vec(&alert.json()).unwrap();
        let cases: [(&[u8], i64, bool); 6] = [
            (&pending, t, false),
            (&pending, t + PENDING_STALE_SECONDS - 1, false),
            (&pending, t + PENDING_STALE_SECONDS, true),
            (&sent, t + 10 * PENDING_STALE_SECONDS, false),
            (&legacy, t + 10 * PENDING_STALE_SECONDS, false),
            (b"not json", t + 10 * PENDING_STALE_SECONDS, false),
        ];
        for (i, (body, now, want)) in cases.into_iter().enumerate() {
            assert_eq!(resend(body, now), want, "case {i}");
        }
    }

    fn at(s: &str) -> i64 {
        let d = crate::types::parse_timestamp(s.as_bytes()).unwrap();
        d / 1_000_000
    }

    fn expect(yaml: &str) -> Expect {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            expect("{every: day, by: \"06:00Z\"}").by,
            Some(TimeOfDay(6 * 3600))
        );
        assert_eq!(expect("{every: 6h}").every, Every::Hours(6));
        for bad in [
            "{every: week}",
            "{every: 5h}",
            "{every: 0h}",
            "{every: day, by: \"06:00\"}",
            "{every: day, by: \"25:00Z\"}",
            "{every: day, by: \"6:00Z\"}",
            "{every: day, at: \"06:00Z\"}",
        ] {
            assert!(serde_yaml_ng::from_str::<Expect>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn due_periods_table() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // expect, now, period, deadline
            (
                "{every: day, by: \"06:00Z\"}",
                "2026-11-25T06:00:00Z",
                "2026-11-25",
                "2026-11-25T06:00Z",
            ),
            (
                "{every: day, by: \"06:00Z\"}",
                "2026-11-25T05:59:59Z",
                "2026-11-24",
                "2026-11-24T06:00Z",
            ),
            (
                "{every: day, by: \"06:00Z\", offset_days: 1}",
                "2026-11-25T07:00:00Z",
                "2026-11-24",
                "2026-11-25T06:00Z",
            ),
            (
                "{every: day}",
                "2026-11-25T00:00:00Z",
                "2026-11-25",
                "2026-11-25T00:00Z",
            ),
            (
                "{every: 6h}",
                "2026-11-25T13:10:00Z",
                "2026-11-25T06",
                "2026-11-25T12:00Z",
            ),
            (
                "{every: 1h}",
                "2026-11-25T00:30:00Z",
                "2026-11-24T23",
                "2026-11-25T00:00Z",
            ),
        ];
        for (e, now, period, deadline) in cases {
            let d = due(&expect(e), at(now));
            assert_eq!(
                (d.period.as_str(), time_text(d.deadline).as_str()),
                (*period, *deadline),
                "{e} at {now}"
            );
        }
    }

    #[test]
    fn missed_table() {
        let day = expect("{every: day, by: \"06:00Z\"}");
        let now = at("2026-11-25T09:00:00Z");
        let seen = |t: &str| {
            Some(Seen {
                key: "raw/o/dt=2026-11-24/a.csv".into(),
                at: at(t),
            })
        };
        assert!(missed(
            &day,
            now,
            &Evidence {
                files_in_partition: 1,
                last_seen: seen("2026-11-25T05:00:00Z")
            }
        )
        .is_none());
        let m = missed(
            &day,
            now,
            &Evidence {
                files_in_partition: 0,
                last_seen: seen("2026-11-24T05:00:00Z"),
            },
        )
        .unwrap();
        assert_eq!(m.date.as_deref(), Some("2026-11-25"));
        let six = expect("{every: 6h}");
        let now = at("2026-11-25T13:00:00Z");
        assert!(missed(
            &six,
            now,
            &Evidence {
                files_in_partition: 0,
                last_seen: seen("2026-11-25T06:00:00Z")
            }
        )
        .is_none());
        assert!(missed(
            &six,
            now,
            &Evidence {
                files_in_partition: 0,
                last_seen: seen("2026-11-25T05:59:59Z")
            }
        )
        .is_some());
        assert!(missed(
            &six,
            now,
            &Evidence {
                files_in_partition: 0,
                last_seen: seen("2026-11-25T12:30:00Z")
            }
        )
        .is_some());
        assert!(missed(&six, now, &Evidence::default()).is_some());
    }

    #[test]
    fn the_alert_names_dataset_partition_deadline_and_last_file() {
        let e = expect("{every: day, by: \"06:00Z\"}");
        let ev = Evidence {
            files_in_partition: 0,
            last_seen: Some(Seen {
                key: "raw/orders/dt=2026-11-24/a.csv".into(),
                at: at("2026-11-24T05:10:00Z"),
            }),
        };
        let d = missed(&e, at("2026-11-25T08:00:00Z"), &ev).unwrap();
        let a = missed_alert(
            "lake",
            "orders",
            "raw/orders/dt=2026-11-25/",
            Some("dt=2026-11-25"),
            &e,
            &d,
            &ev,
        );
        let text = a.text();
        for needle in [
            "orders",
            "dt=2026-11-25",
            "2026-11-25T06:00Z",
            "raw/orders/dt=2026-11-24/a.csv",
            "2026-11-24T05:10Z",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
        assert!(a.subject().len() <= 100, "{}", a.subject());
        assert_eq!(marker("orders", &d), "_lakeline/sla/orders/2026-11-25");
    }
}
