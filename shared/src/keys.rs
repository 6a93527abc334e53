//! Key naming: decoding keys from S3 events, quarantine keys, and deterministic execution names.

use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

/// Decodes a key as S3 notifications carry it: form-encoded (`+` is a space, `%2B` a plus,
/// `%2F` may or may not stand for `/`). Invalid UTF-8 after decoding is an error.
pub fn decode_event_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| format!("key {raw:?} does not decode to UTF-8: {e}"))
}

/// A zero-byte "folder" object the console creates (`a/b/`): never a data file.
pub fn is_folder_marker(key: &str, size: u64) -> bool {
    key.ends_with('/') && size == 0
}

/// Where a rejected object goes: the same key under the quarantine prefix, so the way back is
/// to strip the prefix.
pub fn quarantine_key(quarantine_prefix: &str, key: &str) -> String {
    format!("{quarantine_prefix}{key}")
}

/// Where a rejected upload goes when [`quarantine_key`] already holds a *different* rejected
/// upload of the same key: the same key with the upload's ETag appended, so the earlier copy
/// is not overwritten (on an unversioned bucket that would lose it).
pub fn quarantine_key_for_upload(quarantine_prefix: &str, key: &str, etag: &str) -> String {
    let tag: String = etag
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{}.{tag}", quarantine_key(quarantine_prefix, key))
}

/// Longest execution name Step Functions accepts.
pub const EXECUTION_NAME_MAX: usize = 80;

/// A deterministic Step Functions execution name for one upload.
///
/// The same (bucket, key, version-or-ETag) always gives the same name, so a redelivered S3
/// event starts nothing new; a new upload of the same key (new ETag/version) gets a new name.
/// Readable prefix (dataset, partition date, file stem), then a 20-hex-digit hash of the whole
/// identity, only `[A-Za-z0-9_-]`, at most 80 characters.
pub fn execution_name(
    dataset: &str,
    date: Option<&str>,
    file: &str,
    bucket: &str,
    key: &str,
    version: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [bucket, key, version] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let hash: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    let mut readable = sanitize(dataset);
    if let Some(d) = date {
        readable.push('-');
        readable.push_str(&sanitize(d));
    }
    let stem = file.split('.').next().unwrap_or(file);
    let stem = sanitize(stem);
    if !stem.is_empty() {
        readable.push('-');
        readable.push_str(&stem);
    }
    let room = EXECUTION_NAME_MAX - hash.len() - 1;
    let readable: String = readable.chars().take(room).collect();
    let readable = readable.trim_end_matches(['-', '_']);
    format!("{readable}-{hash}")
}

fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let keep = c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let c = if keep { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_event_keys() {
        for (raw, want) in [
            (
                "raw/orders/dt%3D2026-11-25/a+b.csv",
                Ok("raw/orders/dt=2026-11-25/a b.csv"),
            ),
            (
                "raw%2Forders%2Fdt%3D2026-11-25%2Fx.csv",
                Ok("raw/orders/dt=2026-11-25/x.csv"),
            ),
            (
                "raw/orders/dt=2026-11-25/a%2Bb.csv",
                Ok("raw/orders/dt=2026-11-25/a+b.csv"),
            ),
            (
                "raw/caf%C3%A9/%E6%97%A5%E6%9C%AC.csv",
                Ok("raw/café/日本.csv"),
            ),
            ("raw/a%25b.csv", Ok("raw/a%b.csv")),
            ("raw/a%20b.csv", Ok("raw/a b.csv")),
            ("raw/x%FF.csv", Err(())),
        ] {
            assert_eq!(
                decode_event_key(raw).map_err(|_| ()),
                want.map(str::to_string),
                "{raw}"
            );
        }
    }

    #[test]
    fn quarantine_keys() {
        assert_eq!(
            quarantine_key("quarantine/", "raw/a b.csv"),
            "quarantine/raw/a b.csv"
        );
        assert_eq!(
            quarantine_key_for_upload("quarantine/", "raw/a.csv", "\"0f343b0931126a20f1-3\""),
            "quarantine/raw/a.csv.0f343b093112"
        );
    }

    #[test]
    fn folder_markers() {
        assert!(is_folder_marker("raw/orders/", 0));
        assert!(!is_folder_marker("raw/orders/", 10));
        assert!(!is_folder_marker("raw/orders/a.csv", 0));
    }

    #[test]
    fn execution_names_are_deterministic_short_and_clean() {
        let a = execution_name(
            "orders",
            Some("2026-11-25"),
            "a b.csv",
            "lake",
            "raw/orders/dt=2026-11-25/a b.csv",
            "etag1",
        );
        assert_eq!(
            a,
            execution_name(
                "orders",
                Some("2026-11-25"),
                "a b.csv",
                "lake",
                "raw/orders/dt=2026-11-25/a b.csv",
                "etag1"
            )
        );
        assert!(a.starts_with("orders-2026-11-25-a_b-"), "{a}");
        let b = execution_name(
            "orders",
            Some("2026-11-25"),
            "a b.csv",
            "lake",
            "raw/orders/dt=2026-11-25/a b.csv",
            "etag2",
        );
        assert_ne!(a, b);
        let long = execution_name(
            &"d".repeat(40),
            Some("2026-11-25"),
            &format!("{}.csv", "日本語ファイル".repeat(30)),
            "lake",
            "k",
            "v",
        );
        assert!(long.len() <= EXECUTION_NAME_MAX, "{long}");
        for name in [a, b, long] {
            assert!(
                name.len() <= 80
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{name}"
            );
        }
    }
}
