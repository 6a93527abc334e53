//! Small text helpers for reports and alerts: shortening without splitting characters.

/// Shortens `s` to at most `max` characters, marking the cut with `…`.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let mut out: String = s.chars().take(keep).collect();
    out.push('…');
    out
}

/// Shows raw bytes from a file as text for a report: invalid UTF-8 becomes `\xNN`, control
/// characters are escaped, and the result is at most `max` characters.
pub fn show_bytes(b: &[u8], max: usize) -> String {
    let cut = &b[..b.len().min(max * 4)];
    let s = String::from_utf8_lossy(cut);
    let escaped: String = s.escape_debug().collect();
    shorten(&escaped, max)
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A value for an HTTP header (S3 user metadata): printable ASCII only (anything else becomes
/// `?`), at most `max` bytes. S3 caps all user metadata at 2 KB.
pub fn header_safe(s: &str, max: usize) -> String {
    let ascii: String = s
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    truncate_bytes(&ascii, max).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_on_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 3), "éé…");
        assert_eq!(show_bytes(b"a\xffb\n", 20), "a\u{fffd}b\\n");
        assert_eq!(truncate_bytes("ééé", 3), "é");
        assert_eq!(header_safe("a\nb é c", 6), "a?b ? ");
    }
}
