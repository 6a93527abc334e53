//! The rows of a quarantined text file (CSV, TSV, JSON Lines) that an erase filter matches,
//! found from its bytes fed in chunks, in memory of one field or one line.
//!
//! A quarantined file was refused, often because it does not parse as its dataset says, so the
//! match does not rely on its columns: a CSV/TSV row matches when, for every condition, one of
//! its fields equals one of the condition's values (surrounding spaces ignored); a JSON Lines
//! line that is an object matches by its keys, and a line that does not parse when every
//! condition's value appears in it as a JSON token. So a match is a row that holds the values,
//! wherever a broken file put them.

use super::{Condition, Literal};

/// A JSON line longer than this is not checked (counted in [`Scanned::unchecked`]).
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// What a scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scanned {
    /// Rows (records or lines) read.
    pub rows: u64,
    /// Rows the filter matches.
    pub matched: u64,
    /// Lines too long to check ([`MAX_LINE_BYTES`]).
    pub unchecked: u64,
}

/// One condition's column and values as texts.
struct Wanted {
    column: String,
    texts: Vec<String>,
}

enum Kind {
    Delimited {
        reader: Box<csv_core::Reader>,
        /// The current field's bytes, up to the longest value plus room for spaces (a longer
        /// field cannot equal any value).
        field: Vec<u8>,
        len: usize,
        too_long: bool,
        /// Per condition: whether a field of the current record equals one of its values.
        seen: Vec<bool>,
    },
    Lines {
        line: Vec<u8>,
        too_long: bool,
    },
}

/// A scan in progress: feed it with [`RowScan::push`], end it with [`RowScan::finish`].
pub struct RowScan {
    wanted: Vec<Wanted>,
    kind: Kind,
    out: Scanned,
}

impl RowScan {
    /// A scan for `conds` of a CSV/TSV file with `delimiter`, or of JSON Lines (`None`).
    pub fn new(conds: &[Condition], delimiter: Option<u8>) -> RowScan {
        let wanted: Vec<Wanted> = conds
            .iter()
            .map(|c| Wanted {
                column: c.column.clone(),
                texts: c.values.iter().map(Literal::as_text).collect(),
            })
            .collect();
        let longest = wanted
            .iter()
            .flat_map(|w| w.texts.iter().map(|t| t.len()))
            .max()
            .unwrap_or(0);
        let kind = match delimiter {
            Some(d) => Kind::Delimited {
                reader: Box::new(csv_core::ReaderBuilder::new().delimiter(d).build()),
                field: vec![0; longest + 64],
                len: 0,
                too_long: false,
                seen: vec![false; wanted.len()],
            },
            None => Kind::Lines {
                line: Vec::new(),
                too_long: false,
            },
        };
        RowScan {
            wanted,
            kind,
            out: Scanned::default(),
        }
    }

    /// Feeds the next bytes of the file.
    pub fn push(&mut self, input: &[u8]) {
        match &mut self.kind {
            Kind::Delimited { .. } => self.push_delimited(input),
            Kind::Lines { .. } => {
                for part in input.split_inclusive(|b| *b == b'\n') {
                    self.push_line_part(part);
                }
            }
        }
    }

    /// Ends the file: its last row, without a final newline, counts too.
    pub fn finish(mut self) -> Scanned {
        match &mut self.kind {
            Kind::Delimited { .. } => self.push_delimited(&[]),
            Kind::Lines { line, too_long } => {
                if !line.is_empty() || *too_long {
                    self.end_line();
                }
            }
        }
        self.out
    }

    fn push_delimited(&mut self, mut input: &[u8]) {
        let Kind::Delimited {
            reader,
            field,
            len,
            too_long,
            seen,
        } = &mut self.kind
        else {
            unreachable!("a delimited scan")
        };
        let at_end = input.is_empty();
        loop {
            // csv-core reads an empty input as the end of the file: only at the end.
            if input.is_empty() && !at_end {
                return;
            }
            let (res, nin, nout) = reader.read_field(input, &mut field[*len..]);
            input = &input[nin..];
            *len += nout;
            match res {
                csv_core::ReadFieldResult::InputEmpty => {}
                csv_core::ReadFieldResult::OutputFull => {
                    // Longer than any value: it cannot match; read past it, keep nothing.
                    *too_long = true;
                    *len = 0;
                }
                csv_core::ReadFieldResult::Field { record_end } => {
                    if !*too_long {
                        let text = String::from_utf8_lossy(&field[..*len]);
                        let text = text.trim();
                        for (w, s) in self.wanted.iter().zip(seen.iter_mut()) {
                            *s |= w.texts.iter().any(|t| t == text);
                        }
                    }
                    *len = 0;
                    *too_long = false;
                    if record_end {
                        self.out.rows += 1;
                        if seen.iter().all(|s| *s) {
                            self.out.matched += 1;
                        }
                        seen.iter_mut().for_each(|s| *s = false);
                    }
                }
                csv_core::ReadFieldResult::End => return,
            }
        }
    }

    fn push_line_part(&mut self, part: &[u8]) {
        let Kind::Lines { line, too_long } = &mut self.kind else {
            unreachable!("a line scan")
        };
        if !*too_long {
            if line.len() + part.len() > MAX_LINE_BYTES {
                *too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(part);
            }
        }
        if part.ends_with(b"\n") {
            self.end_line();
        }
    }

    fn end_line(&mut self) {
        let Kind::Lines { line, too_long } = &mut self.kind else {
            unreachable!("a line scan")
        };
        if *too_long {
            self.out.rows += 1;
            self.out.unchecked += 1;
        } else {
            let text = String::from_utf8_lossy(line);
            let text = text.trim();
            if !text.is_empty() {
                self.out.rows += 1;
                if line_matches(&self.wanted, text) {
                    self.out.matched += 1;
                }
            }
        }
        line.clear();
        *too_long = false;
    }
}

/// Whether a JSON line holds the wanted values: by key when it is an object, else as tokens.
fn line_matches(wanted: &[Wanted], line: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(m)) => wanted.iter().all(|w| {
            m.get(&w.column)
                .is_some_and(|v| w.texts.iter().any(|t| json_equals(v, t)))
        }),
        _ => wanted
            .iter()
            .all(|w| w.texts.iter().any(|t| has_token(line, t))),
    }
}

/// A JSON value equal to a literal's text: a string as it is, a number or a bool by its text
/// (numbers also by value, so `42` matches `42.0`).
fn json_equals(v: &serde_json::Value, text: &str) -> bool {
    match v {
        serde_json::Value::String(s) => s == text,
        serde_json::Value::Number(n) => {
            n.to_string() == text
                || matches!((n.as_f64(), text.parse::<f64>()), (Some(a), Ok(b)) if a == b)
        }
        serde_json::Value::Bool(b) => text.eq_ignore_ascii_case(&b.to_string()),
        _ => false,
    }
}

/// Whether `text` appears in a broken JSON line as a token: quoted (a string), or bare with no
/// letter, digit, `.`, `_`, `+` or `-` next to it (a number or a bool).
fn has_token(line: &str, text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    if line.contains(&quoted) {
        return true;
    }
    let word = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
    line.match_indices(text).any(|(i, m)| {
        let before = line[..i].chars().next_back();
        let after = line[i + m.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erase::parse_where;

    fn scan(filter: &str, delimiter: Option<u8>, data: &[u8], chunk: usize) -> Scanned {
        let mut s = RowScan::new(&parse_where(filter).unwrap(), delimiter);
        for c in data.chunks(chunk.max(1)) {
            s.push(c);
        }
        s.finish()
    }

    #[test]
    fn delimited_rows_match_by_whole_fields_wherever_they_are() {
        let long = format!("{},a@x.io\n", "z".repeat(100_000));
        // (filter, delimiter, file, rows, matched): every chunking gives the same answer.
        let cases: &[(&str, u8, &str, u64, u64)] = &[
            (
                "email = 'a@x.io'",
                b',',
                "id,email\n1,a@x.io\n2,b@x.io\n",
                3,
                1,
            ),
            // A field holding more than the value does not match; spaces around it do.
            ("email = 'a@x.io'", b',', "1,a@x.io.uk\n2, a@x.io \n", 2, 1),
            // A shifted column (the file is broken) still matches.
            ("email = 'a@x.io'", b',', "1,,,a@x.io,extra\n", 1, 1),
            // Quoted fields, a quoted newline, no final newline.
            (
                "email IN ('a@x.io', 'c@x.io')",
                b',',
                "1,\"a@x.io\"\n2,\"multi\nline\"\n3,c@x.io",
                3,
                2,
            ),
            // AND: both values in the same row.
            (
                "id = 1 AND email = 'a@x.io'",
                b',',
                "1,a@x.io\n2,a@x.io\n1,b@x.io\n",
                3,
                1,
            ),
            ("id = 7", b'\t', "7\tx\n17\ty\n", 2, 1),
            // A very long field is read past, not kept.
            ("email = 'a@x.io'", b',', &long, 1, 1),
        ];
        for (filter, d, file, rows, matched) in cases {
            for chunk in [1, 3, 1 << 20] {
                let got = scan(filter, Some(*d), file.as_bytes(), chunk);
                assert_eq!(
                    (got.rows, got.matched),
                    (*rows, *matched),
                    "{filter} in {:?} by {chunk}",
                    &file[..file.len().min(60)]
                );
            }
        }
    }

    #[test]
    fn json_lines_match_by_key_or_by_token_when_broken() {
        // (filter, file, rows, matched).
        let cases: &[(&str, &str, u64, u64)] = &[
            (
                "email = 'a@x.io'",
                "{\"email\":\"a@x.io\"}\n{\"email\":\"b@x.io\"}\n",
                2,
                1,
            ),
            // By key: the value under another key does not match.
            ("email = 'a@x.io'", "{\"other\":\"a@x.io\"}\n", 1, 0),
            // Numbers by value; a string of digits is a string.
            (
                "id = 42",
                "{\"id\":42}\n{\"id\":42.0}\n{\"id\":420}\n{\"id\":\"42\"}\n",
                4,
                3,
            ),
            ("ok = true", "{\"ok\":true}\n{\"ok\":false}\n", 2, 1),
            // A broken line: the value as a token, not inside another.
            (
                "email = 'a@x.io'",
                "{\"email\":\"a@x.io\",\n{\"email\":\"aa@x.io\",\n",
                2,
                1,
            ),
            (
                "id = 42",
                "{\"id\":42,,\n{\"id\":142,,\n{\"id\":42.5,,\n",
                3,
                1,
            ),
            // Blank lines are no rows; no final newline.
            ("id = 1", "\n{\"id\":1}\n\n{\"id\":1}", 2, 2),
        ];
        for (filter, file, rows, matched) in cases {
            for chunk in [1, 5, 1 << 20] {
                let got = scan(filter, None, file.as_bytes(), chunk);
                let want = Scanned {
                    rows: *rows,
                    matched: *matched,
                    unchecked: 0,
                };
                assert_eq!(got, want, "{filter} in {file:?} by {chunk}");
            }
        }
    }
}
