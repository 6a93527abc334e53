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

/// The inverse of [`decode_event_key`] for keys lakeline itself puts into an event (`lakeline
/// rerun`): every byte outside `[A-Za-z0-9/._~-]` is percent-encoded, so decoding gives the
/// key back exactly (a `+` in the key becomes `%2B`, never a space).
pub fn encode_event_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"/._~-".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What tells one upload of a key from another, for its execution name: the version id on a
/// versioned bucket; otherwise the event's sequencer (S3 gives every PUT its own, and a
/// redelivered event, from a retry or the DLQ, carries the same one); without one (emulators)
/// the ETag and the object's Last-Modified. The ETag alone would give a re-upload of the same
/// bytes the name of the first upload's execution, so it would be taken for a duplicate
/// delivery and never run. Last-Modified has one-second resolution: the same bytes uploaded
/// twice within a second, without a sequencer, count as one upload.
pub fn upload_identity(
    version_id: Option<&str>,
    sequencer: Option<&str>,
    etag: &str,
    last_modified: Option<&str>,
) -> String {
    match (version_id, sequencer, last_modified) {
        (Some(v), _, _) => format!("version:{v}"),
        (None, Some(q), _) if !q.is_empty() => format!("{etag}#{q}"),
        (None, _, Some(lm)) => format!("{etag}@{lm}"),
        (None, _, None) => etag.to_string(),
    }
}

/// The execution name of a rerun of the execution named `of` (`lakeline rerun`): the
/// original's name with a generation, `-r1`, `-r2`, …; a rerun of `x-r1` is `x-r2`. Asking
/// twice for the rerun of the same execution gives the same name, so the second start is
/// refused as a duplicate and nothing runs twice. The original's trailing hash is kept whole;
/// the readable part before it is shortened to stay within 80 characters.
pub fn rerun_name(of: &str) -> String {
    let (base, generation) = match of.rsplit_once("-r") {
        Some((b, n)) if !n.is_empty() && n.len() <= 6 && n.bytes().all(|c| c.is_ascii_digit()) => {
            (b, n.parse::<u32>().unwrap_or(0) + 1)
        }
        _ => (of, 1),
    };
    let suffix = format!("-r{generation}");
    let room = EXECUTION_NAME_MAX - suffix.len();
    let base: String = if base.len() <= room {
        base.to_string()
    } else {
        // Keep the hash (after the last '-') and cut the readable part.
        let (readable, hash) = base.rsplit_once('-').unwrap_or(("", base));
        let keep = room.saturating_sub(hash.len() + 1).min(readable.len());
        let readable: String = readable.chars().take(keep).collect();
        format!("{}-{hash}", readable.trim_end_matches(['-', '_']))
            .chars()
            .take(room)
            .collect()
    };
    format!("{base}{suffix}")
}

/// The execution name of `lakeline reprocess`'s pass over one upload (`etag`, the object's
/// content) under dataset rules `pass` ([`crate::table::delivery_version`]): the readable part
/// of [`execution_name`], and a hash of the object and the pass. The command and
/// validate-upload derive it alike, so the command finds an object's pass done (or running)
/// without invoking anything, and a pass started twice is refused as a duplicate.
pub fn reprocess_name(
    dataset: &str,
    date: Option<&str>,
    file: &str,
    bucket: &str,
    key: &str,
    etag: &str,
    pass: &str,
) -> String {
    execution_name(
        dataset,
        date,
        file,
        bucket,
        key,
        &format!("reprocess:{etag}:{pass}"),
    )
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

/// Metadata (`x-amz-meta-…`) of an object `lakeline replay` put back at its raw key: the
/// quarantine key it came from. validate-upload removes that copy once the replayed object
/// validates (the bucket policy lets only validate-upload delete under the quarantine prefix).
pub const META_REPLAYED_FROM: &str = "lakeline-replayed-from";
/// The ETag of the quarantined copy it was replayed from: only that copy is removed (a newer
/// quarantined upload at the same key stays).
pub const META_REPLAYED_ETAG: &str = "lakeline-replayed-etag";

/// The quarantined copy the object at `key`, with user metadata `meta`, was replayed from: its
/// own quarantine key ([`quarantine_key`], or the [`quarantine_key_for_upload`] form), and that
/// copy's ETag. Anything else is ignored: metadata is whoever uploads' to write, and must never
/// point validate-upload at another key's quarantined copy.
pub fn replayed_from<'m>(
    meta: impl Fn(&str) -> Option<&'m str>,
    quarantine_prefix: &str,
    key: &str,
) -> Option<(String, String)> {
    let from = meta(META_REPLAYED_FROM)?;
    let etag = meta(META_REPLAYED_ETAG)?.trim_matches('"');
    let own = quarantine_key(quarantine_prefix, key);
    let is_own = from == own
        || from
            .strip_prefix(&own)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|tag| !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric()));
    (is_own && !etag.is_empty()).then(|| (from.to_string(), etag.to_string()))
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
    fn a_replayed_object_names_only_its_own_quarantined_copy() {
        let meta = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        };
        for (pairs, want) in [
            (
                &[
                    (META_REPLAYED_FROM, "quarantine/raw/o/a.csv"),
                    (META_REPLAYED_ETAG, "\"e1\""),
                ][..],
                Some(("quarantine/raw/o/a.csv", "e1")),
            ),
            (
                &[
                    (META_REPLAYED_FROM, "quarantine/raw/o/a.csv.0a1b2c3d4e5f"),
                    (META_REPLAYED_ETAG, "e1"),
                ][..],
                Some(("quarantine/raw/o/a.csv.0a1b2c3d4e5f", "e1")),
            ),
            // Metadata is the uploader's to write: never another key's copy, never outside.
            (
                &[
                    (META_REPLAYED_FROM, "quarantine/raw/o/b.csv"),
                    (META_REPLAYED_ETAG, "e1"),
                ][..],
                None,
            ),
            (
                &[
                    (META_REPLAYED_FROM, "quarantine/raw/o/a.csv.x/y"),
                    (META_REPLAYED_ETAG, "e1"),
                ][..],
                None,
            ),
            (
                &[
                    (META_REPLAYED_FROM, "raw/o/a.csv"),
                    (META_REPLAYED_ETAG, "e1"),
                ][..],
                None,
            ),
            (
                &[
                    (META_REPLAYED_FROM, "quarantine/"),
                    (META_REPLAYED_ETAG, "e1"),
                ][..],
                None,
            ),
            // Without the copy's ETag nothing is removed.
            (&[(META_REPLAYED_FROM, "quarantine/raw/o/a.csv")][..], None),
            (
                &[
                    (META_REPLAYED_FROM, "quarantine/raw/o/a.csv"),
                    (META_REPLAYED_ETAG, ""),
                ][..],
                None,
            ),
            (&[][..], None),
        ] {
            assert_eq!(
                replayed_from(meta(pairs), "quarantine/", "raw/o/a.csv"),
                want.map(|(k, e)| (k.to_string(), e.to_string())),
                "{pairs:?}"
            );
        }
    }

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

    #[test]
    fn event_keys_round_trip() {
        for key in [
            "raw/orders/dt=2026-11-25/a b+c.csv",
            "raw/x/ü%41.csv",
            "raw/a/b.csv",
        ] {
            assert_eq!(decode_event_key(&encode_event_key(key)).unwrap(), key);
        }
        assert_eq!(encode_event_key("raw/a b+c.csv"), "raw/a%20b%2Bc.csv");
    }

    #[test]
    fn upload_identities_tell_uploads_apart() {
        let t = Some("2026-11-25T10:00:00Z");
        let cases = [
            (Some("v1"), Some("0A1"), "e", t, "version:v1"),
            (None, Some("0A1"), "e", t, "e#0A1"),
            (None, Some(""), "e", t, "e@2026-11-25T10:00:00Z"),
            (None, None, "e", t, "e@2026-11-25T10:00:00Z"),
            (None, None, "e", None, "e"),
        ];
        for (v, q, e, lm, want) in cases {
            assert_eq!(upload_identity(v, q, e, lm), want);
        }
        // The same bytes uploaded again are another upload: another sequencer, or later.
        assert_ne!(
            upload_identity(None, Some("0A1"), "e", t),
            upload_identity(None, Some("0A2"), "e", t)
        );
        assert_ne!(
            upload_identity(None, None, "e", t),
            upload_identity(None, None, "e", Some("2026-11-25T10:00:01Z"))
        );
    }

    #[test]
    fn reprocess_names_differ_by_pass_and_content_only() {
        let name = |etag: &str, pass: &str| {
            reprocess_name(
                "orders",
                Some("2026-12-01"),
                "a.csv",
                "lake",
                "raw/orders/dt=2026-12-01/a.csv",
                etag,
                pass,
            )
        };
        let a = name("e1", "p1");
        assert_eq!(a, name("e1", "p1"));
        assert!(a.starts_with("orders-2026-12-01-a-"), "{a}");
        assert!(a.len() <= EXECUTION_NAME_MAX);
        assert_ne!(a, name("e1", "p2"));
        assert_ne!(a, name("e2", "p1"));
        let upload = execution_name(
            "orders",
            Some("2026-12-01"),
            "a.csv",
            "lake",
            "raw/orders/dt=2026-12-01/a.csv",
            "e1",
        );
        assert_ne!(a, upload);
    }

    /// (failed execution, its rerun's name).
    #[test]
    fn rerun_names_count_generations_and_fit() {
        let long = format!("{}-0123456789abcdef0123", "o".repeat(59));
        assert_eq!(long.len(), 80);
        let cases = [
            (
                "orders-2026-11-25-a-0123456789abcdef0123".to_string(),
                "orders-2026-11-25-a-0123456789abcdef0123-r1".to_string(),
            ),
            (
                "orders-a-0123456789abcdef0123-r1".into(),
                "orders-a-0123456789abcdef0123-r2".into(),
            ),
            (
                "orders-a-0123456789abcdef0123-r9".into(),
                "orders-a-0123456789abcdef0123-r10".into(),
            ),
            ("x-run".into(), "x-run-r1".into()),
            (
                long.clone(),
                format!("{}-0123456789abcdef0123-r1", "o".repeat(56)),
            ),
        ];
        for (of, want) in cases {
            let got = rerun_name(&of);
            assert_eq!(got, want, "{of}");
            assert!(got.len() <= EXECUTION_NAME_MAX);
            assert_eq!(rerun_name(&of), got, "deterministic");
        }
        let r1 = rerun_name(&long);
        assert!(
            rerun_name(&r1).ends_with("-0123456789abcdef0123-r2"),
            "{}",
            rerun_name(&r1)
        );
    }
}
