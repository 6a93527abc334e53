//! The registry's rules beyond types, checked row by row while a file streams: value rules
//! (`allowed`, `min`, `max`, `pattern`, `length`), uniqueness (`unique`, `unique_key`) in
//! bounded memory, and the dataset's `rows` bounds. Both text formats feed the same checker,
//! so CSV, TSV and JSON Lines report the same problem for the same value.
//!
//! Uniqueness keeps, per rule, a [`KeySet`]: a hash table of 16-byte entries, and in-order
//! integer ids as runs. It holds at most `max_unique_keys` entries; the first key beyond that
//! is a `unique_limit` problem and the rule stops tracking, so memory never grows past
//! 17 bytes × the table's slots (2 Mi slots, 34 MiB, at the default bound).

use std::cell::Cell;

use serde_json::Value;

use super::keyset::{KeySet, Seen, BYTES_PER_KEY_MAX};

use super::{Problem, ProblemCode, Problems, VALUE_SHOWN};
use crate::registry::{Column, Dataset};
use crate::rules::{Allowed, ColumnRules, Num};
use crate::text::{shorten, show_bytes};
use crate::types::{
    decimal_text, json_decimal, parse_bool, parse_date, parse_decimal, parse_float, parse_int,
    parse_timestamp, parse_timestamp_in, word_decimal, Zone,
};
use crate::types::{is_bool, is_date, is_float, is_int, is_timestamp, ColumnType};

/// A non-null value as a format hands it over: CSV text, or a JSON value of the right type.
#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    /// A CSV/TSV field (valid UTF-8, already accepted by its type).
    Text(&'a [u8]),
    /// A JSON field (already of the column's JSON type).
    Json(&'a Value),
}

/// A value in its column's domain.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Text(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A decimal's unscaled value at its column's scale.
    Dec(i128),
}

fn val(ty: ColumnType, raw: Raw<'_>) -> Option<Val<'_>> {
    match raw {
        Raw::Text(b) => match ty {
            ColumnType::Int => parse_int(b).map(Val::Int),
            ColumnType::Float => parse_float(b).map(Val::Float),
            ColumnType::Bool => parse_bool(b).map(Val::Bool),
            ColumnType::Decimal { precision, scale } => {
                parse_decimal(b, precision, scale).ok().map(Val::Dec)
            }
            _ => std::str::from_utf8(b).ok().map(Val::Text),
        },
        Raw::Json(v) if matches!(ty, ColumnType::Decimal { .. }) => {
            let ColumnType::Decimal { precision, scale } = ty else {
                return None;
            };
            json_decimal(v, precision, scale).ok().map(Val::Dec)
        }
        Raw::Json(v) => match v {
            Value::String(s) => Some(Val::Text(s)),
            Value::Number(n) if ty == ColumnType::Int => n.as_i64().map(Val::Int),
            Value::Number(n) => n.as_f64().map(Val::Float),
            Value::Bool(b) => Some(Val::Bool(*b)),
            _ => None,
        },
    }
}

/// The value in the domain `min`/`max` compare in.
/// `zone`: the dataset's `timezone`, for timestamps without an offset.
fn num(ty: ColumnType, v: Val<'_>, zone: Option<&Zone>) -> Option<Num> {
    match (ty, v) {
        (ColumnType::Int, Val::Int(i)) => Some(Num::Int(i)),
        (ColumnType::Float, Val::Float(x)) => Some(Num::Float(x)),
        (ColumnType::Float, Val::Int(i)) => Some(Num::Float(i as f64)),
        (ColumnType::Date, Val::Text(s)) => days(s.as_bytes()).map(Num::Date),
        (ColumnType::Timestamp, Val::Text(s)) => parse_timestamp_in(s.as_bytes(), zone)
            .ok()
            .flatten()
            .map(Num::Timestamp),
        (ColumnType::Decimal { .. }, Val::Dec(d)) => Some(Num::Decimal(d)),
        _ => None,
    }
}

/// The value as a report quotes it: as the file wrote it (CSV), or as JSON gave it.
/// Days since 1970-01-01 of a date [`crate::types::is_date`] accepted, by arithmetic (Howard
/// Hinnant's `days_from_civil`): the rules compare every row's date, and the calendar type's
/// constructor cost more than the rest of the row's checks. Equal to
/// [`crate::types::parse_date`] on every valid date (tested).
#[inline]
fn days(v: &[u8]) -> Option<i32> {
    if v.len() != 10 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        v[r].iter().try_fold(0i64, |a, &b| {
            b.is_ascii_digit().then(|| a * 10 + i64::from(b - b'0'))
        })
    };
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// `ty`: the column's type (a decimal's values are held unscaled).
fn shown(raw: Raw<'_>, v: Val<'_>, ty: ColumnType) -> String {
    if let Raw::Text(b) = raw {
        return show_bytes(b, VALUE_SHOWN);
    }
    match v {
        Val::Text(s) => show_bytes(s.as_bytes(), VALUE_SHOWN),
        Val::Int(i) => i.to_string(),
        Val::Float(x) => x.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Dec(d) => match ty {
            ColumnType::Decimal { scale, .. } => decimal_text(d, scale),
            _ => d.to_string(),
        },
    }
}

/// The first rule of `rules` that `v` breaks: (rule, message naming the limit).
fn broken(
    col: &Column,
    rules: &ColumnRules,
    v: Val<'_>,
    count_shown: bool,
    zone: Option<&Zone>,
) -> Option<(ProblemCode, String)> {
    if let Some(a) = &rules.allowed {
        let ok = match (a, v) {
            (Allowed::Text(set), Val::Text(s)) => set.contains(s),
            (Allowed::Int(set), Val::Int(i)) => set.contains(&i),
            (Allowed::Decimal(set), Val::Dec(d)) => set.contains(&d),
            _ => true,
        };
        if !ok {
            let list: Vec<String> = match a {
                Allowed::Text(set) => set.sorted().iter().map(|s| format!("{s:?}")).collect(),
                Allowed::Int(set) => {
                    let mut v: Vec<i64> = set.iter().copied().collect();
                    v.sort_unstable();
                    v.iter().map(i64::to_string).collect()
                }
                Allowed::Decimal(set) => {
                    let scale = match col.ty {
                        ColumnType::Decimal { scale, .. } => scale,
                        _ => 0,
                    };
                    let mut v: Vec<i128> = set.iter().copied().collect();
                    v.sort_unstable();
                    v.iter().map(|&d| decimal_text(d, scale)).collect()
                }
            };
            return Some((
                ProblemCode::Allowed,
                format!(
                    "not one of the allowed values [{}]",
                    shorten(&list.join(", "), 120)
                ),
            ));
        }
    }
    if rules.min.is_some() || rules.max.is_some() {
        if let Some(n) = num(col.ty, v, zone) {
            if matches!(n, Num::Float(x) if x.is_nan()) {
                // NaN is not in any range: it compares neither above nor below a bound.
                let (code, b) = match (&rules.min, &rules.max) {
                    (Some(b), _) => (ProblemCode::Min, b),
                    (None, Some(b)) => (ProblemCode::Max, b),
                    (None, None) => unreachable!("checked above"),
                };
                return Some((
                    code,
                    format!("NaN is within no range ({} {})", code.as_str(), b.text),
                ));
            }
            if let Some(b) = rules.min.as_ref().filter(|b| n < b.value) {
                return Some((
                    ProblemCode::Min,
                    format!("below the minimum (min {})", b.text),
                ));
            }
            if let Some(b) = rules.max.as_ref().filter(|b| n > b.value) {
                return Some((
                    ProblemCode::Max,
                    format!("above the maximum (max {})", b.text),
                ));
            }
        }
    }
    if let (Some(p), Val::Text(s)) = (&rules.pattern, v) {
        if !p.matches(s) {
            return Some((
                ProblemCode::Pattern,
                format!(
                    "does not match the pattern {:?} (the whole value must match)",
                    shorten(p.as_str(), 80)
                ),
            ));
        }
    }
    if let (Some(l), Val::Text(s)) = (&rules.length, v) {
        let n = s.chars().count() as u64;
        let short = l.min.is_some_and(|m| n < m);
        let long = l.max.is_some_and(|m| n > m);
        if short || long {
            let limit = match (l.min, l.max) {
                (Some(a), Some(b)) => format!("{a} to {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => unreachable!("refused at load"),
            };
            // A sensitive value's length is part of the value: not shown either.
            let what = if count_shown {
                format!("{n} characters")
            } else {
                "length".to_string()
            };
            return Some((
                ProblemCode::Length,
                format!("{what} outside the allowed length ({limit} characters)"),
            ));
        }
    }
    None
}

/// A column's type and value rules as one check on the bytes of a CSV field, with no
/// conversion it does not need: true means the value is of its column's type and [`broken`]
/// finds nothing (the value rules tables hold both to the same verdicts).
///
/// One per column, specialised by type, so the row's pass branches once per column and reads
/// each value once; the rare, longer branches (a long float, a DFA walk, characters of
/// non-ASCII text) are out of line. Inlined into the pass, they had the compiler spill and set
/// up their loops on every row: a `length` rule alone cost 50 instructions a row.
///
/// The tag is a plain byte (`repr(u8)`): left to the compiler, it hid in a niche of
/// `Text`'s fields, and decoding it cost four instructions per value, 2 % of a row.
#[repr(u8)]
pub(super) enum ValueCheck<'d> {
    /// A string column without value rules: any text (the row's UTF-8 check covers it).
    AnyText,
    /// A bool column (no value rule applies).
    Bool,
    /// A column of another type without value rules: the type alone. Its own variant, not
    /// a `Type(ColumnType)` calling `ColumnType::accepts`, so the pass dispatches once: the
    /// nested dispatch measured 4 % more instructions a row on types-only files.
    IsInt,
    /// See [`ValueCheck::IsInt`].
    IsFloat,
    /// See [`ValueCheck::IsInt`].
    IsDate,
    /// See [`ValueCheck::IsInt`].
    IsTimestamp,
    /// See [`ValueCheck::IsInt`].
    IsJson,
    /// A string column's `length` (in characters), `allowed` and `pattern`.
    Text {
        len: Option<(u64, u64)>,
        set: Option<&'d crate::rules::TextSet>,
        pattern: Option<&'d crate::rules::Pattern>,
    },
    /// An int column's `min`/`max` (an absent bound is the type's limit) and `allowed`.
    /// `key`: the column is the file's one `unique` key, and [`ValueCheck::ok`] hands the
    /// value it parsed to the uniqueness check, which would parse it again.
    Int {
        lo: i64,
        hi: i64,
        set: Option<&'d std::collections::HashSet<i64>>,
        key: bool,
    },
    /// A float column's `min`/`max`; NaN keeps no range. Most values are short decimals,
    /// parsed once for the type and the range.
    Float { lo: f64, hi: f64 },
    /// A date column's `min`/`max`: a valid `YYYY-MM-DD` sorts as its date, so its bytes, read
    /// big-endian ([`date_key`]), compare with the bounds'.
    Date { lo: u128, hi: u128 },
    /// A timestamp column's `min`/`max`, in microseconds since the epoch.
    Timestamp { lo: i64, hi: i64 },
    /// A timestamp column of a dataset with a `timezone` (values without an offset are local
    /// times there, and one the zone skips or repeats is refused), with its bounds.
    ZonedTimestamp { zone: &'d Zone, lo: i64, hi: i64 },
    /// A decimal column: its precision and scale, and `min`/`max` (unscaled) and `allowed`
    /// when it has them. Boxed: the rare variant would otherwise double every check's size.
    Decimal(Box<DecimalCheck<'d>>),
}

/// [`ValueCheck::Decimal`].
pub(super) struct DecimalCheck<'d> {
    precision: u8,
    scale: u8,
    lo: i128,
    hi: i128,
    set: Option<&'d std::collections::HashSet<i128>>,
}

impl<'d> ValueCheck<'d> {
    /// The check of `col`'s type and value rules; `key`: see [`ValueCheck::Int`]; `zone`: the
    /// dataset's `timezone`.
    pub(super) fn of(col: &'d Column, key: bool, zone: Option<&'d Zone>) -> ValueCheck<'d> {
        let r = &col.rules;
        if let (ColumnType::Timestamp, Some(zone)) = (col.ty, zone) {
            let bound =
                |b: &Option<crate::rules::Bound>, dflt: i64| match b.as_ref().map(|b| b.value) {
                    Some(Num::Timestamp(t)) => t,
                    _ => dflt,
                };
            return ValueCheck::ZonedTimestamp {
                zone,
                lo: bound(&r.min, i64::MIN),
                hi: bound(&r.max, i64::MAX),
            };
        }
        let int_key = key && col.ty == ColumnType::Int;
        if !(r.has_value_rules() || int_key) {
            return match col.ty {
                ColumnType::String => ValueCheck::AnyText,
                ColumnType::Bool => ValueCheck::Bool,
                ColumnType::Int => ValueCheck::IsInt,
                ColumnType::Float => ValueCheck::IsFloat,
                ColumnType::Date => ValueCheck::IsDate,
                ColumnType::Timestamp => ValueCheck::IsTimestamp,
                ColumnType::Json => ValueCheck::IsJson,
                ColumnType::Decimal { precision, scale } => {
                    ValueCheck::Decimal(Box::new(DecimalCheck {
                        precision,
                        scale,
                        lo: i128::MIN,
                        hi: i128::MAX,
                        set: None,
                    }))
                }
            };
        }
        let bound = |b: &Option<crate::rules::Bound>| b.as_ref().map(|b| b.value);
        let (lo, hi) = (bound(&r.min), bound(&r.max));
        // An int's or a timestamp's bound as its integer (bounds are resolved into their
        // column's type at load).
        let int = |n: Option<Num>, dflt: i64| match n {
            Some(Num::Int(i) | Num::Timestamp(i)) => i,
            _ => dflt,
        };
        match col.ty {
            ColumnType::String => ValueCheck::Text {
                len: r
                    .length
                    .map(|l| (l.min.unwrap_or(0), l.max.unwrap_or(u64::MAX))),
                set: match &r.allowed {
                    Some(Allowed::Text(set)) => Some(set),
                    _ => None,
                },
                pattern: r.pattern.as_ref(),
            },
            ColumnType::Int => ValueCheck::Int {
                lo: int(lo, i64::MIN),
                hi: int(hi, i64::MAX),
                set: match &r.allowed {
                    Some(Allowed::Int(set)) => Some(set),
                    _ => None,
                },
                key,
            },
            ColumnType::Float => {
                // A bound of another kind cannot be: NaN then sends every value to the
                // general path, which decides.
                let float = |n: Option<Num>, dflt: f64| match n {
                    Some(Num::Float(x)) => x,
                    None => dflt,
                    Some(_) => f64::NAN,
                };
                ValueCheck::Float {
                    lo: float(lo, f64::NEG_INFINITY),
                    hi: float(hi, f64::INFINITY),
                }
            }
            ColumnType::Date => {
                let key = |b: &Option<crate::rules::Bound>, dflt: u128| {
                    b.as_ref()
                        .and_then(|b| date_key(b.text.as_bytes()))
                        .unwrap_or(dflt)
                };
                ValueCheck::Date {
                    lo: key(&r.min, 0),
                    hi: key(&r.max, u128::MAX),
                }
            }
            ColumnType::Timestamp => ValueCheck::Timestamp {
                lo: int(lo, i64::MIN),
                hi: int(hi, i64::MAX),
            },
            ColumnType::Decimal { precision, scale } => {
                let dec = |n: Option<Num>, dflt: i128| match n {
                    Some(Num::Decimal(d)) => d,
                    _ => dflt,
                };
                ValueCheck::Decimal(Box::new(DecimalCheck {
                    precision,
                    scale,
                    lo: dec(lo, i128::MIN),
                    hi: dec(hi, i128::MAX),
                    set: match &r.allowed {
                        Some(Allowed::Decimal(set)) => Some(set),
                        _ => None,
                    },
                }))
            }
            // No rule applies to bools or json (refused at load).
            ColumnType::Bool => ValueCheck::Bool,
            ColumnType::Json => ValueCheck::IsJson,
        }
    }

    /// Whether the CSV field `b` (valid UTF-8) is of its column's type and keeps its value
    /// rules: false may also mean "ask the general path". `plain`: `b` is [`is_plain`]
    /// (ASCII), so its length in characters is its length in bytes.
    ///
    /// `key` receives a key column's value (see [`ValueCheck::Int`]).
    ///
    /// [`is_plain`]: crate::types::is_plain
    #[inline]
    pub(super) fn ok(&self, b: &[u8], plain: bool, key: &Cell<Option<i64>>) -> bool {
        match *self {
            ValueCheck::AnyText => true,
            ValueCheck::Bool => is_bool(b),
            ValueCheck::IsInt => is_int(b),
            ValueCheck::IsFloat => is_float(b),
            ValueCheck::IsDate => is_date(b),
            ValueCheck::IsTimestamp => is_timestamp(b),
            ValueCheck::IsJson => crate::types::is_json(b),
            ValueCheck::Text { len, set, pattern } => {
                len.is_none_or(|(lo, hi)| {
                    let n = if plain { b.len() as u64 } else { chars(b) };
                    lo <= n && n <= hi
                }) && set.is_none_or(|s| s.contains_bytes(b))
                    && pattern.is_none_or(|p| p.matches_bytes(b))
            }
            ValueCheck::Int {
                lo,
                hi,
                set,
                key: is_key,
            } => match parse_int(b) {
                // Up to 19 bytes, `parse_int` takes exactly the type's forms; a longer value
                // (leading zeros) asks the type.
                Some(i) => {
                    if is_key {
                        key.set(Some(i));
                    }
                    (b.len() <= 19 || is_int(b))
                        && lo <= i
                        && i <= hi
                        && set.is_none_or(|s| s.contains(&i))
                }
                None => false,
            },
            ValueCheck::Float { lo, hi } => match short_decimal(b) {
                Some(x) => lo <= x && x <= hi,
                None => float_in(b, lo, hi),
            },
            ValueCheck::Date { lo, hi } => {
                is_date(b) && date_key(b).is_some_and(|k| lo <= k && k <= hi)
            }
            ValueCheck::Timestamp { lo, hi } => timestamp_in(b, lo, hi),
            ValueCheck::ZonedTimestamp { zone, lo, hi } => {
                is_timestamp(b)
                    && parse_timestamp_in(b, Some(zone))
                        .is_ok_and(|t| t.is_some_and(|t| lo <= t && t <= hi))
            }
            ValueCheck::Decimal(ref d) => parse_decimal(b, d.precision, d.scale)
                .is_ok_and(|x| d.lo <= x && x <= d.hi && d.set.is_none_or(|s| s.contains(&x))),
        }
    }
}

/// Characters of valid UTF-8: the bytes that do not continue one.
#[inline(never)]
fn chars(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| (c as i8) >= -0x40).count() as u64
}

/// [`ValueCheck::Float`] for a value that is not a short decimal.
#[inline(never)]
fn float_in(b: &[u8], lo: f64, hi: f64) -> bool {
    is_float(b) && parse_float(b).is_some_and(|x| lo <= x && x <= hi)
}

/// [`ValueCheck::Timestamp`].
#[inline(never)]
fn timestamp_in(b: &[u8], lo: i64, hi: i64) -> bool {
    is_timestamp(b) && parse_timestamp(b).is_some_and(|t| lo <= t && t <= hi)
}

/// A `YYYY-MM-DD` as a number that sorts as the text does (its bytes big-endian); `None` for
/// any other length.
#[inline]
fn date_key(b: &[u8]) -> Option<u128> {
    let b: &[u8; 10] = b.try_into().ok()?;
    let (head, tail) = b.split_at(8);
    let head = u64::from_be_bytes(head.try_into().ok()?);
    let tail = u16::from_be_bytes(tail.try_into().ok()?);
    Some(u128::from(head) << 16 | u128::from(tail))
}

/// A decimal `[+-]digits[.digits]` of at most 19 digits whose digits, as an integer, are below
/// 2^53 and with at most 22 after the point, as the nearest `f64`; `None` for any other form.
///
/// Both the digits and the power of ten are then exact `f64`s, and one IEEE division rounds
/// correctly (Clinger's fast path): the same value every parser gives, with none of a general
/// parser's setup, which cost more than the rest of a row's checks for a price like `308.11`.
#[inline]
fn short_decimal(v: &[u8]) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (neg, body) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, v),
    };
    let (m, scale) = if body.len() <= 8 {
        word_decimal(body)?
    } else {
        decimal_digits(body)?
    };
    if m > 1 << 53 || scale >= POW10.len() {
        return None;
    }
    let x = m as f64 / POW10[scale];
    Some(if neg { -x } else { x })
}

/// The digits of `[digits][.digits]` (at least one digit) as an integer, and how many follow
/// the point; `None` for any other form or more than 19 digits.
fn decimal_digits(body: &[u8]) -> Option<(u64, usize)> {
    let mut m = 0u64;
    let mut digits = 0usize;
    let mut frac = None;
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(b - b'0');
                digits += 1;
                if digits > 19 {
                    return None;
                }
            }
            b'.' if frac.is_none() => frac = Some(i),
            _ => return None,
        }
    }
    (digits > 0).then(|| (m, frac.map_or(0, |i| body.len() - i - 1)))
}

/// One uniqueness rule's state in one file.
struct Unique {
    /// Indices of the key's columns.
    cols: Vec<usize>,
    /// A single int column: its keys go to [`KeySet::insert_int`], which keeps in-order ids
    /// as runs.
    int_key: bool,
    code: ProblemCode,
    /// The column, or `a, b` for a composite key.
    label: String,
    /// Whether the key's values may be quoted in a report.
    shown: bool,
    /// The keys seen, with where each was first seen.
    seen: KeySet,
    /// The bound was reached: reported once, no longer tracked.
    gave_up: bool,
}

/// The per-file state of a dataset's rules.
pub(super) struct RuleCheck<'d> {
    ds: &'d Dataset,
    /// Columns with value rules, and whether their values may be shown (a length is part of
    /// the value).
    valued: Vec<(usize, bool)>,
    /// Per entry of `valued`, its type and rules as a check on a CSV field's bytes.
    fast: Vec<ValueCheck<'d>>,
    uniques: Vec<Unique>,
    /// Whether anything is checked per row at all.
    pub(super) active: bool,
    /// Reused key buffer.
    key: Vec<u8>,
}

impl<'d> RuleCheck<'d> {
    pub(super) fn new(ds: &'d Dataset) -> Self {
        let limit = usize::try_from(ds.unique_key_limit()).unwrap_or(usize::MAX);
        let cols = &ds.columns;
        let valued: Vec<(usize, bool)> = (0..cols.len())
            .filter(|&i| cols[i].rules.has_value_rules())
            .map(|i| (i, ds.shows_value(Some(&cols[i].name))))
            .collect();
        let fast = valued
            .iter()
            .map(|&(i, _)| ValueCheck::of(&cols[i], false, ds.timezone.as_ref()))
            .collect();
        let mut uniques: Vec<Unique> = (0..cols.len())
            .filter(|&i| cols[i].rules.unique)
            .map(|i| Unique {
                cols: vec![i],
                int_key: cols[i].ty == ColumnType::Int,
                code: ProblemCode::Unique,
                label: cols[i].name.clone(),
                shown: ds.shows_value(Some(&cols[i].name)),
                seen: KeySet::new(limit),
                gave_up: false,
            })
            .collect();
        if !ds.unique_key.is_empty() {
            let idx: Vec<usize> = ds
                .unique_key
                .iter()
                .filter_map(|k| cols.iter().position(|c| &c.name == k))
                .collect();
            uniques.push(Unique {
                shown: idx.iter().all(|&i| ds.shows_value(Some(&cols[i].name))),
                label: ds.unique_key.join(", "),
                int_key: idx.len() == 1 && cols[idx[0]].ty == ColumnType::Int,
                cols: idx,
                code: ProblemCode::UniqueKey,
                seen: KeySet::new(limit),
                gave_up: false,
            });
        }
        RuleCheck {
            ds,
            active: !valued.is_empty() || !uniques.is_empty(),
            valued,
            fast,
            uniques,
            key: Vec::new(),
        }
    }

    /// Checks one row that passed its type checks. `get(i)` is column `i`'s value, `None` when
    /// null; `pos` is the row (CSV) or line (JSON Lines) that `duplicate of` names. Returns
    /// (the row broke a rule, the problem list is full).
    pub(super) fn check_row<'v>(
        &mut self,
        get: impl Fn(usize) -> Option<Raw<'v>>,
        line: u64,
        row: Option<u64>,
        pos: u64,
        problems: &mut Problems,
    ) -> (bool, bool) {
        let cols = &self.ds.columns;
        let at = |code, column: String, value: Option<String>, message: String| Problem {
            code,
            line: Some(line),
            row,
            column: Some(column),
            value,
            message,
        };
        let mut bad = false;
        for (&(i, count_shown), fast) in self.valued.iter().zip(&self.fast) {
            let col = &cols[i];
            let Some(raw) = get(i) else {
                continue;
            };
            // The common case, a CSV value that keeps every rule, is decided on its bytes;
            // anything else (a broken rule, JSON) takes the general path, which names it.
            if let Raw::Text(b) = raw {
                if fast.ok(b, false, &Cell::new(None)) {
                    continue;
                }
            }
            let Some(v) = val(col.ty, raw) else {
                continue;
            };
            let zone = self.ds.timezone.as_ref();
            if let Some((code, message)) = broken(col, &col.rules, v, count_shown, zone) {
                bad = true;
                if problems.push(at(
                    code,
                    col.name.clone(),
                    Some(shown(raw, v, col.ty)),
                    message,
                )) {
                    return (true, true);
                }
            }
        }
        let (dup, full) = self.check_keys(get, line, row, pos, problems);
        (bad || dup, full)
    }

    /// The column of the file's one uniqueness rule when it is a single int column: the CSV
    /// pass parses its values anyway and hands them to [`RuleCheck::check_int_key`].
    pub(super) fn int_key(&self) -> Option<usize> {
        match self.uniques.as_slice() {
            [u] if u.int_key => Some(u.cols[0]),
            _ => None,
        }
    }

    /// [`RuleCheck::check_keys`] when [`RuleCheck::int_key`] is set, with the key's value
    /// already parsed (`None`: null).
    #[inline]
    pub(super) fn check_int_key<'v>(
        &mut self,
        v: Option<i64>,
        get: impl Fn(usize) -> Option<Raw<'v>>,
        line: u64,
        row: Option<u64>,
        pos: u64,
        problems: &mut Problems,
    ) -> (bool, bool) {
        let [u] = self.uniques.as_mut_slice() else {
            return self.check_keys(get, line, row, pos, problems);
        };
        let Some(v) = v.filter(|_| !u.gave_up) else {
            // SQL's rule: a null equals nothing, so a key with one is not compared.
            return (false, false);
        };
        match u.seen.insert_int(v, pos) {
            Seen::New => (false, false),
            seen => (
                true,
                problems.push(key_problem(u, seen, &self.ds.columns, &get, line, row)),
            ),
        }
    }

    /// Whether any uniqueness rule is set: a row whose values the CSV pass already held to
    /// their rules needs only [`RuleCheck::check_keys`].
    pub(super) fn has_keys(&self) -> bool {
        !self.uniques.is_empty()
    }

    /// The uniqueness part of [`RuleCheck::check_row`], for a row whose value rules are known
    /// to hold.
    pub(super) fn check_keys<'v>(
        &mut self,
        get: impl Fn(usize) -> Option<Raw<'v>>,
        line: u64,
        row: Option<u64>,
        pos: u64,
        problems: &mut Problems,
    ) -> (bool, bool) {
        let cols = &self.ds.columns;
        let mut bad = false;
        for u in &mut self.uniques {
            if u.gave_up {
                continue;
            }
            let seen = if u.int_key {
                let int = match get(u.cols[0]) {
                    // Straight to the number: `val` would decide the form again.
                    Some(Raw::Text(b)) => parse_int(b),
                    Some(raw) => match val(ColumnType::Int, raw) {
                        Some(Val::Int(v)) => Some(v),
                        _ => None,
                    },
                    None => None,
                };
                match int {
                    Some(v) => u.seen.insert_int(v, pos),
                    // SQL's rule: a null equals nothing, so a key with one is not compared.
                    _ => continue,
                }
            } else {
                match composite_key(
                    &mut self.key,
                    &u.cols,
                    cols,
                    &get,
                    self.ds.timezone.as_ref(),
                ) {
                    Some(key) => u.seen.insert_bytes(key, pos),
                    None => continue,
                }
            };
            if seen == Seen::New {
                continue;
            }
            bad = true;
            if problems.push(key_problem(u, seen, cols, &get, line, row)) {
                return (true, true);
            }
        }
        (bad, false)
    }
}

/// The key of columns `idx` of a row as bytes (see [`encode`]) in `buf`, or `None` when one of
/// them is null. Out of line: an int column's key, the common case, takes none of this.
#[inline(never)]
fn composite_key<'b, 'v>(
    buf: &'b mut Vec<u8>,
    idx: &[usize],
    cols: &[Column],
    get: &impl Fn(usize) -> Option<Raw<'v>>,
    zone: Option<&Zone>,
) -> Option<&'b [u8]> {
    buf.clear();
    for &i in idx {
        encode(
            buf,
            cols[i].ty,
            get(i).and_then(|r| val(cols[i].ty, r))?,
            zone,
        );
    }
    Some(buf)
}

/// The problem of a key that was seen before (`Dup`) or went past the bound (`Full`). Out of
/// the row loop: a row without one formats nothing.
#[cold]
fn key_problem<'v>(
    u: &mut Unique,
    seen: Seen,
    cols: &[Column],
    get: &impl Fn(usize) -> Option<Raw<'v>>,
    line: u64,
    row: Option<u64>,
) -> Problem {
    let word = if row.is_some() { "row" } else { "line" };
    let (code, value, message) = match seen {
        Seen::Dup(first) => {
            let value = u.shown.then(|| {
                let parts: Vec<String> = u
                    .cols
                    .iter()
                    .filter_map(|&i| {
                        let r = get(i)?;
                        Some(shown(r, val(cols[i].ty, r)?, cols[i].ty))
                    })
                    .collect();
                shorten(&parts.join(", "), VALUE_SHOWN)
            });
            let first = match first {
                Some(n) => format!("{word} {n}"),
                None => format!("a {word} after {}", u32::MAX),
            };
            let hidden = if u.shown {
                ""
            } else {
                " (value not shown: sensitive)"
            };
            let message = format!("duplicate of {first} ({}){hidden}", u.code.as_str());
            (u.code, value, message)
        }
        // Full (a new key is never a problem).
        _ => {
            u.gave_up = true;
            let limit = u.seen.limit();
            u.seen = KeySet::new(0);
            let message = format!(
                "more than {limit} distinct keys: {} is checked exactly up to max_unique_keys per file (ids that arrive in order, each the last plus one, are kept as runs and count 4 per run of 64 or more); raise it (at most {BYTES_PER_KEY_MAX} bytes a key) or split the file",
                u.code.as_str(),
            );
            (ProblemCode::UniqueLimit, None, message)
        }
    };
    Problem {
        code,
        line: Some(line),
        row,
        column: Some(u.label.clone()),
        value,
        message,
    }
}

/// Appends a key part: the value in its type's canonical form (so `007` and `7`, `1.0` and
/// `1`, `2026-01-01T01:00+01:00` and `2026-01-01T00:00Z` are the same key, as they are once
/// curated), strings length-prefixed so `("ab", "c")` and `("a", "bc")` differ.
fn encode(out: &mut Vec<u8>, ty: ColumnType, v: Val<'_>, zone: Option<&Zone>) {
    match (ty, v) {
        (_, Val::Int(i)) => out.extend_from_slice(&i.to_le_bytes()),
        (_, Val::Float(x)) => {
            let x = if x == 0.0 {
                0.0
            } else if x.is_nan() {
                f64::NAN
            } else {
                x
            };
            out.extend_from_slice(&x.to_bits().to_le_bytes())
        }
        (_, Val::Bool(b)) => out.push(u8::from(b)),
        (_, Val::Dec(d)) => out.extend_from_slice(&d.to_le_bytes()),
        (ColumnType::Date, Val::Text(s)) => match parse_date(s.as_bytes()) {
            Some(d) => out.extend_from_slice(&d.to_le_bytes()),
            None => text(out, s),
        },
        (ColumnType::Timestamp, Val::Text(s)) => match parse_timestamp_in(s.as_bytes(), zone) {
            Ok(Some(t)) => out.extend_from_slice(&t.to_le_bytes()),
            _ => text(out, s),
        },
        (_, Val::Text(s)) => text(out, s),
    }
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The dataset's `rows` bounds against a file's row count. `complete` is false when the count
/// is not the file's (reading stopped early, or the content was unreadable): then only an
/// exceeded maximum is certain.
pub(crate) fn rows_problems(ds: &Dataset, rows: u64, complete: bool) -> Vec<Problem> {
    let Some(b) = ds.rows else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(max) = b.max.filter(|&m| rows > m) {
        out.push(Problem::object(
            ProblemCode::Rows,
            format!("{rows} rows, more than the dataset maximum (rows.max {max})"),
        ));
    }
    if let Some(min) = b.min.filter(|&m| complete && rows < m) {
        out.push(Problem::object(
            ProblemCode::Rows,
            format!("{rows} rows, fewer than the dataset minimum (rows.min {min})"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn dataset(cols: &str, extra: &str) -> Dataset {
        let yaml = format!(
            "version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{{file}}\n    format: csv\n{extra}    columns:\n{cols}"
        );
        let r = Registry::from_yaml(&yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
        r.dataset("t").unwrap().1.clone()
    }

    /// Runs rows of text values (None = null) through the checker; returns the problems as
    /// `code@pos column value | message`.
    fn run(ds: &Dataset, rows: &[&[Option<&str>]]) -> Vec<String> {
        let mut rc = RuleCheck::new(ds);
        let mut problems = Problems::new(100);
        for (n, r) in rows.iter().enumerate() {
            let pos = n as u64 + 1;
            rc.check_row(
                |i| r[i].map(|s| Raw::Text(s.as_bytes())),
                pos + 1,
                Some(pos),
                pos,
                &mut problems,
            );
        }
        lines(&problems.list)
    }

    /// Problems as `code@row column value | message`, one string each.
    fn lines(problems: &[Problem]) -> Vec<String> {
        problems
            .iter()
            .map(|p| {
                format!(
                    "{}@{} {} {} | {}",
                    p.code,
                    p.row.unwrap(),
                    p.column.as_deref().unwrap_or("-"),
                    p.value.as_deref().unwrap_or("-"),
                    p.message
                )
            })
            .collect()
    }

    /// The same rows as one CSV file through the streaming validator, whose types pass checks
    /// the value rules itself ([`ValueCheck`]): its problems in [`run`]'s form.
    fn run_csv(ds: &Dataset, rows: &[&[Option<&str>]]) -> Vec<String> {
        let quote = |v: &str| {
            if v.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", v.replace('"', "\"\""))
            } else {
                v.to_string()
            }
        };
        let mut text: Vec<String> = vec![ds
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(",")];
        for r in rows {
            text.push(
                r.iter()
                    .map(|v| quote(v.unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        let text = text.join("\n") + "\n";
        let report = super::super::validate_stream("t", ds, "t.csv", 100, text.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        lines(&report.problems)
    }

    /// Each case `(column, value, problem)`: the row `ok` with that value, as one CSV file
    /// and through the rules alone, names `problem` (a prefix), or nothing when it is empty. A
    /// type problem comes from the type check, which only the file path has; any other, both
    /// paths name alike.
    fn check_cases(ds: &Dataset, ok: &[Option<&str>], cases: &[(usize, &str, &str)]) {
        for (col, v, want) in cases {
            let mut row = ok.to_vec();
            row[*col] = Some(v);
            let got = run_csv(ds, &[&row]);
            if !want.starts_with("type@") {
                assert_eq!(got, run(ds, &[&row]), "{v:?} as CSV");
            }
            if want.is_empty() {
                assert!(got.is_empty(), "{v:?}: {got:?}");
            } else {
                assert_eq!(got.len(), 1, "{v:?}: {got:?}");
                assert!(
                    got[0].starts_with(want),
                    "{v:?}: {:?} lacks {want:?}",
                    got[0]
                );
            }
        }
    }

    #[test]
    fn value_rules_table() {
        let ds = dataset(
            "      - {name: cur, type: string, allowed: [EUR, USD]}\n      - {name: n, type: int, min: 0, max: 10, allowed: [1, 2, 3, 11, -1]}\n      - {name: x, type: float, min: 0.5}\n      - {name: d, type: date, min: 2026-01-01, max: 2026-12-31}\n      - {name: t, type: timestamp, max: \"2026-06-01T00:00:00Z\"}\n      - {name: s, type: string, pattern: \"[a-z]+\", length: {min: 2, max: 4}}\n",
            "",
        );
        let ok: &[Option<&str>] = &[
            Some("EUR"),
            Some("3"),
            Some("0.5"),
            Some("2026-01-01"),
            Some("2026-06-01T02:00:00+02:00"),
            Some("ab"),
        ];
        assert_eq!(
            run(&ds, &[ok, &[None, None, None, None, None, None]]),
            Vec::<String>::new()
        );
        let cases: &[(usize, &str, &str)] = &[
            (0, "eur", "allowed@1 cur eur | not one of the allowed values [\"EUR\", \"USD\"]"),
            (0, "EUR ", "allowed@1 cur EUR  |"),
            (1, "4", "allowed@1 n 4 |"),
            (1, "+03", ""),
            (1, "11", "max@1 n 11 | above the maximum (max 10)"),
            (1, "-1", "min@1 n -1 | below the minimum (min 0)"),
            // 19 digits and a sign are an int; 20 digits are not, whatever their value.
            (1, "+0000000000000000003", ""),
            (1, "00000000000000000003", "type@1 n 00000000000000000003 | not a valid int"),
            (2, "0.49", "min@1 x 0.49 | below the minimum (min 0.5)"),
            (2, "NaN", "min@1 x NaN | NaN is within no range (min 0.5)"),
            (2, "inf", ""),
            (2, "-inf", "min@1 x -inf |"),
            (2, "abc", "type@1 x abc | not a valid float"),
            (2, "1.5.1", "type@1 x 1.5.1 |"),
            (2, "+.5", ""),
            (2, "0.0000000000000000000000001", "min@1 x 0.0000000000000000000000001 |"),
            (2, "5e-1", ""),
            (3, "2026-02-30", "type@1 d 2026-02-30 | not a valid date"),
            (3, "2025-12-31", "min@1 d 2025-12-31 | below the minimum (min 2026-01-01)"),
            (3, "2027-01-01", "max@1 d 2027-01-01 |"),
            (4, "2026-06-01T00:00:00.000001Z", "max@1 t 2026-06-01T00:00:00.000001Z | above the maximum (max 2026-06-01T00:00:00Z)"),
            (4, "2026-06-01 01:59+02:00", ""),
            // Digits beyond microseconds are dropped, as curate drops them.
            (4, "2026-06-01T00:00:00.0000009Z", ""),
            (4, "2026-06-01T24:00:00Z", "type@1 t 2026-06-01T24:00:00Z | not a valid timestamp"),
            (5, "abcde", "length@1 s abcde | 5 characters outside the allowed length (2 to 4 characters)"),
            (5, "a", "length@1 s a |"),
            (5, "ab1", "pattern@1 s ab1 | does not match the pattern \"[a-z]+\""),
            (5, "ab\ncd", "pattern@1 s ab\\ncd |"),
            (5, "éé", "pattern@1 s éé |"),
        ];
        check_cases(&ds, ok, cases);
    }

    #[test]
    fn decimal_rules_compare_exactly() {
        let ds = dataset(
            "      - {name: amount, type: \"decimal(12,2)\", min: 0.01, max: 1000000}\n      - {name: fee, type: \"decimal(4,2)\", allowed: [0.5, 1, \"2.25\"], unique: true}\n",
            "",
        );
        let ok: &[Option<&str>] = &[Some("0.01"), Some("0.50")];
        assert_eq!(run(&ds, &[ok]), Vec::<String>::new());
        let cases: &[(usize, &str, &str)] = &[
            (0, "1000000.00", ""),
            (0, "1000000.01", "max@1 amount 1000000.01 | above the maximum (max 1000000)"),
            (0, "0.00", "min@1 amount 0.00 | below the minimum (min 0.01)"),
            // 0.01 as a double is below 0.01 exactly; as a decimal it is the bound itself.
            (0, ".01", ""),
            (0, "+5.", ""),
            (0, "-0", "min@1 amount -0 |"),
            (0, "0.001", "type@1 amount 0.001 | 3 digits after the point, decimal(12,2) allows at most 2"),
            (0, "1e3", "type@1 amount 1e3 | not a valid decimal(12,2): exponent notation"),
            (0, "12345678901", "type@1 amount 12345678901 | 11 digits before the point, decimal(12,2) allows at most 10"),
            (1, "1", ""),
            (1, "1.0", ""),
            (1, "2.25", ""),
            (1, "2.2", "allowed@1 fee 2.2 | not one of the allowed values [0.50, 1.00, 2.25]"),
        ];
        check_cases(&ds, ok, cases);
        // Equal values in other forms are one key: `1.5` is `1.50`.
        let rows: [&[Option<&str>]; 2] = [&[Some("1"), Some("0.5")], &[Some("2"), Some(".50")]];
        let got = run(&ds, &rows);
        assert_eq!(got, ["unique@2 fee .50 | duplicate of row 1 (unique)"]);
    }

    #[test]
    fn uniqueness_table() {
        let ds = dataset(
            "      - {name: id, type: int, unique: true}\n      - {name: a, type: string}\n      - {name: b, type: timestamp}\n",
            "    unique_key: [a, b]\n",
        );
        let got = run(
            &ds,
            &[
                &[Some("1"), Some("x"), Some("2026-01-01T00:00Z")],
                &[Some("01"), Some("x"), Some("2026-01-01T01:00+01:00")],
                &[None, Some("x"), None],
                &[None, Some("x"), None],
                &[Some("3"), Some("xy"), Some("2026-01-01T00:00Z")],
                &[Some("4"), Some("x"), Some("2026-01-01T00:00:00.000001Z")],
            ],
        );
        assert_eq!(
            got,
            vec![
                "unique@2 id 01 | duplicate of row 1 (unique)",
                "unique_key@2 a, b x, 2026-01-01T01:00+01:00 | duplicate of row 1 (unique_key)",
            ]
        );
    }

    /// A file's one `unique` int column takes its values from the CSV pass, which parsed them
    /// ([`RuleCheck::check_int_key`]); a row that broke a value rule takes the general path.
    /// Both give what the rules' own check gives.
    #[test]
    fn a_unique_int_column_is_checked_alike_through_csv() {
        let ds = dataset(
            "      - {name: id, type: int, unique: true}\n      - {name: s, type: string, length: {max: 3}}\n",
            "",
        );
        let rows: &[&[Option<&str>]] = &[
            &[Some("1"), Some("a")],
            &[Some("2"), Some("a")],
            &[Some("01"), Some("a")],
            &[None, Some("a")],
            &[None, Some("a")],
            &[Some("3"), Some("abcd")],
            &[Some("3"), Some("a")],
            &[Some("+0000000000000000004"), Some("a")],
            &[Some("4"), Some("a")],
            &[Some("-9223372036854775808"), Some("a")],
            &[Some("-9223372036854775808"), Some("a")],
        ];
        let want = [
            "unique@3 id 01 | duplicate of row 1 (unique)",
            "length@6 s abcd | 4 characters outside the allowed length (at most 3 characters)",
            "unique@7 id 3 | duplicate of row 6 (unique)",
            "unique@9 id 4 | duplicate of row 8 (unique)",
            "unique@11 id -9223372036854775808 | duplicate of row 10 (unique)",
        ];
        assert_eq!(run(&ds, rows), want);
        assert_eq!(run_csv(&ds, rows), want);
    }

    #[test]
    fn short_decimals_are_parsed_exactly() {
        let table: &[(&str, Option<f64>)] = &[
            ("308.11", Some(308.11)),
            ("-0.5", Some(-0.5)),
            ("+7", Some(7.0)),
            ("5.", Some(5.0)),
            (".5", Some(0.5)),
            ("-0", Some(-0.0)),
            ("9007199254740992", Some(9_007_199_254_740_992.0)),
            // Longer, or not a plain decimal: left to the general parsers.
            ("9007199254740993", None),
            ("0.00000000000000000000001", None),
            ("1e5", None),
            ("NaN", None),
            (".", None),
            ("1.2.3", None),
            ("", None),
        ];
        for (v, want) in table {
            let got = short_decimal(v.as_bytes());
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{v}");
        }
        // The word form against the byte loop: every byte value at every position of short
        // decimals of each length, with and without a point.
        for base in [
            "1", "12", ".5", "5.", "308.11", "1234.567", "12345678", "1.2.3", "..1",
        ] {
            let base = base.as_bytes();
            for pos in 0..base.len() {
                for b in 0..=255u8 {
                    let mut v = base.to_vec();
                    v[pos] = b;
                    assert_eq!(word_decimal(&v), decimal_digits(&v), "{v:?}");
                }
            }
        }
        assert_eq!(word_decimal(b""), None);
        // Against the standard parser, bit for bit, on many prices and ids.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 10u64.pow((x >> 59) as u32 % 16);
            let scale = (x >> 40) as usize % 12;
            let text = format!("{int}");
            let v = if scale > 0 && scale < text.len() {
                format!(
                    "{}.{}",
                    &text[..text.len() - scale],
                    &text[text.len() - scale..]
                )
            } else {
                text
            };
            if let Some(got) = short_decimal(v.as_bytes()) {
                assert_eq!(got.to_bits(), v.parse::<f64>().unwrap().to_bits(), "{v}");
            }
        }
    }

    #[test]
    fn uniqueness_stops_at_its_bound_and_says_so() {
        let ds = dataset(
            "      - {name: id, type: int, unique: true}\n",
            "    max_unique_keys: 3\n",
        );
        let rows_of = |vals: &[&'static str]| -> Vec<[Option<&'static str>; 1]> {
            vals.iter().map(|v| [Some(*v)]).collect()
        };
        let scattered = rows_of(&["10", "30", "20", "40", "10", "50"]);
        let rows: Vec<&[Option<&str>]> = scattered.iter().map(|r| &r[..]).collect();
        let got = run(&ds, &rows);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("unique_limit@4 id - | more than 3 distinct keys"),
            "{got:?}"
        );
        // Ids in order are a run, not entries: six of them stay exact under a bound of 3.
        let in_order = rows_of(&["1", "2", "3", "4", "5", "6", "4"]);
        let rows: Vec<&[Option<&str>]> = in_order.iter().map(|r| &r[..]).collect();
        assert_eq!(
            run(&ds, &rows),
            ["unique@7 id 4 | duplicate of row 4 (unique)"]
        );
        assert_eq!(run_csv(&ds, &rows), run(&ds, &rows));
    }

    #[test]
    fn sensitive_keys_are_not_quoted() {
        let ds = dataset(
            "      - {name: email, type: string, sensitive: true, length: {max: 3}}\n      - {name: day, type: date}\n",
            "    unique_key: [day, email]\n",
        );
        let got = run(
            &ds,
            &[
                &[Some("abc"), Some("2026-01-01")],
                &[Some("abc"), Some("2026-01-01")],
                &[Some("abcd"), Some("2026-01-02")],
            ],
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0],
            "unique_key@2 day, email - | duplicate of row 1 (unique_key) (value not shown: sensitive)"
        );
        // The value itself is hidden later by the report (column-level redaction); its length
        // is not in the message.
        assert!(
            got[1].starts_with("length@3 email abcd | length outside"),
            "{got:?}"
        );
    }

    /// Memory per tracked key, measured from the table's own capacity (slots × 17 bytes),
    /// stays within the stated bound at every size up to the limit.
    #[test]
    fn date_arithmetic_agrees_with_the_calendar() {
        let mut d = chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        let end = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        while d <= end {
            let s = d.format("%Y-%m-%d").to_string();
            assert_eq!(days(s.as_bytes()), parse_date(s.as_bytes()), "{s}");
            d += chrono::TimeDelta::days(37);
        }
        for s in [
            "2024-02-29",
            "2000-02-29",
            "1970-01-01",
            "1969-12-31",
            "9999-12-31",
        ] {
            assert_eq!(days(s.as_bytes()), parse_date(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn float_parse_agrees_with_the_standard_parser() {
        for s in [
            "0",
            "1",
            "-1.5",
            ".5",
            "5.",
            "+.5",
            "1e-3",
            "2.5E+10",
            "NaN",
            "-nan",
            "inf",
            "-Infinity",
            "+inf",
            "0.1",
            "0.30000000000000004",
            "1e308",
            "1e-320",
            "123456789012345678901234567890",
            "49.90",
            "-0.0",
        ] {
            let got = val(ColumnType::Float, Raw::Text(s.as_bytes()));
            let want: f64 = s.parse().unwrap();
            match got {
                Some(Val::Float(x)) => assert!(
                    x.to_bits() == want.to_bits() || (x.is_nan() && want.is_nan()),
                    "{s}: {x} vs {want}"
                ),
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn rows_bounds() {
        let ds = dataset(
            "      - {name: id, type: int}\n",
            "    rows: {min: 2, max: 3}\n",
        );
        let codes = |n, complete| {
            rows_problems(&ds, n, complete)
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(2, true), Vec::<String>::new());
        assert_eq!(codes(3, true), Vec::<String>::new());
        assert_eq!(
            codes(1, true),
            vec!["1 rows, fewer than the dataset minimum (rows.min 2)"]
        );
        assert_eq!(codes(1, false), Vec::<String>::new());
        assert_eq!(
            codes(4, false),
            vec!["4 rows, more than the dataset maximum (rows.max 3)"]
        );
    }
}
