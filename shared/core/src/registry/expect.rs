//! The `expect:` block of a dataset: when its files are due. Declarations only; whether they
//! came is [`crate::sla`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// How often files are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Every {
    /// One partition a day (the key pattern has `{date}`).
    Day,
    /// Some file every N hours (1-24, dividing 24 so windows align on midnight).
    Hours(u32),
}

impl TryFrom<String> for Every {
    type Error = String;
    fn try_from(s: String) -> Result<Every, String> {
        if s == "day" {
            return Ok(Every::Day);
        }
        match s.strip_suffix('h').and_then(|n| n.parse::<u32>().ok()) {
            Some(n) if n >= 1 && 24 % n == 0 => Ok(Every::Hours(n)),
            _ => Err(format!(
                "every: {s:?} is not `day` or a number of hours dividing 24 (`1h`, `6h`, `12h`)"
            )),
        }
    }
}

impl From<Every> for String {
    fn from(e: Every) -> String {
        e.to_string()
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Every::Day => f.write_str("day"),
            Every::Hours(n) => write!(f, "{n}h"),
        }
    }
}

/// A time of day in UTC, `HH:MMZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay(pub u32);

impl TryFrom<String> for TimeOfDay {
    type Error = String;
    fn try_from(s: String) -> Result<TimeOfDay, String> {
        let t = s.strip_suffix('Z').unwrap_or_default();
        let parsed = t.split_once(':').and_then(|(h, m)| {
            let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
            (h < 24 && m < 60 && t.len() == 5).then_some(h * 3600 + m * 60)
        });
        parsed.map(TimeOfDay).ok_or_else(|| {
            format!("by: {s:?} is not a UTC time of day like \"06:00Z\" (the Z is required)")
        })
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        format!("{:02}:{:02}Z", t.0 / 3600, t.0 / 60 % 60)
    }
}

/// `expect:` of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// How often.
    pub every: Every,
    /// `every: day`: the deadline's time of day (default midnight, the end of the day before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<TimeOfDay>,
    /// `every: day`: days after the partition's date that the deadline falls on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset_days: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
