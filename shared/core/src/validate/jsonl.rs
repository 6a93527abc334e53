//! JSON Lines: one object per line, declared fields present and typed. Lines are read with a
//! bound, so one endless line costs `max_record` bytes of memory, not the whole file.

use std::collections::HashSet;
use std::io::{self, BufRead};

use serde_json::Value;

use super::rules::{Raw, RuleCheck};
use super::{Problem, ProblemCode, Problems, RowSink, VALUE_SHOWN};
use crate::registry::{Dataset, ExtraColumns};
use crate::text::{shorten, show_bytes};
use crate::types::{has_control, is_date, is_timestamp, json_decimal, ColumnType};

enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads one line into `buf` (without the newline), or discards it when longer than `max`.
fn read_line(src: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = src.fill_buf()?;
        if avail.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::Eof,
                (true, true) => Line::TooLong,
                (true, false) => Line::Complete,
            });
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                // Keep a prefix to quote in the report.
                let keep = (VALUE_SHOWN * 4).saturating_sub(buf.len()).min(chunk.len());
                buf.extend_from_slice(&chunk[..keep]);
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(avail.len());
        src.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

pub(super) fn check<S: RowSink>(
    src: &mut dyn BufRead,
    ds: &Dataset,
    problems: &mut Problems,
    sink: &mut S,
) -> io::Result<u64> {
    let max = usize::try_from(ds.size.max_record.0).unwrap_or(usize::MAX);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut line_no = 0u64;
    let mut rows = 0u64;
    let mut reported_extra: HashSet<String> = HashSet::new();
    let mut rules = RuleCheck::new(ds);
    loop {
        let kind = read_line(src, &mut buf, max)?;
        line_no += 1;
        let mut line = buf.as_slice();
        if line_no == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        let at = |code, column: Option<String>, value: Option<String>, message: String| Problem {
            code,
            line: Some(line_no),
            row: None,
            column,
            value,
            message,
        };
        match kind {
            Line::Eof => break,
            Line::TooLong => {
                let p = at(
                    ProblemCode::RecordTooLong,
                    None,
                    Some(show_bytes(line, VALUE_SHOWN)),
                    format!(
                        "line longer than the dataset limit of {}",
                        ds.size.max_record
                    ),
                );
                if problems.push(p) {
                    break;
                }
                continue;
            }
            Line::Complete => {}
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        rows += 1;
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                let code = if e.is_syntax() && std::str::from_utf8(line).is_err() {
                    ProblemCode::Encoding
                } else {
                    ProblemCode::Json
                };
                // serde_json says "at line 1 column N" of the one line it saw: keep the column.
                let text = e.to_string();
                let words = text
                    .rsplit_once(" at line ")
                    .map_or(text.as_str(), |(w, _)| w);
                let msg = format!("invalid JSON at column {}: {words}", e.column());
                if problems.push(at(code, None, Some(show_bytes(line, VALUE_SHOWN)), msg)) {
                    break;
                }
                continue;
            }
        };
        let Value::Object(obj) = value else {
            let kind = json_kind(&value);
            let msg = format!("expected a JSON object, found {kind}");
            if problems.push(at(
                ProblemCode::NotObject,
                None,
                Some(show_bytes(line, VALUE_SHOWN)),
                msg,
            )) {
                break;
            }
            continue;
        };
        let mut full = false;
        let mut bad = false;
        for col in ds.columns.iter() {
            let p = match obj.get(&col.name) {
                None | Some(Value::Null) if col.refuses_null() => {
                    let what = if obj.contains_key(&col.name) {
                        "is null"
                    } else {
                        "is missing"
                    };
                    at(
                        ProblemCode::Required,
                        Some(col.name.clone()),
                        None,
                        format!("required field {what}"),
                    )
                }
                None | Some(Value::Null) => continue,
                // After unescaping: "\u0000" is a NUL like a raw one would be.
                Some(Value::String(s))
                    if super::csv::refuses_control(ds, col.ty) && has_control(s.as_bytes()) =>
                {
                    at(
                        ProblemCode::ControlChar,
                        Some(col.name.clone()),
                        Some(show_bytes(s.as_bytes(), VALUE_SHOWN)),
                        "control character in a string value (set allow_control_chars: true to accept them)".into(),
                    )
                }
                Some(v) if json_type_ok(col.ty, v) => match (v, &ds.timezone) {
                    // A local time the dataset's zone skips or repeats.
                    (Value::String(s), Some(_)) if col.ty == ColumnType::Timestamp => {
                        match ds.refusal(col, s.as_bytes()) {
                            None => continue,
                            Some(why) => at(
                                ProblemCode::Type,
                                Some(col.name.clone()),
                                Some(shorten(s, VALUE_SHOWN)),
                                why,
                            ),
                        }
                    }
                    _ => continue,
                },
                Some(v) if matches!(col.ty, ColumnType::Decimal { .. }) => at(
                    ProblemCode::Type,
                    Some(col.name.clone()),
                    Some(match v {
                        Value::String(s) => shorten(s, VALUE_SHOWN),
                        other => shorten(&other.to_string(), VALUE_SHOWN),
                    }),
                    decimal_refusal(col.ty, v),
                ),
                Some(v) => at(
                    ProblemCode::Type,
                    Some(col.name.clone()),
                    // A string is shown as its text: the report quotes values itself.
                    Some(match v {
                        Value::String(s) => shorten(s, VALUE_SHOWN),
                        other => shorten(&other.to_string(), VALUE_SHOWN),
                    }),
                    format!("not a valid {} (found {})", col.ty, json_kind(v)),
                ),
            };
            bad = true;
            if problems.push(p) {
                full = true;
                break;
            }
        }
        if !full && ds.extra_columns == ExtraColumns::Reject {
            for k in obj.keys() {
                if ds.columns.iter().any(|c| &c.name == k) {
                    continue;
                }
                // An undeclared field condemns every row it is in, even when it is reported
                // only once: no row with it may be curated.
                bad = true;
                if reported_extra.insert(k.clone()) {
                    let p = at(
                        ProblemCode::ExtraColumn,
                        Some(shorten(k, VALUE_SHOWN)),
                        None,
                        "field not declared for this dataset (first occurrence)".into(),
                    );
                    if problems.push(p) {
                        full = true;
                        break;
                    }
                }
            }
        }
        if !full && !bad && rules.active {
            let get = |i: usize| {
                obj.get(&ds.columns[i].name)
                    .filter(|v| !v.is_null())
                    .map(Raw::Json)
            };
            (bad, full) = rules.check_row(get, line_no, None, line_no, problems);
        }
        if full || (!bad && sink.json_row(&obj)) {
            break;
        }
    }
    Ok(rows)
}

fn json_type_ok(ty: ColumnType, v: &Value) -> bool {
    match (ty, v) {
        (ColumnType::String, Value::String(_)) => true,
        (ColumnType::Int, Value::Number(n)) => n.is_i64(),
        (ColumnType::Float, Value::Number(_)) => true,
        (ColumnType::Bool, Value::Bool(_)) => true,
        (ColumnType::Date, Value::String(s)) => is_date(s.as_bytes()),
        (ColumnType::Timestamp, Value::String(s)) => is_timestamp(s.as_bytes()),
        (ColumnType::Decimal { precision, scale }, v) => json_decimal(v, precision, scale).is_ok(),
        (ColumnType::Json, Value::Object(_) | Value::Array(_)) => true,
        _ => false,
    }
}

/// Why `v` is not a value of the decimal type `ty`.
#[cold]
fn decimal_refusal(ty: ColumnType, v: &Value) -> String {
    let ColumnType::Decimal { precision, scale } = ty else {
        return format!("not a valid {ty}");
    };
    match (v, json_decimal(v, precision, scale)) {
        (Value::String(_) | Value::Number(_), Err(e)) => e.describe(ty),
        _ => format!("not a valid {ty} (found {})", json_kind(v)),
    }
}

/// "a string", "a number", … for messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Object(_) => "an object",
        Value::Null => "null",
    }
}
