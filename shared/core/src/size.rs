//! Human byte sizes in the registry (`128MiB`, `5 GB`, `1024`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A size in bytes, written in the registry as `128MiB`, `1.5GiB`, `10 MB` or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(try_from = "SizeText", into = "String")]
pub struct ByteSize(pub u64);

/// YAML may give a size as a number or as text.
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeText {
    Int(u64),
    Text(String),
}

impl TryFrom<SizeText> for ByteSize {
    type Error = String;
    fn try_from(v: SizeText) -> Result<Self, String> {
        match v {
            SizeText::Int(n) => Ok(ByteSize(n)),
            SizeText::Text(s) => s.parse(),
        }
    }
}

impl std::str::FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            _ => {
                return Err(format!(
                    "invalid size {s:?}: use a number with B, KB, MB, GB, KiB, MiB, GiB or TiB"
                ))
            }
        };
        let n: f64 = num
            .parse()
            .map_err(|_| format!("invalid size {s:?}: {num:?} is not a number"))?;
        let bytes = n * mult as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(format!("invalid size {s:?}: out of range"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if b >= 1 << shift {
                let v = b as f64 / (1u64 << shift) as f64;
                return if b.is_multiple_of(1 << shift) {
                    write!(f, "{}{unit}", b >> shift)
                } else {
                    write!(f, "{v:.1}{unit}")
                };
            }
        }
        write!(f, "{b}B")
    }
}

impl From<ByteSize> for String {
    fn from(b: ByteSize) -> String {
        b.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        for (text, want) in [
            ("0", Some(0)),
            ("1024", Some(1024)),
            ("128MiB", Some(128 << 20)),
            ("1.5 GiB", Some(3 << 29)),
            ("10 MB", Some(10_000_000)),
            ("5GB", Some(5_000_000_000)),
            ("12 parsecs", None),
            ("-1MiB", None),
            ("MiB", None),
        ] {
            assert_eq!(text.parse::<ByteSize>().ok().map(|b| b.0), want, "{text}");
        }
    }

    #[test]
    fn displays_sizes() {
        assert_eq!(ByteSize(128 << 20).to_string(), "128MiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5KiB");
        assert_eq!(ByteSize(12).to_string(), "12B");
    }
}
