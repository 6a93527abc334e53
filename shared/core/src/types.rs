//! The value types the registry declares (column types, file formats), the byte-level checks
//! that decide whether a text value is of a type, and the parsers that turn accepted text into
//! typed values.
//!
//! These run once per field of every row, so they work on bytes and allocate nothing. They sit
//! at the bottom of the core: validation, rules and curate all check and parse through them.

use serde::{Deserialize, Serialize};

/// The type of a declared column, written in the registry as its name (`int`,
/// `decimal(12,2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum ColumnType {
    /// Any UTF-8 text.
    String,
    /// A 64-bit signed integer: optional sign, digits.
    Int,
    /// A decimal or scientific number, `NaN`, `Infinity`.
    Float,
    /// `true`/`false` (any case), `t`/`f`, `yes`/`no`, `1`/`0`.
    Bool,
    /// A calendar date `YYYY-MM-DD`.
    Date,
    /// An ISO-8601 timestamp: `YYYY-MM-DD[T ]HH:MM[:SS[.fffffffff]]` with optional `Z` or offset.
    Timestamp,
    /// An exact decimal of at most `precision` digits, `scale` of them after the point
    /// (`decimal(12,2)`, as in SQL): `[+-]digits[.digits]`, parsed without a float
    /// ([`parse_decimal`]).
    Decimal {
        /// Digits in all, 1 to [`MAX_DECIMAL_PRECISION`].
        precision: u8,
        /// Digits after the point, at most `precision`.
        scale: u8,
    },
    /// A JSON object or array, kept as its JSON text (a nested field of a JSON Lines record,
    /// or a CSV value holding JSON), checked to be JSON ([`is_json`]).
    Json,
}

/// The most digits a `decimal(p,s)` holds: what a 128-bit unscaled value (Parquet's and
/// Iceberg's limit, and Athena's) holds.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl From<ColumnType> for String {
    fn from(t: ColumnType) -> String {
        t.to_string()
    }
}

impl TryFrom<String> for ColumnType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl std::str::FromStr for ColumnType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "string" => ColumnType::String,
            "int" => ColumnType::Int,
            "float" => ColumnType::Float,
            "bool" => ColumnType::Bool,
            "date" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            "json" => ColumnType::Json,
            _ => return decimal_type(s),
        })
    }
}

/// `decimal(p,s)` (a space after the comma allowed) as its type.
fn decimal_type(s: &str) -> Result<ColumnType, String> {
    let unknown = || {
        format!("unknown type {s:?}: use string, int, float, bool, date, timestamp, decimal(p,s) or json")
    };
    let Some(args) = s.strip_prefix("decimal(").and_then(|r| r.strip_suffix(')')) else {
        return Err(unknown());
    };
    let (p, sc) = args.split_once(',').ok_or_else(unknown)?;
    let (Ok(precision), Ok(scale)) = (p.trim().parse::<u8>(), sc.trim().parse::<u8>()) else {
        return Err(format!(
            "{s:?}: precision and scale are whole numbers, as in decimal(12,2)"
        ));
    };
    if !(1..=MAX_DECIMAL_PRECISION).contains(&precision) {
        return Err(format!(
            "{s:?}: precision must be 1 to {MAX_DECIMAL_PRECISION}, not {precision}"
        ));
    }
    if scale > precision {
        return Err(format!(
            "{s:?}: scale {scale} is above the precision {precision} (digits after the point are part of the precision)"
        ));
    }
    Ok(ColumnType::Decimal { precision, scale })
}

impl ColumnType {
    /// The lowercase name, as in the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int => "int",
            ColumnType::Float => "float",
            ColumnType::Bool => "bool",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Decimal { .. } => "decimal",
            ColumnType::Json => "json",
        }
    }

    /// What is wrong with `v`, a value this type does not accept, for a report: "not a valid
    /// int", or for a decimal the limit it breaks.
    pub fn refusal(self, v: &[u8]) -> String {
        match self {
            ColumnType::Decimal { precision, scale } => match parse_decimal(v, precision, scale) {
                Err(e) => e.describe(self),
                Ok(_) => format!("not a valid {self}"),
            },
            ColumnType::Json => json_refusal(v),
            _ => format!("not a valid {self}"),
        }
    }

    /// Whether `v` (already known to be valid UTF-8) is a value of this type.
    #[inline(always)]
    pub fn accepts(self, v: &[u8]) -> bool {
        match self {
            ColumnType::String => true,
            ColumnType::Int => is_int(v),
            ColumnType::Float => is_float(v),
            ColumnType::Bool => is_bool(v),
            ColumnType::Date => is_date(v),
            ColumnType::Timestamp => is_timestamp(v),
            ColumnType::Decimal { precision, scale } => parse_decimal(v, precision, scale).is_ok(),
            ColumnType::Json => is_json(v),
        }
    }
}

/// Whether `v` is a JSON object or array (whitespace around it allowed): what a `json` column
/// holds. A scalar is refused: a column of one type is declared as that type.
pub fn is_json(v: &[u8]) -> bool {
    matches!(
        v.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    ) && serde_json::from_slice::<serde::de::IgnoredAny>(v).is_ok()
}

/// Why `v` is not a value of a `json` column.
#[cold]
fn json_refusal(v: &[u8]) -> String {
    match v.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => match serde_json::from_slice::<serde::de::IgnoredAny>(v) {
            Err(e) => format!("not valid JSON: {e}"),
            Ok(_) => "not a valid json".into(),
        },
        _ => "not a valid json: a json column holds an object or an array".into(),
    }
}

/// Why a text is not a value of a `decimal(p,s)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalError {
    /// Not `[+-]digits[.digits]` (an exponent, a word, a space, no digit).
    Syntax,
    /// An exponent (`1e3`): a float's form, refused for money.
    Exponent,
    /// This many digits after the point, more than the scale.
    Scale(usize),
    /// This many digits before the point (leading zeros aside), more than precision − scale.
    Precision(usize),
    /// A JSON number with a fraction of more significant digits than a double holds exactly
    /// (15): its text is already lost when the line is read.
    Inexact,
}

impl DecimalError {
    /// The report's message for a value of `ty` (a decimal type) refused for this.
    pub fn describe(self, ty: ColumnType) -> String {
        let ColumnType::Decimal { precision, scale } = ty else {
            return format!("not a valid {ty}");
        };
        match self {
            DecimalError::Syntax => format!("not a valid {ty}"),
            DecimalError::Exponent => {
                format!("not a valid {ty}: exponent notation is not accepted for a decimal")
            }
            DecimalError::Scale(n) => format!(
                "{n} digits after the point, {ty} allows at most {scale}"
            ),
            DecimalError::Precision(n) => format!(
                "{n} digits before the point, {ty} allows at most {}",
                precision - scale
            ),
            DecimalError::Inexact => format!(
                "a JSON number of more than 15 significant digits is not exact; write a {ty} value as a JSON string"
            ),
        }
    }
}

/// `digits[.digits]` (either side may be empty, not both) of at most eight bytes as (the
/// digits' value, digits after the point), read as one word: the point is found with a
/// zero-byte test and cut out, and the digits left are converted at once. A price like
/// `308.11` took a branch per byte. Float rules and decimals both read short values so.
#[inline]
pub(crate) fn word_decimal(body: &[u8]) -> Option<(u64, usize)> {
    let n = body.len();
    let w = load_word(body)?;
    // A byte of `w` that is '.' is zero in `x`; the lowest flag of the zero-byte test is
    // exact (a false flag only ever sits above a true one). Bytes past `n` are 0, not '.'.
    let x = w ^ 0x2e2e_2e2e_2e2e_2e2e;
    let flags = x.wrapping_sub(0x0101_0101_0101_0101) & !x & 0x8080_8080_8080_8080;
    let dot = (flags.trailing_zeros() / 8) as usize;
    if dot >= n {
        return if n == 0 {
            None
        } else {
            Some((digits_in_word(w, n)?, 0))
        };
    }
    // The bytes below the point, and those above it moved down one: a second point is left
    // among the digits and fails there.
    let below = w & ((1u64 << (8 * dot)) - 1);
    let above = w.checked_shr(8 * dot as u32 + 8).unwrap_or(0) << (8 * dot);
    let k = n - 1;
    if k == 0 {
        return None;
    }
    Some((digits_in_word(below | above, k)?, n - dot - 1))
}

/// The unscaled value of a `decimal(precision,scale)` (`12.3` in `decimal(5,2)` is 1230), from
/// `[+-]digits[.digits]`: a leading `+`, `.5` and `5.` are accepted; an exponent, `NaN`, spaces
/// and separators are not. More digits after the point than `scale` (trailing zeros too: the
/// producer's scale is not the column's), or more before it than `precision - scale` (leading
/// zeros aside) are refused, never rounded. Exact: no float on the way.
#[inline]
pub fn parse_decimal(v: &[u8], precision: u8, scale: u8) -> Result<i128, DecimalError> {
    let (neg, body) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    // The common short value (`123.45`), its digits read as one word.
    if let Some((n, frac)) = (body.len() <= 8).then(|| word_decimal(body)).flatten() {
        let s = usize::from(scale);
        let int_room = 10u64.checked_pow(u32::from(precision - scale));
        if frac <= s && int_room.is_none_or(|room| n / 10u64.pow(frac as u32) < room) {
            let v = i128::from(n) * 10i128.pow((s - frac) as u32);
            return Ok(if neg { -v } else { v });
        }
        // Too many digits on a side: the general path below names which.
    }
    decimal_general(neg, body, precision, scale)
}

/// [`parse_decimal`] byte by byte, for any length: the reference the word path is held to.
fn decimal_general(neg: bool, body: &[u8], precision: u8, scale: u8) -> Result<i128, DecimalError> {
    let (int, frac) = match memchr::memchr(b'.', body) {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &body[..0]),
    };
    if int.is_empty() && frac.is_empty()
        || !int.iter().all(u8::is_ascii_digit)
        || !frac.iter().all(u8::is_ascii_digit)
    {
        return Err(if body.iter().any(|b| matches!(b, b'e' | b'E')) {
            DecimalError::Exponent
        } else {
            DecimalError::Syntax
        });
    }
    let scale = usize::from(scale);
    if frac.len() > scale {
        return Err(DecimalError::Scale(frac.len()));
    }
    let significant = &int[int.iter().take_while(|&&b| b == b'0').count()..];
    if significant.len() > usize::from(precision) - scale {
        return Err(DecimalError::Precision(significant.len()));
    }
    // At most 38 digits in all, below i128's limit; the common short value in one u64.
    let digits = significant.len() + scale;
    let mut n: i128 = if digits <= 19 {
        let mut x = 0u64;
        for &d in significant.iter().chain(frac) {
            x = x * 10 + u64::from(d - b'0');
        }
        i128::from(x)
    } else {
        let mut x = 0i128;
        for &d in significant.iter().chain(frac) {
            x = x * 10 + i128::from(d - b'0');
        }
        x
    };
    n *= 10i128.pow((scale - frac.len()) as u32);
    Ok(if neg { -n } else { n })
}

/// The unscaled value of a JSON value for a `decimal(precision,scale)`: a string as
/// [`parse_decimal`] reads text; an integer exactly; a number with a fraction as the shortest
/// text of the double the line was read into, when that has at most 15 significant digits
/// (any such text comes back from the double unchanged), so `12.5` is exact and a 17-digit
/// fraction is refused as inexact rather than guessed.
pub fn json_decimal(v: &serde_json::Value, precision: u8, scale: u8) -> Result<i128, DecimalError> {
    match v {
        serde_json::Value::String(s) => parse_decimal(s.as_bytes(), precision, scale),
        serde_json::Value::Number(n) => {
            // An integer exactly, without formatting it as text first (a value of every row).
            if let Some(i) = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) {
                let digits = i.unsigned_abs().checked_ilog10().map_or(0, |d| d + 1) as usize;
                if digits > usize::from(precision - scale) {
                    return Err(DecimalError::Precision(digits));
                }
                return Ok(i * 10i128.pow(u32::from(scale)));
            }
            let x = n.as_f64().ok_or(DecimalError::Syntax)?;
            if !x.is_finite() {
                return Err(DecimalError::Syntax);
            }
            // Display of an f64 is its shortest round-trip text, positional (never `1e-7`).
            let text = x.to_string();
            let significant = text
                .bytes()
                .filter(u8::is_ascii_digit)
                .skip_while(|&b| b == b'0')
                .count();
            if significant > 15 {
                return Err(DecimalError::Inexact);
            }
            parse_decimal(text.as_bytes(), precision, scale)
        }
        _ => Err(DecimalError::Syntax),
    }
}

/// The text of an unscaled decimal value at `scale` (1230 at scale 2 is `12.30`), as a report
/// or a bound shows it.
pub fn decimal_text(unscaled: i128, scale: u8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

/// File formats lakeline validates.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma (or `delimiter`) separated values.
    Csv,
    /// Tab separated values.
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet: only the footer is read.
    Parquet,
}

impl Format {
    /// The lowercase name used in keys, inputs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

/// An i64 in decimal, with an optional sign.
#[inline]
pub fn is_int(v: &[u8]) -> bool {
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if digits.len() < 19 {
        return true;
    }
    // 19 digits may overflow: compare with i64's limits as text.
    let limit: &[u8] = if neg {
        b"9223372036854775808"
    } else {
        b"9223372036854775807"
    };
    digits <= limit
}

/// A decimal or scientific number (`-1.5`, `.5`, `1e-3`), `NaN` or `Infinity`.
#[inline]
pub fn is_float(v: &[u8]) -> bool {
    let body = match v.first() {
        Some(b'-' | b'+') => &v[1..],
        _ => v,
    };
    // Numbers start with a digit or a point; only the rest can be one of the words.
    if !matches!(body.first(), Some(b'0'..=b'9' | b'.')) {
        return body.eq_ignore_ascii_case(b"nan")
            || body.eq_ignore_ascii_case(b"inf")
            || body.eq_ignore_ascii_case(b"infinity");
    }
    let mut i = 0;
    let int_start = i;
    while i < body.len() && body[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < body.len() && body[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < body.len() && (body[i] == b'e' || body[i] == b'E') {
        i += 1;
        if i < body.len() && (body[i] == b'-' || body[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < body.len() && body[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == body.len()
}

/// `true`/`false` in any case, `t`/`f`, `yes`/`no`, `y`/`n`, `1`/`0`.
#[inline]
pub fn is_bool(v: &[u8]) -> bool {
    /// Up to five bytes as one integer, each ORed with 0x20 (ASCII letters to lower case).
    /// Every byte becomes non-zero, so values of different lengths never pack alike; and only
    /// a letter's two cases OR to a lowercase letter, so a match is a case-insensitive match.
    const fn pack(w: &[u8]) -> u64 {
        let mut x = 0u64;
        let mut i = 0;
        while i < w.len() {
            x |= ((w[i] | 0x20) as u64) << (8 * i);
            i += 1;
        }
        x
    }
    const WORDS: [u64; 8] = [
        pack(b"true"),
        pack(b"false"),
        pack(b"t"),
        pack(b"f"),
        pack(b"yes"),
        pack(b"no"),
        pack(b"y"),
        pack(b"n"),
    ];
    match v {
        // Digits are not letters: compared exactly (0x10 | 0x20 is '0').
        [b'0' | b'1'] => true,
        _ if v.len() <= 5 => WORDS.contains(&pack(v)),
        _ => false,
    }
}

#[inline]
fn digits<const N: usize>(v: &[u8]) -> Option<u32> {
    if v.len() != N {
        return None;
    }
    let mut n = 0u32;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(b - b'0');
    }
    Some(n)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// The bytes of a value of at most eight bytes as one little-endian word, zero above them;
/// `None` for a longer value.
///
/// Loaded, not copied through a stack buffer: byte stores followed by a word load of the same
/// buffer stall the load (no store forwarding), and the callers run on every value of a row.
#[inline]
pub fn load_word(b: &[u8]) -> Option<u64> {
    let n = b.len();
    Some(match n {
        0 => 0,
        // The first, middle and last byte: all of one to three.
        1..=3 => {
            u64::from(b[0])
                | u64::from(b[n / 2]) << (8 * (n / 2))
                | u64::from(b[n - 1]) << (8 * (n - 1))
        }
        // Two loads of four that overlap in the middle: bytes `n-4..4` are the same in both.
        4..=8 => {
            let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
            u64::from(lo) | u64::from(hi) << (8 * (n - 4))
        }
        _ => return None,
    })
}

/// Each byte of `word` minus `'0'` (the digits' values, in place), if every byte is an ASCII
/// digit: eight bytes checked at once, for dates, clocks and integers.
#[inline]
pub(crate) fn digit_values(word: u64) -> Option<u64> {
    let t = word ^ 0x3030_3030_3030_3030;
    // A digit leaves 0..=9 in its byte: no high nibble, and adding 0x76 stays below 0x80.
    (t & 0xf0f0_f0f0_f0f0_f0f0 == 0 && (t + 0x7676_7676_7676_7676) & 0x8080_8080_8080_8080 == 0)
        .then_some(t)
}

/// A real calendar date `YYYY-MM-DD` (year 0001-9999).
///
/// Two dates a row is common (a day and a timestamp), so this is word-at-a-time: the eight
/// bytes `YYYY-MM-` as one `u64` with the dashes swapped for zeros, every byte checked to be a
/// digit at once.
#[inline]
pub fn is_date(v: &[u8]) -> bool {
    let Ok(v) = <&[u8; 10]>::try_from(v) else {
        return false;
    };
    if v[4] != b'-' || v[7] != b'-' {
        return false;
    }
    let mut head = [0u8; 8];
    head.copy_from_slice(&v[..8]);
    let (d1, d2) = (v[8].wrapping_sub(b'0'), v[9].wrapping_sub(b'0'));
    // Bytes 4 and 7 (the dashes) become '0'; then every byte minus '0' must be below 10.
    const DASHES: u64 = 0xff00_00ff_0000_0000;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let x = (u64::from_le_bytes(head) & !DASHES) | (ZEROS & DASHES);
    let Some(t) = digit_values(x) else {
        return false;
    };
    if d1 > 9 || d2 > 9 {
        return false;
    }
    let b = |i: u32| ((t >> (8 * i)) & 0xff) as u32;
    let y = b(0) * 1000 + b(1) * 100 + b(2) * 10 + b(3);
    let m = b(5) * 10 + b(6);
    let d = u32::from(d1) * 10 + u32::from(d2);
    y >= 1 && d >= 1 && d <= days_in_month(y, m)
}

/// An ISO-8601 / RFC 3339 timestamp: a date, `T` or a space, `HH:MM`, optional `:SS`, optional
/// fraction of 1-9 digits, optional `Z` or `±HH[:MM]`.
#[inline]
pub fn is_timestamp(v: &[u8]) -> bool {
    if v.len() < 16 || !is_date(&v[..10]) || !(v[10] == b'T' || v[10] == b' ' || v[10] == b't') {
        return false;
    }
    let t = &v[11..];
    if let Some(hms) = t.first_chunk::<8>() {
        // `HH:MM:SS`, the common form, word-at-a-time as in `is_date`.
        if let Some((h, m, s)) = clock(hms) {
            if h > 23 || m > 59 || s > 60 {
                return false;
            }
            return zone_ok(fraction(&t[8..]));
        }
    }
    time_of_day(t)
}

/// The time part of a timestamp in every form the type takes, field by field: `HH:MM`,
/// optional `:SS`, optional fraction, optional zone. [`is_timestamp`] asks it for what its
/// word-at-a-time `HH:MM:SS` does not take, and tests hold the two to the same answers.
fn time_of_day(t: &[u8]) -> bool {
    let (Some(h), Some(m)) = (
        t.get(..2).and_then(digits::<2>),
        t.get(3..5).and_then(digits::<2>),
    ) else {
        return false;
    };
    if t[2] != b':' || h > 23 || m > 59 {
        return false;
    }
    let mut rest = &t[5..];
    if let Some(r) = rest.strip_prefix(b":") {
        let Some(s) = r.get(..2).and_then(digits::<2>) else {
            return false;
        };
        if s > 60 {
            return false;
        }
        rest = fraction(&r[2..]);
    }
    zone_ok(rest)
}

/// `HH:MM:SS` as three numbers, if it is two digits, a colon, two digits, a colon, two digits.
#[inline]
fn clock(b: &[u8; 8]) -> Option<(u32, u32, u32)> {
    if b[2] != b':' || b[5] != b':' {
        return None;
    }
    // The colons (bytes 2 and 5) become '0'; then every byte minus '0' must be below 10.
    const COLONS: u64 = 0x0000_ff00_00ff_0000;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let x = (u64::from_le_bytes(*b) & !COLONS) | (ZEROS & COLONS);
    let t = digit_values(x)?;
    let d = |i: u32| ((t >> (8 * i)) & 0xff) as u32;
    Some((d(0) * 10 + d(1), d(3) * 10 + d(4), d(6) * 10 + d(7)))
}

/// What follows the seconds without an optional fraction of 1-9 digits (`.` or `,`); an
/// empty fraction or one too long leaves the separator, which no zone accepts.
#[inline]
fn fraction(rest: &[u8]) -> &[u8] {
    if let Some(r) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
        let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
        if (1..=9).contains(&n) {
            return &r[n..];
        }
    }
    rest
}

/// Nothing, `Z`, or an offset `±HH`, `±HHMM`, `±HH:MM`.
#[inline]
fn zone_ok(rest: &[u8]) -> bool {
    match rest {
        [] | [b'Z'] | [b'z'] => true,
        [sign, tz @ ..] if *sign == b'+' || *sign == b'-' => {
            let (hh, mm) = match tz.len() {
                2 => (digits::<2>(tz), Some(0)),
                4 => (digits::<2>(&tz[..2]), digits::<2>(&tz[2..])),
                5 if tz[2] == b':' => (digits::<2>(&tz[..2]), digits::<2>(&tz[3..])),
                _ => (None, None),
            };
            matches!((hh, mm), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

/// Whether `v` holds a C0 control character other than tab, line feed and carriage return:
/// the bytes 0x00-0x08, 0x0B, 0x0C and 0x0E-0x1F. Tab is ordinary data; LF and CR are legitimate
/// inside quoted CSV values and escaped JSON strings. (In UTF-8 these bytes never occur inside
/// a multi-byte character, so a byte scan is exact.)
#[inline]
pub fn has_control(v: &[u8]) -> bool {
    #[inline]
    fn bad(b: u8) -> bool {
        (b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r')
    }
    // Branch-free within a chunk, so the compiler vectorises it; most values have none.
    let mut chunks = v.chunks_exact(16);
    for c in &mut chunks {
        if c.iter().fold(false, |a, &b| a | bad(b)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| bad(b))
}

/// Whether byte `b` keeps a value from being plain ([`is_plain`]): a C0 control other than
/// tab, or not ASCII. Branch-free, so loops over it vectorise.
#[inline]
pub fn not_plain(b: u8) -> bool {
    ((b < 0x20) & (b != b'\t')) | (b >= 0x80)
}

/// Whether `v` is ASCII without any C0 control character but tab: true of most rows of most
/// files, which then need neither a UTF-8 check nor a [`has_control`] scan per field.
#[inline]
pub fn is_plain(v: &[u8]) -> bool {
    let mut chunks = v.chunks_exact(16);
    for c in &mut chunks {
        if c.iter().fold(false, |a, &b| a | not_plain(b)) {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&b| not_plain(b))
}

// ---- Parsing: the typed value of text the checks above accepted. Rules (bounds), validation
// (partition dates) and curate (the encoder) all parse through these, so they agree.

/// An `i64` from text [`is_int`] accepted (optional sign, at most 19 digits, in
/// range). Accumulates negatively so `i64::MIN` needs no special case.
#[inline]
pub fn parse_int(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() {
        return None;
    }
    if digits.len() <= 18 {
        // Below 10^18: no overflow is possible, so no checked step per digit (ids and counts
        // are parsed once per row by rules and curate alike).
        let n = decimal(digits)? as i64;
        return Some(if neg { -n } else { n });
    }
    long_int(neg, digits)
}

/// [`parse_int`] of 19 digits or more, with a checked step per digit (out of line: it kept
/// registers that the short case, nearly every value, then had to save).
#[cold]
#[inline(never)]
fn long_int(neg: bool, digits: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
    }
    if neg {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// The value of 1 to 18 ASCII digits (`None` if any byte is not one), eight at a time.
///
/// A byte loop costs about ten instructions a digit; an id of seven digits is parsed once per
/// row by `unique` and by curate, so its digits are read as one word ([`eight_digits`]).
#[inline]
fn decimal(d: &[u8]) -> Option<u64> {
    if d.len() <= 8 {
        up_to_eight(d)
    } else {
        decimal_long(d)
    }
}

/// [`decimal`] of more than eight digits (out of line: its loop kept registers that the
/// short case, nearly every value, then had to save).
#[inline(never)]
fn decimal_long(d: &[u8]) -> Option<u64> {
    let (mut n, mut rest) = (0u64, d);
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        n = n * 100_000_000 + eight_digits(u64::from_le_bytes(*head))?;
        rest = tail;
    }
    const POW10: [u64; 9] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];
    Some(n * POW10[rest.len()] + up_to_eight(rest)?)
}

/// [`decimal`] of at most eight digits (none is 0).
#[inline]
fn up_to_eight(d: &[u8]) -> Option<u64> {
    digits_in_word(load_word(d)?, d.len())
}

/// The value of the `k` (at most eight) ASCII digits in the low bytes of `word`
/// ([`load_word`]); `None` if one is not a digit. No digit is 0.
#[inline]
pub(crate) fn digits_in_word(word: u64, k: usize) -> Option<u64> {
    // The digits to the top of the word, ASCII zeros below them: leading zeros.
    let shift = 8 * (8 - k as u32);
    let zeros = 0x3030_3030_3030_3030u64
        .checked_shr(64 - shift)
        .unwrap_or(0);
    eight_digits(word.checked_shl(shift).unwrap_or(0) | zeros)
}

/// The value of eight ASCII digits, the first in the lowest byte; `None` if any byte is not
/// a digit.
#[inline]
fn eight_digits(word: u64) -> Option<u64> {
    let t = digit_values(word)?;
    // Pairs, then fours, then all eight (the first digit is the most significant).
    let t = (t * 10 + (t >> 8)) & 0x00ff_00ff_00ff_00ff;
    let t = (t * 100 + (t >> 16)) & 0x0000_ffff_0000_ffff;
    Some((t * 10_000 + (t >> 32)) & 0xffff_ffff)
}

/// An `f64` from text [`is_float`] accepted; the standard library's parser takes
/// the same forms (`.5`, `5.`, `1e-3`, `NaN`, `inf`, `Infinity`, any case).
///
/// lexical is several times faster than `str::parse`, and as exact (correctly rounded); the
/// standard parser stays the reference for any form lexical does not take.
#[inline]
pub fn parse_float(v: &[u8]) -> Option<f64> {
    lexical_core::parse::<f64>(v)
        .ok()
        .or_else(|| std::str::from_utf8(v).ok()?.parse().ok())
}

/// A bool from the words [`is_bool`] accepted.
#[inline]
pub fn parse_bool(v: &[u8]) -> Option<bool> {
    const TRUE: [&[u8]; 5] = [b"true", b"t", b"yes", b"y", b"1"];
    const FALSE: [&[u8]; 5] = [b"false", b"f", b"no", b"n", b"0"];
    if TRUE.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if FALSE.iter().any(|w| v.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

fn num(v: &[u8]) -> Option<u32> {
    v.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
#[inline]
pub fn parse_date(v: &[u8]) -> Option<i32> {
    if v.len() != 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&v[..4])?, num(&v[5..7])?, num(&v[8..10])?);
    if d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Days since 1970-01-01 of a valid proleptic Gregorian date of years 0 to 9999: Howard
/// Hinnant's `days_from_civil`, in integer arithmetic. It runs for every date and timestamp
/// value curated, where a calendar library's constructor and difference cost several times
/// more (a tenth of curate's time on a file with a date and a timestamp column).
#[inline]
fn days_from_civil(y: u32, m: u32, d: u32) -> i32 {
    // Years start in March, so the leap day ends the year; 400-year eras repeat exactly.
    let y = y as i32 - i32::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = (y - era * 400) as u32;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// Microseconds since the epoch (UTC) of a timestamp [`is_timestamp`] accepted.
///
/// A timestamp without an offset is taken as UTC. Digits of a fraction beyond microseconds
/// are dropped (truncated, as Spark and Arrow cast do). A leap second (`:60`) is the first
/// second of the next minute: the instant a UTC clock without leap seconds shows.
pub fn parse_timestamp(v: &[u8]) -> Option<i64> {
    let (local, micros, offset) = timestamp_parts(v)?;
    (local - offset.unwrap_or(0))
        .checked_mul(1_000_000)?
        .checked_add(micros)
}

/// A timestamp [`is_timestamp`] accepted as (seconds of its date and clock since 1970-01-01
/// as written, microseconds, offset in seconds when it has one: `Z` is 0).
fn timestamp_parts(v: &[u8]) -> Option<(i64, i64, Option<i64>)> {
    if v.len() < 16 || !matches!(v[10], b'T' | b't' | b' ') || v[13] != b':' {
        return None;
    }
    let days = i64::from(parse_date(&v[..10])?);
    let (h, m) = (i64::from(num(&v[11..13])?), i64::from(num(&v[14..16])?));
    let mut rest = &v[16..];
    let mut secs = 0i64;
    let mut micros = 0i64;
    if let Some(r) = rest.strip_prefix(b":") {
        secs = i64::from(num(r.get(..2)?)?);
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
            let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let kept = &r[..n.min(6)];
            micros = i64::from(num(kept)?) * 10i64.pow(6 - kept.len() as u32);
            rest = &r[n..];
        }
    }
    let offset_secs = match rest {
        [] => None,
        [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), tz @ ..] => {
            let (hh, mm) = match tz.len() {
                2 => (num(tz)?, 0),
                4 => (num(&tz[..2])?, num(&tz[2..])?),
                5 if tz[2] == b':' => (num(&tz[..2])?, num(&tz[3..])?),
                _ => return None,
            };
            let s = i64::from(hh * 3600 + mm * 60);
            Some(if *sign == b'-' { -s } else { s })
        }
        _ => return None,
    };
    Some((
        days * 86_400 + h * 3600 + m * 60 + secs,
        micros,
        offset_secs,
    ))
}

/// A dataset's `timezone`: the IANA zone in which its timestamps without an offset are local
/// times. From the tz database bundled into the build (the same everywhere, no file read).
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Zone {
    /// The zone of an IANA name (`Europe/Berlin`); `Err` says it is unknown.
    pub fn new(name: &str) -> Result<Zone, String> {
        let tz = jiff::tz::TimeZoneDatabase::bundled()
            .get(name)
            .map_err(|_| {
                format!("unknown time zone {name:?}: use an IANA name such as Europe/Berlin or America/New_York")
            })?;
        Ok(Zone {
            name: name.to_string(),
            tz,
        })
    }

    /// Its IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The UTC offset, in seconds, of the local time `local` (seconds since 1970-01-01 as
    /// written); `Err` for a time the zone skips or repeats.
    fn offset_of(&self, local: i64) -> Result<i64, LocalTimeError> {
        use jiff::tz::AmbiguousOffset;
        let civil = jiff::Timestamp::from_second(local)
            .map_err(|_| LocalTimeError::OutOfRange)?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .datetime();
        match self.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => Ok(i64::from(offset.seconds())),
            AmbiguousOffset::Gap { before, after } => Err(LocalTimeError::Gap {
                before: before.to_string(),
                after: after.to_string(),
            }),
            AmbiguousOffset::Fold { before, after } => Err(LocalTimeError::Fold {
                before: before.to_string(),
                after: after.to_string(),
            }),
        }
    }
}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(d)?;
        Zone::new(&name).map_err(serde::de::Error::custom)
    }
}

/// Why a timestamp without an offset has no one instant in its dataset's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalTimeError {
    /// The clocks skip it (spring forward): from offset `before` to `after`.
    Gap {
        /// The offset before the transition.
        before: String,
        /// The offset after it.
        after: String,
    },
    /// The clocks show it twice (fall back), at offsets `before` and `after`.
    Fold {
        /// The first offset.
        before: String,
        /// The second.
        after: String,
    },
    /// Outside the range of dates the zone's rules cover.
    OutOfRange,
}

impl LocalTimeError {
    /// The report's message, for a value in `zone`.
    pub fn describe(&self, zone: &Zone) -> String {
        let z = zone.name();
        match self {
            LocalTimeError::Gap { before, after } => format!(
                "this local time does not exist in {z}: the clocks jump from {before} to {after} over it (daylight saving); write the value with its offset"
            ),
            LocalTimeError::Fold { before, after } => format!(
                "this local time happens twice in {z}, at {before} and at {after} (daylight saving); write the value with its offset"
            ),
            LocalTimeError::OutOfRange => format!("not a valid timestamp in {z}"),
        }
    }
}

/// [`parse_timestamp`], where a value without an offset is a local time in `zone` (UTC when
/// `None`): the instant in microseconds, or why a local time has none (a daylight-saving gap
/// or overlap is refused, never guessed). `Ok(None)`: not a timestamp at all.
pub fn parse_timestamp_in(v: &[u8], zone: Option<&Zone>) -> Result<Option<i64>, LocalTimeError> {
    let Some((local, micros, offset)) = timestamp_parts(v) else {
        return Ok(None);
    };
    let offset = match (offset, zone) {
        (Some(o), _) => o,
        (None, None) => 0,
        (None, Some(z)) => z.offset_of(local)?,
    };
    Ok((local - offset)
        .checked_mul(1_000_000)
        .and_then(|x| x.checked_add(micros)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_checks_table() {
        use ColumnType::*;
        let cases: &[(ColumnType, &str, bool)] = &[
            (Int, "0", true),
            (Int, "-42", true),
            (Int, "+7", true),
            (Int, "9223372036854775807", true),
            (Int, "9223372036854775808", false),
            (Int, "-9223372036854775808", true),
            (Int, "-9223372036854775809", false),
            (Int, "12345678901234567890", false),
            (Int, "1.0", false),
            (Int, "", false),
            (Int, "-", false),
            (Int, " 1", false),
            (Int, "1e3", false),
            (Float, "1", true),
            (Float, "-1.5", true),
            (Float, ".5", true),
            (Float, "5.", true),
            (Float, "1e-3", true),
            (Float, "2.5E+10", true),
            (Float, "NaN", true),
            (Float, "-Infinity", true),
            (Float, "1e", false),
            (Float, ".", false),
            (Float, "1,5", false),
            (Float, "12abc", false),
            (Float, "", false),
            (Float, "+inf", true),
            (Float, "-nan", true),
            (Float, "+.5", true),
            (Float, "e5", false),
            (Float, "-", false),
            (Float, "nanx", false),
            (Float, "1nan", false),
            (Bool, "TRUE", true),
            (Bool, "f", true),
            (Bool, "0", true),
            (Bool, "yes", true),
            (Bool, "truthy", false),
            (Bool, "2", false),
            (Bool, "FaLsE", true),
            (Bool, "No", true),
            (Bool, "\u{10}", false),
            (Bool, "\u{11}", false),
            (Bool, "T", true),
            (Bool, "tru", false),
            (Bool, "true ", false),
            (Bool, "t\u{0}", false),
            (Bool, "", false),
            (Bool, "4", false),
            (Bool, "yess", false),
            (Date, "2026-11-25", true),
            (Date, "2024-02-29", true),
            (Date, "2023-02-29", false),
            (Date, "1900-02-29", false),
            (Date, "2000-02-29", true),
            (Date, "2026-04-31", false),
            (Date, "2026-13-01", false),
            (Date, "2026-00-10", false),
            (Date, "0000-01-01", false),
            (Date, "2026/11/25", false),
            (Date, "26-11-25", false),
            (Timestamp, "2026-11-25T10:00:00Z", true),
            (Timestamp, "2026-11-25 10:00:00", true),
            (Timestamp, "2026-11-25T10:00", true),
            (Timestamp, "2026-11-25T10:00:00.123456789+01:00", true),
            (Timestamp, "2026-11-25T10:00:00.1234567890Z", false),
            (Timestamp, "2026-11-25T10:00:00-0530", true),
            (Timestamp, "2026-11-25T10:00:00+05", true),
            (Timestamp, "2026-11-25T24:00:00Z", false),
            (Timestamp, "2026-11-25T10:60:00Z", false),
            (Timestamp, "2026-11-25T10:00:61Z", false),
            (Timestamp, "2026-11-25", false),
            (Timestamp, "2026-11-25T10:00:00ZZ", false),
            (Timestamp, "2026-02-30T10:00:00Z", false),
            (Timestamp, "1764064800", false),
            (String, "anything at all", true),
        ];
        for (ty, v, want) in cases {
            assert_eq!(ty.accepts(v.as_bytes()), *want, "{ty:?} {v:?}");
        }
    }

    #[test]
    fn dates_agree_with_the_calendar() {
        // Every year, month 0..=13 and day 0..=32 of a few centuries, and every byte of a
        // valid date swapped for each neighbour of the digits, against chrono's calendar:
        // what is a date, and its day number. (chrono takes year 0; the type starts at 0001.)
        let chrono_days = |v: &[u8]| {
            let d = chrono::NaiveDate::parse_from_str(std::str::from_utf8(v).ok()?, "%Y-%m-%d");
            let digits = |r: std::ops::Range<usize>| v[r].iter().all(u8::is_ascii_digit);
            let shaped = v.len() == 10 && v[4] == b'-' && v[7] == b'-';
            let d = d
                .ok()
                .filter(|_| shaped && digits(0..4) && digits(5..7) && digits(8..10))?;
            Some(
                d.signed_duration_since(chrono::NaiveDate::default())
                    .num_days() as i32,
            )
        };
        let reference = |v: &[u8]| chrono_days(v).is_some() && !v.starts_with(b"0000");
        let years = (0..=30).chain(1890..=2110).chain(9980..=9999);
        for y in years {
            for m in 0..=13 {
                for d in 0..=32 {
                    let v = format!("{y:04}-{m:02}-{d:02}");
                    assert_eq!(is_date(v.as_bytes()), reference(v.as_bytes()), "{v}");
                    assert_eq!(parse_date(v.as_bytes()), chrono_days(v.as_bytes()), "{v}");
                }
            }
        }
        let good = *b"2024-02-29";
        for i in 0..10 {
            for c in [b'/', b'-', b'0', b'9', b':', b' ', 0x80, 0xb0, b'a'] {
                let mut v = good;
                v[i] = c;
                assert_eq!(
                    is_date(&v),
                    reference(&v),
                    "{:?}",
                    String::from_utf8_lossy(&v)
                );
            }
        }
        assert!(!is_date(b"2024-02-2"));
        assert!(!is_date(b"2024-02-290"));
    }

    #[test]
    fn bools_are_the_words_in_any_case() {
        let words = ["true", "false", "t", "f", "yes", "no", "y", "n", "1", "0"];
        let reference = |v: &[u8]| words.iter().any(|w| v.eq_ignore_ascii_case(w.as_bytes()));
        // Every value of one or two bytes, and every word with each byte swapped for each byte.
        for a in 0..=255u8 {
            assert_eq!(is_bool(&[a]), reference(&[a]), "{a:#x}");
            for b in 0..=255u8 {
                assert_eq!(is_bool(&[a, b]), reference(&[a, b]), "{a:#x} {b:#x}");
            }
        }
        for w in words {
            for i in 0..w.len() {
                for c in 0..=255u8 {
                    let mut v = w.as_bytes().to_vec();
                    v[i] = c;
                    assert_eq!(is_bool(&v), reference(&v), "{v:?}");
                }
            }
        }
    }

    /// The timestamp check without its `HH:MM:SS` fast path: the field-by-field reading.
    fn timestamp_reference(v: &[u8]) -> bool {
        v.len() >= 16
            && is_date(&v[..10])
            && matches!(v[10], b'T' | b' ' | b't')
            && time_of_day(&v[11..])
    }

    #[test]
    fn timestamps_agree_with_the_reference() {
        let seeds = [
            "2026-11-25T10:00:00Z",
            "2026-11-25 23:59:60.123456789+01:00",
            "2026-11-25T10:00",
            "2026-11-25T10:00+0530",
            "2026-11-25T10:00:00,5-05",
            "2024-02-29t00:00:00z",
        ];
        let swaps = [
            b'0', b'1', b'2', b'5', b'6', b'9', b':', b'.', b',', b'Z', b'+', b'-', b' ', b'/',
            0x80,
        ];
        for seed in seeds {
            let seed = seed.as_bytes();
            assert!(is_timestamp(seed), "{seed:?}");
            for i in 0..seed.len() {
                for c in swaps {
                    let mut v = seed.to_vec();
                    v[i] = c;
                    assert_eq!(
                        is_timestamp(&v),
                        timestamp_reference(&v),
                        "{:?}",
                        String::from_utf8_lossy(&v)
                    );
                }
                assert_eq!(is_timestamp(&seed[..i]), timestamp_reference(&seed[..i]));
            }
        }
        for h in 0..=99 {
            for m in [0, 59, 60, 99] {
                for sec in [0, 59, 60, 61, 99] {
                    let v = format!("2026-01-01T{h:02}:{m:02}:{sec:02}Z");
                    assert_eq!(
                        is_timestamp(v.as_bytes()),
                        timestamp_reference(v.as_bytes()),
                        "{v}"
                    );
                }
            }
        }
    }

    #[test]
    fn plain_is_ascii_without_controls() {
        for b in 0..=255u8 {
            for len in [1, 15, 16, 17, 40] {
                let mut v = vec![b'a'; len];
                v[len / 2] = b;
                let want = v.is_ascii() && !has_control(&v) && b != b'\n' && b != b'\r';
                assert_eq!(is_plain(&v), want, "byte {b:#x} in {len}");
            }
        }
        assert!(is_plain(b""));
    }

    #[test]
    fn control_characters_table() {
        let cases: &[(&[u8], bool)] = &[
            (b"", false),
            (b"plain text", false),
            (b"tab\there", false),
            (b"line\nbreak\r\n", false),
            (b"caf\xc3\xa9 \xe6\x97\xa5", false),
            (b"\x00", true),
            (b"nul\x00inside", true),
            (b"bell\x07", true),
            (b"\x0b vertical tab", true),
            (b"form feed \x0c", true),
            (b"esc \x1b[31m", true),
            (b"unit sep \x1f", true),
            (b"space \x20 and DEL \x7f are not C0", false),
            // Past the first 16-byte chunk, and in the remainder.
            (b"0123456789abcdef0123456789abcdef\x01", true),
            (b"0123456789abcdef\x02", true),
            (b"0123456789abcdef0123456789abcdef", false),
        ];
        for (v, want) in cases {
            assert_eq!(has_control(v), *want, "{v:?}");
        }
    }

    /// Every value the type checks accept converts, and to the right value.
    #[test]
    fn conversions_table() {
        use ColumnType as T;
        let ints: &[(&str, i64)] = &[
            ("0", 0),
            ("-42", -42),
            ("+7", 7),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("007", 7),
            ("999999999999999999", 999_999_999_999_999_999),
            ("-999999999999999999", -999_999_999_999_999_999),
            ("1000000000000000000", 1_000_000_000_000_000_000),
            ("-0", 0),
        ];
        for (v, want) in ints {
            assert!(T::Int.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_int(v.as_bytes()), Some(*want), "{v}");
        }
        assert_eq!(parse_int(b"9223372036854775808"), None);
        for bad in ["", "-", "+", "1a", "12345678901234567a", "-1-"] {
            assert_eq!(parse_int(bad.as_bytes()), None, "{bad}");
        }
        let floats: &[(&str, f64)] = &[
            ("1", 1.0),
            ("-1.5", -1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("+.5", 0.5),
            ("1e-3", 0.001),
            ("2.5E+10", 2.5e10),
            ("-Infinity", f64::NEG_INFINITY),
            ("+inf", f64::INFINITY),
            ("INF", f64::INFINITY),
        ];
        for (v, want) in floats {
            assert!(T::Float.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_float(v.as_bytes()), Some(*want), "{v}");
        }
        for v in ["NaN", "-nan", "nan"] {
            assert!(T::Float.accepts(v.as_bytes()), "{v}");
            assert!(parse_float(v.as_bytes()).is_some_and(f64::is_nan), "{v}");
        }
        for (v, want) in [
            ("TRUE", true),
            ("t", true),
            ("Yes", true),
            ("y", true),
            ("1", true),
            ("false", false),
            ("F", false),
            ("no", false),
            ("N", false),
            ("0", false),
        ] {
            assert!(T::Bool.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_bool(v.as_bytes()), Some(want), "{v}");
        }
        for (v, want) in [
            ("1970-01-01", 0),
            ("1970-01-02", 1),
            ("1969-12-31", -1),
            ("2000-02-29", 11_016),
            ("2026-11-25", 20_782),
            ("0001-01-01", -719_162),
        ] {
            assert!(T::Date.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_date(v.as_bytes()), Some(want), "{v}");
        }
        let day = 20_782i64 * 86_400 * 1_000_000;
        let hour = 3_600_000_000i64;
        for (v, want) in [
            ("2026-11-25T00:00:00Z", day),
            ("2026-11-25 10:00:00", day + 10 * hour),
            ("2026-11-25T10:00", day + 10 * hour),
            ("2026-11-25t10:00:00z", day + 10 * hour),
            ("2026-11-25T10:00:00.5Z", day + 10 * hour + 500_000),
            ("2026-11-25T10:00:00,25Z", day + 10 * hour + 250_000),
            (
                "2026-11-25T10:00:00.123456789+01:00",
                day + 9 * hour + 123_456,
            ),
            (
                "2026-11-25T10:00:00-0530",
                day + 15 * hour + 30 * 60_000_000,
            ),
            ("2026-11-25T10:00:00+05", day + 5 * hour),
            ("2026-11-25T23:59:60Z", day + 24 * hour),
        ] {
            assert!(T::Timestamp.accepts(v.as_bytes()), "{v}");
            assert_eq!(parse_timestamp(v.as_bytes()), Some(want), "{v}");
        }
    }

    /// The word-at-a-time digits give what a byte loop gives.
    #[test]
    fn decimals_match_a_digit_loop() {
        // Every length, every byte value at every position of a value of that length (the
        // others digits), and the digit strings of many numbers, against a byte loop.
        let reference = |d: &[u8]| {
            d.iter().try_fold(0u64, |n, &b| {
                b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
            })
        };
        for len in 1..=18 {
            let base: Vec<u8> = (0..len).map(|i| b"9081726354"[i % 10]).collect();
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut v = base.clone();
                    v[pos] = b;
                    assert_eq!(decimal(&v), reference(&v), "{v:?}");
                }
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = x % 10u64.pow((x >> 59) as u32 % 18 + 1);
            for text in [n.to_string(), format!("{n:018}")] {
                assert_eq!(decimal(text.as_bytes()), Some(n), "{text}");
            }
        }
        assert_eq!(decimal(b""), Some(0));
    }

    #[test]
    fn decimal_types_parse_and_print_as_in_sql() {
        let ok = [
            ("decimal(12,2)", 12, 2, "decimal(12,2)"),
            ("decimal(12, 2)", 12, 2, "decimal(12,2)"),
            ("decimal(38,0)", 38, 0, "decimal(38,0)"),
            ("decimal(1,1)", 1, 1, "decimal(1,1)"),
        ];
        for (text, p, s, shown) in ok {
            let t: ColumnType = text.parse().unwrap();
            assert_eq!(
                t,
                ColumnType::Decimal {
                    precision: p,
                    scale: s
                },
                "{text}"
            );
            assert_eq!(t.to_string(), shown);
            assert_eq!(t.as_str(), "decimal");
        }
        let refused = [
            ("decimal(39,2)", "precision must be 1 to 38"),
            ("decimal(0,0)", "precision must be 1 to 38"),
            ("decimal(4,5)", "scale 5 is above the precision 4"),
            ("decimal(12)", "unknown type"),
            ("decimal(a,2)", "whole numbers"),
            ("money", "unknown type"),
            ("Int", "unknown type"),
        ];
        for (text, want) in refused {
            let e = text.parse::<ColumnType>().unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        for t in ["string", "int", "float", "bool", "date", "timestamp"] {
            assert_eq!(t.parse::<ColumnType>().unwrap().to_string(), t);
        }
    }

    #[test]
    fn decimals_parse_exactly_and_refuse_what_they_cannot_hold() {
        use DecimalError::*;
        let d = |v: &str| parse_decimal(v.as_bytes(), 12, 2);
        // Accepted forms: a sign, a bare point on either side, fewer fraction digits.
        let ok: &[(&str, i128)] = &[
            ("12.34", 1234),
            ("-12.34", -1234),
            ("+1.5", 150),
            (".5", 50),
            ("5.", 500),
            ("5", 500),
            ("-0.00", 0),
            ("007.50", 750),
            ("9999999999.99", 999_999_999_999),
            ("0000000000000009999999999.99", 999_999_999_999),
        ];
        for &(v, want) in ok {
            assert_eq!(d(v), Ok(want), "{v}");
            assert!(ColumnType::Decimal {
                precision: 12,
                scale: 2
            }
            .accepts(v.as_bytes()));
        }
        let refused: &[(&str, DecimalError)] = &[
            ("1e3", Exponent),
            ("1.5E-2", Exponent),
            ("NaN", Syntax),
            ("Infinity", Syntax),
            (" 1.5", Syntax),
            ("1,5", Syntax),
            ("1.2.3", Syntax),
            ("", Syntax),
            ("-", Syntax),
            (".", Syntax),
            ("1_000", Syntax),
            ("1.555", Scale(3)),
            ("1.500", Scale(3)),
            ("10000000000", Precision(11)),
            ("-10000000000.5", Precision(11)),
        ];
        for (v, want) in refused {
            assert_eq!(d(v), Err(*want), "{v}");
        }
        // The widest: 38 digits, i128's range holds them with room.
        let max = "9".repeat(28) + "." + &"9".repeat(10);
        assert_eq!(
            parse_decimal(max.as_bytes(), 38, 10),
            Ok(10i128.pow(38) - 1)
        );
        assert_eq!(
            parse_decimal(format!("-{max}").as_bytes(), 38, 10),
            Ok(1 - 10i128.pow(38))
        );
        assert_eq!(parse_decimal(b"12", 2, 0), Ok(12));
        assert_eq!(parse_decimal(b"0.12", 2, 2), Ok(12));
        assert_eq!(parse_decimal(b"1.2", 2, 2), Err(Precision(1)));
    }

    #[test]
    fn decimal_refusals_name_the_limit() {
        let t = ColumnType::Decimal {
            precision: 12,
            scale: 2,
        };
        let cases = [
            (
                "1.555",
                "3 digits after the point, decimal(12,2) allows at most 2",
            ),
            (
                "12345678901",
                "11 digits before the point, decimal(12,2) allows at most 10",
            ),
            (
                "1e3",
                "not a valid decimal(12,2): exponent notation is not accepted for a decimal",
            ),
            ("abc", "not a valid decimal(12,2)"),
        ];
        for (v, want) in cases {
            assert_eq!(t.refusal(v.as_bytes()), want, "{v}");
        }
        assert_eq!(ColumnType::Int.refusal(b"x"), "not a valid int");
    }

    #[test]
    fn json_decimals_are_exact_or_refused() {
        use serde_json::json;
        let d = |v: serde_json::Value| json_decimal(&v, 12, 2);
        assert_eq!(d(json!("12.34")), Ok(1234));
        assert_eq!(d(json!(12.5)), Ok(1250));
        assert_eq!(d(json!(0.1)), Ok(10));
        assert_eq!(d(json!(7)), Ok(700));
        assert_eq!(d(json!(-7)), Ok(-700));
        assert_eq!(d(json!(12.345)), Err(DecimalError::Scale(3)));
        assert_eq!(d(json!("1e3")), Err(DecimalError::Exponent));
        // 1e3 as a JSON number is the double 1000: its text is gone, its value is exact.
        let n: serde_json::Value = serde_json::from_str("1e3").unwrap();
        assert_eq!(d(n), Ok(100_000));
        let long: serde_json::Value = serde_json::from_str("0.12345678901234567").unwrap();
        assert_eq!(json_decimal(&long, 38, 20), Err(DecimalError::Inexact));
        assert_eq!(d(json!(true)), Err(DecimalError::Syntax));
        assert_eq!(d(json!([1])), Err(DecimalError::Syntax));
    }

    #[test]
    fn decimal_text_places_the_point() {
        for (v, s, want) in [
            (1234i128, 2u8, "12.34"),
            (-5, 2, "-0.05"),
            (0, 2, "0.00"),
            (7, 0, "7"),
            (-1230, 3, "-1.230"),
        ] {
            assert_eq!(decimal_text(v, s), want);
        }
    }

    #[test]
    fn local_timestamps_are_read_in_the_zone_and_gaps_and_folds_refused() {
        let berlin = Zone::new("Europe/Berlin").unwrap();
        let ny = Zone::new("America/New_York").unwrap();
        let at = |v: &str, z: Option<&Zone>| parse_timestamp_in(v.as_bytes(), z);
        let utc = |v: &str| parse_timestamp(v.as_bytes()).unwrap();
        let cases: &[(&str, &Zone, &str)] = &[
            ("2026-01-15 10:00", &berlin, "2026-01-15T09:00:00Z"),
            (
                "2026-07-15T10:00:00.123456",
                &berlin,
                "2026-07-15T08:00:00.123456Z",
            ),
            // An offset or Z wins over the zone.
            ("2026-07-15T10:00:00Z", &berlin, "2026-07-15T10:00:00Z"),
            ("2026-07-15T10:00:00-05:00", &berlin, "2026-07-15T15:00:00Z"),
            ("2026-03-08T01:59:59", &ny, "2026-03-08T06:59:59Z"),
            ("2026-03-08T03:00:00", &ny, "2026-03-08T07:00:00Z"),
        ];
        for (v, z, want) in cases {
            assert_eq!(at(v, Some(z)), Ok(Some(utc(want))), "{v} in {}", z.name());
        }
        // Without a zone, UTC, as before.
        assert_eq!(
            at("2026-01-15 10:00", None),
            Ok(Some(utc("2026-01-15T10:00:00Z")))
        );
        let gap = at("2026-03-29T02:30:00", Some(&berlin)).unwrap_err();
        assert_eq!(
            gap.describe(&berlin),
            "this local time does not exist in Europe/Berlin: the clocks jump from +01 to +02 over it (daylight saving); write the value with its offset"
        );
        let fold = at("2026-10-25 02:30", Some(&berlin)).unwrap_err();
        assert!(matches!(fold, LocalTimeError::Fold { .. }), "{fold:?}");
        assert!(fold
            .describe(&berlin)
            .contains("happens twice in Europe/Berlin"));
        assert!(at("2026-03-08T02:30", Some(&ny)).is_err());
        assert!(at("2026-11-01T01:30", Some(&ny)).is_err());
        // With an offset, the same wall times are fine.
        assert!(at("2026-10-25T02:30+01:00", Some(&berlin)).is_ok_and(|t| t.is_some()));
        assert_eq!(
            Zone::new("Europe/Atlantis").unwrap_err(),
            "unknown time zone \"Europe/Atlantis\": use an IANA name such as Europe/Berlin or America/New_York"
        );
    }

    #[test]
    fn the_word_path_of_decimals_matches_the_general_one() {
        const ALPHABET: &[u8] = b"0159.e";
        let mut v = Vec::new();
        for len in 0..=8u32 {
            for mut code in 0..ALPHABET.len().pow(len.min(6)) {
                v.clear();
                for _ in 0..len.min(6) {
                    v.push(ALPHABET[code % ALPHABET.len()]);
                    code /= ALPHABET.len();
                }
                // Longer values: the same, padded with digits on the left.
                v.splice(
                    0..0,
                    std::iter::repeat_n(b'7', len.saturating_sub(6) as usize),
                );
                for (p, s) in [(12, 2), (4, 2), (2, 2), (9, 0), (38, 10), (3, 1)] {
                    for neg in [false, true] {
                        let mut text = if neg { vec![b'-'] } else { Vec::new() };
                        text.extend_from_slice(&v);
                        assert_eq!(
                            parse_decimal(&text, p, s),
                            decimal_general(neg, &v, p, s),
                            "{:?} decimal({p},{s})",
                            String::from_utf8_lossy(&text)
                        );
                    }
                }
            }
        }
    }
}
