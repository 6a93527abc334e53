//! CSV and TSV: a push parser (csv-core) over a bounded buffer, so one record is the most that
//! is ever held, and a record beyond `max_record` is reported instead of buffered.

use std::io::{self, BufRead};

use csv_core::{ReadRecordResult, ReaderBuilder};

use super::{Problem, ProblemCode, Problems, VALUE_SHOWN};
use crate::registry::{Dataset, HeaderRule};
use crate::text::show_bytes;

/// More fields than this in one record is reported rather than tracked.
const MAX_FIELDS: usize = 65_536;

pub(super) fn check(
    src: &mut dyn BufRead,
    ds: &Dataset,
    problems: &mut Problems,
) -> io::Result<u64> {
    let mut rdr = ReaderBuilder::new().delimiter(ds.delimiter_byte()).build();
    let max_record = usize::try_from(ds.size.max_record.0)
        .unwrap_or(usize::MAX)
        .max(64);
    // Never start above the limit: a record is only reported once it fills the buffer, so a
    // 64 KiB start would let records up to 64 KiB pass a smaller `max_record`.
    let mut out = vec![0u8; max_record.min(64 * 1024)];
    let mut outlen = 0;
    let mut ends = vec![0usize; ds.columns.len() + 4];
    let mut nends = 0;
    let mut skipping = false;
    let mut header_pending = ds.header == HeaderRule::Required;
    let mut start_line = 1u64;
    // True between records, until the next record's first byte: see the blank-line skip below.
    let mut at_start = true;
    let mut rows = 0u64;
    let rec = RecordCheck::new(ds);

    loop {
        let input = src.fill_buf()?;
        if at_start && !input.is_empty() {
            // csv-core ends a record on its terminator byte (`\r` of a CRLF leaves the `\n`
            // pending) and silently skips blank lines, so `rdr.line()` after a record is not the
            // next record's line. Skipping the line breaks here and reading `rdr.line()` at the
            // record's first byte gives the line where the record starts.
            let blank = input
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if blank > 0 {
                let newlines = memchr::memchr_iter(b'\n', &input[..blank]).count() as u64;
                src.consume(blank);
                rdr.set_line(rdr.line() + newlines);
                continue;
            }
            at_start = false;
            start_line = rdr.line();
        }
        let (res, nin, nout, nend) = rdr.read_record(input, &mut out[outlen..], &mut ends[nends..]);
        src.consume(nin);
        outlen += nout;
        nends += nend;
        match res {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => {
                if out.len() >= max_record {
                    if !skipping {
                        skipping = true;
                        let p = Problem {
                            code: ProblemCode::RecordTooLong,
                            line: Some(start_line),
                            row: (!header_pending).then_some(rows + 1),
                            column: None,
                            value: Some(show_bytes(
                                &out[..outlen.min(VALUE_SHOWN * 4)],
                                VALUE_SHOWN,
                            )),
                            message: format!(
                                "record longer than the dataset limit of {}",
                                ds.size.max_record
                            ),
                        };
                        if problems.push(p) {
                            return Ok(rows);
                        }
                    }
                    // Keep parsing to find the record's end, discarding what it holds.
                    outlen = 0;
                    nends = 0;
                } else {
                    let n = (out.len() * 2).min(max_record);
                    out.resize(n, 0);
                }
            }
            ReadRecordResult::OutputEndsFull => {
                if ends.len() >= MAX_FIELDS {
                    if !skipping {
                        skipping = true;
                        let p = Problem {
                            code: ProblemCode::ColumnCount,
                            line: Some(start_line),
                            row: (!header_pending).then_some(rows + 1),
                            column: None,
                            value: None,
                            message: format!(
                                "more than {MAX_FIELDS} fields in one record, expected {}",
                                ds.columns.len()
                            ),
                        };
                        if problems.push(p) {
                            return Ok(rows);
                        }
                    }
                    outlen = 0;
                    nends = 0;
                } else {
                    ends.resize(ends.len() * 2, 0);
                }
            }
            ReadRecordResult::Record => {
                if skipping {
                    // The record was reported when it overflowed. It still takes a row number,
                    // so later problems name the right row; a header that long leaves no
                    // columns to judge rows against.
                    if header_pending {
                        return Ok(rows);
                    }
                    rows += 1;
                } else {
                    let fields = Fields {
                        data: &out[..outlen],
                        ends: &ends[..nends],
                    };
                    if header_pending {
                        header_pending = false;
                        if let Some(p) = header_problem(ds, &fields, start_line) {
                            // Rows cannot be judged against columns that are not there.
                            problems.push(p);
                            return Ok(rows);
                        }
                    } else if !(nends == 1 && outlen == 0) {
                        rows += 1;
                        if rec.check(&fields, start_line, rows, problems) {
                            return Ok(rows);
                        }
                    }
                }
                skipping = false;
                outlen = 0;
                nends = 0;
                at_start = true;
            }
            ReadRecordResult::End => break,
        }
    }
    if header_pending {
        problems.push(Problem::object(
            ProblemCode::Header,
            "no header line: the file has no records",
        ));
    }
    Ok(rows)
}

struct Fields<'a> {
    data: &'a [u8],
    ends: &'a [usize],
}

impl<'a> Fields<'a> {
    fn len(&self) -> usize {
        self.ends.len()
    }
    fn get(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    /// The fields joined by `delim`, cut at `max` bytes: the record as a report can quote it
    /// (the parser's buffer holds the fields back to back, which hides where they split).
    fn joined(&self, delim: u8, max: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(max.min(self.data.len() + self.len()));
        for i in 0..self.len() {
            if out.len() >= max {
                break;
            }
            if i > 0 {
                out.push(delim);
            }
            out.extend_from_slice(self.get(i));
        }
        out.truncate(max);
        out
    }
}

fn header_problem(ds: &Dataset, f: &Fields<'_>, line: u64) -> Option<Problem> {
    let found: Vec<String> = (0..f.len())
        .map(|i| String::from_utf8_lossy(f.get(i)).trim().to_string())
        .collect();
    let expected: Vec<&str> = ds.columns.iter().map(|c| c.name.as_str()).collect();
    if found
        .iter()
        .map(String::as_str)
        .eq(expected.iter().copied())
    {
        return None;
    }
    let message = if found.len() != expected.len() {
        format!(
            "header has {} columns, expected {}: found [{}], expected [{}]",
            found.len(),
            expected.len(),
            crate::text::shorten(&found.join(", "), 200),
            expected.join(", ")
        )
    } else {
        let i = found
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        format!(
            "header column {} is {:?}, expected {:?} (expected [{}])",
            i + 1,
            crate::text::shorten(&found[i], VALUE_SHOWN),
            expected[i],
            expected.join(", ")
        )
    };
    Some(Problem {
        code: ProblemCode::Header,
        line: Some(line),
        row: None,
        column: None,
        value: None,
        message,
    })
}

/// Per-row checks with the dataset's rules resolved once.
struct RecordCheck<'d> {
    ds: &'d Dataset,
    /// The common case `null_values: [""]`, checked without a loop.
    only_empty_is_null: bool,
}

impl<'d> RecordCheck<'d> {
    fn new(ds: &'d Dataset) -> Self {
        let only_empty_is_null = ds.null_values.len() == 1 && ds.null_values[0].is_empty();
        RecordCheck {
            ds,
            only_empty_is_null,
        }
    }

    fn is_null(&self, v: &[u8]) -> bool {
        if self.only_empty_is_null {
            v.is_empty()
        } else {
            self.ds.null_values.iter().any(|n| n.as_bytes() == v)
        }
    }

    /// Checks one data row; returns true when the problem list is full.
    fn check(&self, f: &Fields<'_>, line: u64, row: u64, problems: &mut Problems) -> bool {
        let cols = &self.ds.columns;
        let at = |column: Option<String>, code, value: Option<String>, message: String| Problem {
            code,
            line: Some(line),
            row: Some(row),
            column,
            value,
            message,
        };
        if f.len() != cols.len() {
            let p = at(
                None,
                ProblemCode::ColumnCount,
                Some(show_bytes(
                    &f.joined(self.ds.delimiter_byte(), VALUE_SHOWN * 4),
                    VALUE_SHOWN,
                )),
                format!("{} fields, expected {}", f.len(), cols.len()),
            );
            return problems.push(p);
        }
        let bad_field = match std::str::from_utf8(f.data) {
            // The fields are checked as one buffer; a character cut by a delimiter (`\xC3,\xA9`)
            // is valid there but leaves two invalid fields, so every field end must also fall
            // on a character boundary.
            Ok(text) => f.ends.iter().position(|&end| !text.is_char_boundary(end)),
            Err(e) => Some(
                f.ends
                    .iter()
                    .position(|&end| end > e.valid_up_to())
                    .unwrap_or(0),
            ),
        };
        if let Some(i) = bad_field {
            let p = at(
                Some(cols[i].name.clone()),
                ProblemCode::Encoding,
                Some(show_bytes(f.get(i), VALUE_SHOWN)),
                "not valid UTF-8".into(),
            );
            return problems.push(p);
        }
        for (i, col) in cols.iter().enumerate() {
            let v = f.get(i);
            let p = if self.is_null(v) {
                if !col.required {
                    continue;
                }
                at(
                    Some(col.name.clone()),
                    ProblemCode::Required,
                    None,
                    "required value is missing".into(),
                )
            } else if col.ty.accepts(v) {
                continue;
            } else {
                at(
                    Some(col.name.clone()),
                    ProblemCode::Type,
                    Some(show_bytes(v, VALUE_SHOWN)),
                    format!("not a valid {}", col.ty.as_str()),
                )
            };
            if problems.push(p) {
                return true;
            }
        }
        false
    }
}
