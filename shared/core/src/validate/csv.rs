//! CSV and TSV: a push parser (csv-core) over a bounded buffer, so one record is the most that
//! is ever held, and a record beyond `max_record` is reported instead of buffered.
//!
//! Most lines of real files hold no quote at all, and for those csv-core's byte-at-a-time state
//! machine and its copy into the record buffer were most of the cost. So complete quote-free
//! lines already in the read buffer are split in place (64-byte bit masks of delimiters and line
//! ends, [`Hits2`]) and checked there. A line with a quote or a lone `\r`, a line cut by the
//! buffer's end, a line over the limits, and the first record go through csv-core, which gives
//! the same fields for quote-free lines. Both paths feed the same [`Rows`], so line numbers, row
//! numbers and messages never depend on the path; a differential test holds them to that.

use std::cell::Cell;
use std::io::{self, BufRead};

use csv_core::{ReadRecordResult, ReaderBuilder};

use super::rules::{Raw, RuleCheck, ValueCheck};
use super::{Problem, ProblemCode, Problems, RowSink, VALUE_SHOWN};
use crate::registry::{Dataset, ExtraColumns, HeaderRule};
use crate::text::show_bytes;
use crate::types::{has_control, is_plain, not_plain, ColumnType};

/// More fields than this in one record is reported rather than tracked.
const MAX_FIELDS: usize = 65_536;

pub(super) fn check<S: RowSink>(
    src: &mut dyn BufRead,
    ds: &Dataset,
    problems: &mut Problems,
    sink: &mut S,
) -> io::Result<u64> {
    check_with(src, ds, problems, true, sink)
}

/// [`check`], with the quote-free fast path switched off when `fast` is false: the tests hold
/// the fast path to what csv-core alone reports.
fn check_with<S: RowSink>(
    src: &mut dyn BufRead,
    ds: &Dataset,
    problems: &mut Problems,
    fast: bool,
    sink: &mut S,
) -> io::Result<u64> {
    let delimiter = ds.delimiter_byte();
    let mut rdr = ReaderBuilder::new().delimiter(delimiter).build();
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
    let rules = RuleCheck::new(ds);
    let mut st = Rows {
        rec: RecordCheck::new(ds, rules.int_key()),
        rules,
        rows: 0,
        header_pending: ds.header != HeaderRule::Absent,
        by_name: None,
    };
    let mut start_line = 1u64;
    // True between records, until the next record's first byte: see the blank-line skip below.
    let mut at_start = true;
    let mut core_has_read = false;

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
            // csv-core strips a UTF-8 BOM on its first read only, so it reads the first record.
            let fast = if fast && core_has_read {
                st.quote_free_lines(input, max_record, &mut ends, rdr.line(), problems, sink)
            } else {
                FastLines::NONE
            };
            if fast.stop {
                return Ok(st.rows);
            }
            if fast.consumed > 0 {
                src.consume(fast.consumed);
                rdr.set_line(rdr.line() + fast.lines);
                continue;
            }
            at_start = false;
            start_line = rdr.line();
        }
        let (res, nin, nout, nend) = rdr.read_record(input, &mut out[outlen..], &mut ends[nends..]);
        core_has_read = true;
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
                            row: st.next_row(),
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
                            return Ok(st.rows);
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
                            row: st.next_row(),
                            column: None,
                            value: None,
                            message: format!(
                                "more than {MAX_FIELDS} fields in one record, expected {}",
                                ds.columns.len()
                            ),
                        };
                        if problems.push(p) {
                            return Ok(st.rows);
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
                    if st.header_pending {
                        return Ok(st.rows);
                    }
                    st.rows += 1;
                } else {
                    let fields = Fields {
                        data: &out[..outlen],
                        ends: &ends[..nends],
                        sep: 0,
                    };
                    if st.record(&fields, None, start_line, problems, sink) {
                        return Ok(st.rows);
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
    if st.header_pending {
        problems.push(Problem::object(
            ProblemCode::Header,
            "no header line: the file has no records",
        ));
    }
    Ok(st.rows)
}

/// The header and row bookkeeping both parsing paths share.
struct Rows<'d> {
    rec: RecordCheck<'d>,
    /// The registry's rules beyond types, with their per-file state (uniqueness).
    rules: RuleCheck<'d>,
    /// Data rows seen so far (the header is not a row).
    rows: u64,
    header_pending: bool,
    /// `header: by_name`, when the file's columns are not the declared ones in order: how to
    /// put each record's fields in declared order.
    by_name: Option<ByName>,
}

/// A `header: by_name` file's columns as the declared ones: each record's fields are copied
/// into declared order (a missing column gets its `default`, else the dataset's first null
/// value; an allowed extra column is left out), so every check and the curate sink see the
/// declared shape.
/// A file already in declared order takes no copy.
struct ByName {
    /// Per declared column, its field in the file, or what it holds when the file lacks it
    /// (its default, or a value the dataset reads as null).
    src: Vec<Result<usize, Vec<u8>>>,
    /// Fields per record: the header's.
    width: usize,
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl ByName {
    /// Reads the header `f` against `ds`: the mapping (`None` when the file is in declared
    /// order already), or the problems that leave no rows to judge.
    fn new(ds: &Dataset, f: &Fields<'_>, line: u64) -> Result<Option<ByName>, Vec<Problem>> {
        let names: Vec<String> = (0..f.len())
            .map(|i| String::from_utf8_lossy(f.get(i)).trim().to_string())
            .collect();
        let at = |code, column: &str, message: String| Problem {
            code,
            line: Some(line),
            row: None,
            column: Some(crate::text::shorten(column, VALUE_SHOWN)),
            value: None,
            message,
        };
        let mut problems = Vec::new();
        for (i, n) in names.iter().enumerate() {
            if let Some(j) = names[..i].iter().position(|m| m == n) {
                problems.push(at(
                    ProblemCode::Header,
                    n,
                    format!(
                        "header names this column twice (columns {} and {})",
                        j + 1,
                        i + 1
                    ),
                ));
            }
        }
        let null = ds.null_values.first().map(|n| n.as_bytes().to_vec());
        let mut src = Vec::with_capacity(ds.columns.len());
        for c in ds.columns.iter() {
            let found = names.iter().position(|n| *n == c.name);
            let fill = c
                .default
                .as_ref()
                .map(|d| d.as_bytes().to_vec())
                .or_else(|| (!c.required).then(|| null.clone()).flatten());
            match (found, fill) {
                (Some(i), _) => src.push(Ok(i)),
                (None, Some(fill)) => src.push(Err(fill)),
                (None, None) => problems.push(at(
                    ProblemCode::MissingColumn,
                    &c.name,
                    if c.required {
                        "required column is not in the header".into()
                    } else {
                        "column is not in the header, and the dataset has no null value to fill it with (null_values is empty)".into()
                    },
                )),
            }
        }
        if ds.extra_columns == ExtraColumns::Reject {
            for n in &names {
                if !ds.columns.iter().any(|c| c.name == *n) {
                    problems.push(at(
                        ProblemCode::ExtraColumn,
                        n,
                        "header column not declared for this dataset (extra_columns: allow ignores it)".into(),
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let in_order = names.len() == src.len() && src.iter().enumerate().all(|(j, s)| *s == Ok(j));
        Ok((!in_order).then(|| ByName {
            src,
            width: names.len(),
            data: Vec::new(),
            ends: Vec::new(),
        }))
    }

    /// `f`'s fields in declared order (`f` has [`ByName::width`] fields).
    fn arrange(&mut self, f: &Fields<'_>) -> Fields<'_> {
        self.data.clear();
        self.ends.clear();
        for s in &self.src {
            match s {
                Ok(i) => self.data.extend_from_slice(f.get(*i)),
                Err(fill) => self.data.extend_from_slice(fill),
            }
            self.ends.push(self.data.len());
        }
        Fields {
            data: &self.data,
            ends: &self.ends,
            sep: 0,
        }
    }
}

/// What [`Rows::quote_free_lines`] got through.
struct FastLines {
    /// Bytes of the input taken, whole lines only.
    consumed: usize,
    /// Line breaks in those bytes.
    lines: u64,
    /// The problem list is full or the header is wrong: checking ends.
    stop: bool,
}

impl FastLines {
    const NONE: FastLines = FastLines {
        consumed: 0,
        lines: 0,
        stop: false,
    };
}

impl Rows<'_> {
    /// The row number the record being read will have, if it is a data row.
    fn next_row(&self) -> Option<u64> {
        (!self.header_pending).then_some(self.rows + 1)
    }

    /// Takes one complete record; a data row without problems goes on to `sink`. Returns true
    /// when checking must stop.
    fn record<S: RowSink>(
        &mut self,
        f: &Fields<'_>,
        plain: Option<bool>,
        line: u64,
        problems: &mut Problems,
        sink: &mut S,
    ) -> bool {
        if self.header_pending {
            self.header_pending = false;
            if self.rec.ds.header == HeaderRule::ByName {
                return match ByName::new(self.rec.ds, f, line) {
                    Ok(m) => {
                        self.by_name = m;
                        false
                    }
                    Err(found) => {
                        // Rows cannot be judged against columns that are not there.
                        for p in found {
                            if problems.push(p) {
                                break;
                            }
                        }
                        true
                    }
                };
            }
            if let Some(p) = header_problem(self.rec.ds, f, line) {
                // Rows cannot be judged against columns that are not there.
                problems.push(p);
                return true;
            }
            false
        } else if f.len() == 1 && f.data.is_empty() {
            false
        } else {
            let arranged;
            let (f, plain) = match self.by_name.as_mut() {
                Some(m) if f.len() != m.width => {
                    self.rows += 1;
                    let p = Problem {
                        code: ProblemCode::ColumnCount,
                        line: Some(line),
                        row: Some(self.rows),
                        column: None,
                        value: Some(show_bytes(
                            &f.joined(self.rec.ds.delimiter_byte(), VALUE_SHOWN * 4),
                            VALUE_SHOWN,
                        )),
                        message: format!("{} fields, expected {} (the header's)", f.len(), m.width),
                    };
                    return problems.push(p);
                }
                Some(m) => {
                    arranged = m.arrange(f);
                    // A subset of a plain row is plain; anything else is looked at again.
                    (&arranged, plain.filter(|&p| p))
                }
                None => (f, plain),
            };
            self.rows += 1;
            let get = |i: usize| {
                let v = f.get(i);
                (!self.rec.is_null(v)).then_some(Raw::Text(v))
            };
            if self.rec.key_col.is_some() {
                // A null key leaves this.
                self.rec.key.set(None);
            }
            match self.rec.check(f, plain, line, self.rows, problems) {
                RowCheck::Fine if self.rules.has_keys() => {
                    let (row, pos) = (Some(self.rows), self.rows);
                    let checked = match self.rec.key_col {
                        Some(_) => {
                            let key = self.rec.key.get();
                            self.rules.check_int_key(key, get, line, row, pos, problems)
                        }
                        None => self.rules.check_keys(get, line, row, pos, problems),
                    };
                    match checked {
                        (false, _) => sink.text_row(&TextRow { f, rec: &self.rec }),
                        (true, full) => full,
                    }
                }
                RowCheck::Fine => sink.text_row(&TextRow { f, rec: &self.rec }),
                RowCheck::TypesFine => {
                    match self
                        .rules
                        .check_row(get, line, Some(self.rows), self.rows, problems)
                    {
                        (false, _) => sink.text_row(&TextRow { f, rec: &self.rec }),
                        (true, full) => full,
                    }
                }
                RowCheck::Bad { full } => full,
            }
        }
    }

    /// Checks the complete lines at the start of `input` that csv-core would read as plain
    /// splits on the delimiter: no quote, no `\r` except the one of a CRLF, at most
    /// `ends.len()` fields and `max_record` bytes. Stops before the first line that is not
    /// like that, or that is not complete in `input`, and leaves it to csv-core. `line` is the
    /// line number of the first byte of `input`.
    fn quote_free_lines(
        &mut self,
        input: &[u8],
        max_record: usize,
        ends: &mut [usize],
        line: u64,
        problems: &mut Problems,
        sink: &mut impl RowSink,
    ) -> FastLines {
        let mut done = FastLines::NONE;
        let delimiter = self.rec.ds.delimiter_byte();
        // The next quote or `\r` at or after the current line: searched once per occurrence,
        // not once per line, so files without them pay one vectorised scan of each buffer.
        let special = |from: usize| {
            memchr::memchr2(b'"', b'\r', &input[from..]).map_or(input.len(), |i| from + i)
        };
        let mut next_special = special(0);
        // A quote in the very first line sends it to csv-core: in files that quote a field on
        // every line, masking that line first would be wasted work on each of them.
        if input.get(next_special) == Some(&b'"')
            && memchr::memchr(b'\n', &input[..next_special]).is_none()
        {
            return done;
        }
        let mut nends = 0;
        let mut hits = Hits2::new(input, delimiter, b'\n');
        while let Some(i) = hits.next() {
            let start = done.consumed;
            if input[i] == delimiter {
                if nends == ends.len() {
                    break;
                }
                ends[nends] = i - start;
                nends += 1;
                continue;
            }
            let mut end = i;
            if next_special < i {
                if next_special + 1 == i && input[next_special] == b'\r' {
                    end = next_special;
                    next_special = special(i + 1);
                } else {
                    break;
                }
            }
            if end - start > max_record || nends == ends.len() {
                break;
            }
            let plain = hits.line_plain(end, i + 1);
            if end > start {
                ends[nends] = end - start;
                let fields = Fields {
                    data: &input[start..end],
                    ends: &ends[..=nends],
                    sep: 1,
                };
                if self.record(&fields, Some(plain), line + done.lines, problems, sink) {
                    done.stop = true;
                    return done;
                }
            }
            nends = 0;
            done.consumed = i + 1;
            done.lines += 1;
        }
        done
    }
}

/// The positions of two bytes in a haystack, in order. Delimiters come every few bytes, where
/// memchr's per-match restart costs more than its search saves: this takes 64 bytes at a time
/// into a bit mask ([`mask64`]) and pops the set bits.
///
/// The same pass marks the bytes that are not plain text ([`crate::types::is_plain`]: a C0
/// control other than tab, or non-ASCII), so [`Hits2::line_plain`] tells for free whether a
/// line needs its UTF-8 and control-character checks.
struct Hits2<'a> {
    hay: &'a [u8],
    a: u8,
    b: u8,
    /// Start of the block `mask` covers.
    base: usize,
    /// Matches in that block not yet returned, bit `i` for `hay[base + i]`.
    mask: u64,
    /// The block's bytes that are not plain.
    odd: u64,
    /// Start of the line being read.
    line: usize,
    /// A byte of that line in an earlier block is not plain.
    odd_before: bool,
}

/// Bytes per mask of [`Hits2`]: one bit each in a `u64`.
const BLOCK: usize = 64;

impl<'a> Hits2<'a> {
    fn new(hay: &'a [u8], a: u8, b: u8) -> Self {
        let mut h = Hits2 {
            hay,
            a,
            b,
            base: 0,
            mask: 0,
            odd: 0,
            line: 0,
            odd_before: false,
        };
        (h.mask, h.odd) = h.block_masks(0);
        h
    }

    #[inline]
    fn block_masks(&self, base: usize) -> (u64, u64) {
        let Some(rest) = self.hay.get(base..) else {
            return (0, 0);
        };
        if let Some(block) = rest.first_chunk::<BLOCK>() {
            mask64(block, self.a, self.b)
        } else {
            rest.iter().enumerate().fold((0, 0), |(m, o), (i, &c)| {
                (
                    m | u64::from(c == self.a || c == self.b) << i,
                    o | u64::from(not_plain(c)) << i,
                )
            })
        }
    }

    /// Bits of the current block at positions from `from` on.
    #[inline]
    fn from(&self, from: usize) -> u64 {
        match from.checked_sub(self.base) {
            None => !0,
            Some(k) if k >= BLOCK => 0,
            Some(k) => !0 << k,
        }
    }

    /// Whether the line from the last call (or the start) up to `end`, which lies before the
    /// last position returned, is plain; the next line starts at `next`. May answer false for
    /// a plain line (a `\r` of its CRLF in an earlier block), never true for one that is not.
    #[inline]
    fn line_plain(&mut self, end: usize, next: usize) -> bool {
        let upto = match end.checked_sub(self.base) {
            // `end` is in an earlier block, whose bytes `odd_before` holds, its `\r` too.
            None => 0,
            Some(k) if k >= BLOCK => !0,
            Some(k) => (1u64 << k) - 1,
        };
        let plain = !self.odd_before && self.odd & self.from(self.line) & upto == 0;
        self.line = next;
        self.odd_before = false;
        plain
    }
}

/// Bit `i` set where `block[i]` is `a` or `b`, and where it is not plain ([`not_plain`]). On
/// x86_64, SSE2: 16-byte compares and `movemask`s.
#[cfg(target_arch = "x86_64")]
#[inline]
fn mask64(block: &[u8; BLOCK], a: u8, b: u8) -> (u64, u64) {
    // SAFETY: SSE2 is part of the x86_64 baseline; every x86_64 CPU has it.
    unsafe { mask64_sse2(block, a, b) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn mask64_sse2(block: &[u8; BLOCK], a: u8, b: u8) -> (u64, u64) {
    use std::arch::x86_64::{
        _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_set_epi64x,
    };
    let (va, vb) = (_mm_set1_epi8(a as i8), _mm_set1_epi8(b as i8));
    let (space, tab) = (_mm_set1_epi8(0x20), _mm_set1_epi8(b'\t' as i8));
    let (mut m, mut o) = (0u64, 0u64);
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        // Two little-endian words make the 16-byte vector without a raw-pointer load (the
        // compiler emits one unaligned load for it).
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&chunk[i..i + 8]);
            i64::from_le_bytes(w)
        };
        let v = _mm_set_epi64x(word(8), word(0));
        let hit = _mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb));
        m |= u64::from(_mm_movemask_epi8(hit) as u16) << (16 * k);
        // Signed, bytes from 0x80 are negative: one compare finds them and the C0 controls.
        let odd = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), _mm_cmplt_epi8(v, space));
        o |= u64::from(_mm_movemask_epi8(odd) as u16) << (16 * k);
    }
    (m, o)
}

/// [`mask64`] elsewhere (the arm64 Lambda target): SWAR, eight bytes per step, exact (no
/// carries between bytes).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn mask64(block: &[u8; BLOCK], a: u8, b: u8) -> (u64, u64) {
    mask64_swar(block, a, b)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn mask64_swar(block: &[u8; BLOCK], a: u8, b: u8) -> (u64, u64) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = !LOW7;
    const ONES: u64 = 0x0101_0101_0101_0101;
    let (pa, pb, pt) = (
        u64::from(a) * ONES,
        u64::from(b) * ONES,
        u64::from(b'\t') * ONES,
    );
    let zero_bytes = |t: u64| !(((t & LOW7) + LOW7) | t) & HIGH;
    // Gathers the eight 0x80 bits into one byte, lowest address first.
    let packed = |hits: u64| ((hits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
    let (mut m, mut o) = (0u64, 0u64);
    for (w, word) in block.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let hits = zero_bytes(x ^ pa) | zero_bytes(x ^ pb);
        m |= packed(hits) << (8 * w);
        // A byte's low seven bits plus 0x60 reach 0x80 exactly when they are 0x20 or more.
        let below_space = !((x & LOW7) + 0x6060_6060_6060_6060) & !x & HIGH;
        let odd = (x & HIGH) | (below_space & !zero_bytes(x ^ pt));
        o |= packed(odd) << (8 * w);
    }
    (m, o)
}

impl Iterator for Hits2<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            // The block's odd bytes at or after the line's start belong to the line.
            self.odd_before |= self.odd & self.from(self.line) != 0;
            self.base += BLOCK;
            if self.base >= self.hay.len() {
                return None;
            }
            (self.mask, self.odd) = self.block_masks(self.base);
        }
        let i = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(i)
    }
}

/// One record's fields: `data[start(i)..ends[i]]`, where field `i` starts `sep` bytes after the
/// end of field `i - 1`. csv-core's output holds the fields back to back (`sep` 0); a
/// quote-free line is split in place, delimiters included (`sep` 1).
struct Fields<'a> {
    data: &'a [u8],
    ends: &'a [usize],
    sep: usize,
}

impl<'a> Fields<'a> {
    fn len(&self) -> usize {
        self.ends.len()
    }
    fn get(&self, i: usize) -> &'a [u8] {
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1] + self.sep
        };
        &self.data[start..self.ends[i]]
    }

    /// The fields joined by `delim`, cut at `max` bytes: the record as a report can quote it
    /// (csv-core's buffer holds the fields back to back, which hides where they split).
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
    /// Per column, for the all-fine pass: `required`, whether control characters are
    /// refused, and the type and value rules as one check on bytes.
    plan: Vec<(bool, bool, ValueCheck<'d>)>,
    /// The `unique` int column whose values the pass parses for the uniqueness check
    /// ([`RuleCheck::int_key`]).
    key_col: Option<usize>,
    /// That column's value in the row the pass last accepted (`None`: null; set to `None`
    /// before each row, by [`Rows::record`]).
    key: Cell<Option<i64>>,
}

impl<'d> RecordCheck<'d> {
    fn new(ds: &'d Dataset, key_col: Option<usize>) -> Self {
        let only_empty_is_null = ds.null_values.len() == 1 && ds.null_values[0].is_empty();
        RecordCheck {
            ds,
            only_empty_is_null,
            plan: ds
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let check = ValueCheck::of(c, key_col == Some(i), ds.timezone.as_ref());
                    (c.refuses_null(), refuses_control(ds, c.ty), check)
                })
                .collect(),
            key_col,
            key: Cell::new(None),
        }
    }

    /// Whether every value of a row with the right field count is fine, value rules
    /// included: the common case, in one tight pass; only a row that fails it is walked again
    /// to name its problems.
    /// `plain`: the row is [`is_plain`], so no value holds a control character.
    #[inline]
    fn values_ok(&self, f: &Fields<'_>, plain: bool) -> bool {
        let mut start = 0;
        self.plan
            .iter()
            .zip(f.ends)
            .all(|((required, no_control, check), &end)| {
                let v = &f.data[start..end];
                start = end + f.sep;
                if self.is_null(v) {
                    !required
                } else {
                    check.ok(v, plain, &self.key) && !(*no_control && !plain && has_control(v))
                }
            })
    }

    #[inline]
    fn is_null(&self, v: &[u8]) -> bool {
        if self.only_empty_is_null {
            v.is_empty()
        } else {
            self.ds.null_values.iter().any(|n| n.as_bytes() == v)
        }
    }

    /// Checks one data row: fine, or with problems (and whether the list is now full).
    /// `plain`: whether the row is [`is_plain`], when the caller knows it already.
    fn check(
        &self,
        f: &Fields<'_>,
        plain: Option<bool>,
        line: u64,
        row: u64,
        problems: &mut Problems,
    ) -> RowCheck {
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
            return RowCheck::Bad {
                full: problems.push(p),
            };
        }
        let plain = plain.unwrap_or_else(|| is_plain(f.data));
        let bad_field = if plain || f.data.is_ascii() {
            None
        } else {
            match std::str::from_utf8(f.data) {
                // The fields are checked as one buffer; a character cut by a delimiter
                // (`\xC3,\xA9`) is valid there but leaves two invalid fields, so every field end
                // must also fall on a character boundary.
                Ok(text) => f.ends.iter().position(|&end| !text.is_char_boundary(end)),
                Err(e) => Some(
                    f.ends
                        .iter()
                        .position(|&end| end > e.valid_up_to())
                        .unwrap_or(0),
                ),
            }
        };
        if let Some(i) = bad_field {
            let p = at(
                Some(cols[i].name.clone()),
                ProblemCode::Encoding,
                Some(show_bytes(f.get(i), VALUE_SHOWN)),
                "not valid UTF-8".into(),
            );
            return RowCheck::Bad {
                full: problems.push(p),
            };
        }
        if self.values_ok(f, plain) {
            return RowCheck::Fine;
        }
        let mut start = 0;
        let mut bad = false;
        for (col, &end) in cols.iter().zip(f.ends) {
            let v = &f.data[start..end];
            start = end + f.sep;
            let p = if self.is_null(v) {
                if !col.refuses_null() {
                    continue;
                }
                at(
                    Some(col.name.clone()),
                    ProblemCode::Required,
                    None,
                    "required value is missing".into(),
                )
            } else if let Some(why) = self.ds.refusal(col, v) {
                at(
                    Some(col.name.clone()),
                    ProblemCode::Type,
                    Some(show_bytes(v, VALUE_SHOWN)),
                    why,
                )
            } else {
                if !(refuses_control(self.ds, col.ty) && has_control(v)) {
                    continue;
                }
                at(
                    Some(col.name.clone()),
                    ProblemCode::ControlChar,
                    Some(show_bytes(v, VALUE_SHOWN)),
                    "control character in a string value (set allow_control_chars: true to accept them)".into(),
                )
            };
            if problems.push(p) {
                return RowCheck::Bad { full: true };
            }
            bad = true;
        }
        if bad {
            RowCheck::Bad { full: false }
        } else {
            // Every type held, so a value rule failed the fast pass.
            RowCheck::TypesFine
        }
    }
}

/// Whether values of a column of type `ty` are checked for control characters: only strings
/// (every other type's syntax already excludes them), unless the dataset allows them.
pub(super) fn refuses_control(ds: &Dataset, ty: ColumnType) -> bool {
    ty == ColumnType::String && !ds.allow_control_chars
}

/// What [`RecordCheck::check`] found in one row.
enum RowCheck {
    /// Every value fits its column's type and keeps its value rules.
    Fine,
    /// Every value fits its column's type; a value rule may be broken (the rules' general
    /// path decides and names it).
    TypesFine,
    /// Problems were reported; `full` when the problem list is now full.
    Bad { full: bool },
}

/// A data row that passed every check, as a [`RowSink`] sees it.
pub struct TextRow<'a> {
    f: &'a Fields<'a>,
    rec: &'a RecordCheck<'a>,
}

impl<'a> TextRow<'a> {
    /// The value of declared column `i` (file order), or `None` when it is one of the
    /// dataset's null values. The row has exactly one value per declared column.
    #[inline]
    pub fn value(&self, i: usize) -> Option<&'a [u8]> {
        let v = self.f.get(i);
        (!self.rec.is_null(v)).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;
    use crate::registry::Registry;

    fn dataset(extra: &str) -> Dataset {
        let yaml = format!(
            "version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/{{file}}\n    format: csv\n{extra}    columns:\n      - {{name: id, type: int, required: true}}\n      - {{name: name, type: string}}\n      - {{name: amount, type: float}}\n"
        );
        let r = Registry::from_yaml(&yaml, "t.yaml").unwrap();
        r.dataset("t").unwrap().1.clone()
    }

    /// The report of one run: rows, or the error, and every problem in full.
    fn run(ds: &Dataset, data: &[u8], buf: usize, fast: bool) -> String {
        let mut problems = Problems::new(5);
        let mut src = BufReader::with_capacity(buf, data);
        let rows = check_with(&mut src, ds, &mut problems, fast, &mut super::super::NoRows);
        format!("{rows:?} {:?}", problems.list)
    }

    #[test]
    fn by_name_headers_find_columns_in_any_order() {
        let by_name = dataset("    header: by_name\n");
        let allow = dataset("    header: by_name\n    extra_columns: allow\n");
        let no_nulls = dataset("    header: by_name\n    null_values: []\n");
        let cases: &[(&Dataset, &str, &str)] = &[
            (&by_name, "id,name,amount\n1,a,1.5\n", "Ok(1) []"),
            (&by_name, "amount,id,name\n1.5,1,a\n2,2,\n", "Ok(2) []"),
            // A missing optional column is null; the rows are judged on the rest.
            (&by_name, "name,id\nb,2\n", "Ok(1) []"),
            // Values are checked against the column their header names.
            (&by_name, "amount,id\n1,x\n", "type line 2 row 1 id"),
            (&by_name, "name,amount\nb,2\n", "missing_column line 1 id: required column is not in the header"),
            (&by_name, "id,name,amount,note\n1,a,1,n\n", "extra_column line 1 note: header column not declared for this dataset"),
            (&allow, "note,id,name,amount\nn,1,a,1\n", "Ok(1) []"),
            (&by_name, "id,name,id\n1,a,1\n", "header line 1 id: header names this column twice (columns 1 and 3)"),
            (&by_name, "name,id\nb,2,3\n", "column_count line 2 row 1 -: 3 fields, expected 2 (the header's)"),
            (&no_nulls, "id,name\n1,a\n", "missing_column line 1 amount: column is not in the header, and the dataset has no null value"),
        ];
        for (ds, data, want) in cases {
            for fast in [true, false] {
                let mut problems = Problems::new(5);
                let mut src = BufReader::with_capacity(64, data.as_bytes());
                let rows = check_with(&mut src, ds, &mut problems, fast, &mut super::super::NoRows);
                let got = match problems.list.first() {
                    None => format!("{rows:?} []"),
                    Some(p) => format!(
                        "{} line {}{} {}: {}",
                        p.code,
                        p.line.unwrap_or(0),
                        p.row.map(|r| format!(" row {r}")).unwrap_or_default(),
                        p.column.as_deref().unwrap_or("-"),
                        p.message
                    ),
                };
                assert!(got.starts_with(want), "{data:?}: {got:?} lacks {want:?}");
            }
        }
    }

    /// A deterministic generator (xorshift), so a failure names a seed that reproduces it.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, xs: &[&'a [u8]]) -> &'a [u8] {
            xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    /// Files mixing everything that decides between the paths (quotes, lone and paired `\r`,
    /// blank lines, a BOM, ragged rows, bad UTF-8, long lines) must get the same report from
    /// the fast path as from csv-core alone, whatever the read buffer cuts.
    #[test]
    fn fast_path_reports_exactly_what_csv_core_reports() {
        const VALUES: &[&[u8]] = &[
            b"1",
            b"-22",
            b"x",
            b"",
            b"3.5",
            b"\"a,b\"",
            b"\"q\"\"x\"",
            b"ab\"c",
            b"\"multi\nline\"",
            b"\xc3\xa9",
            b"\xff",
            b"\xc3",
            // Longer than the 70-byte `max_record` below on its own.
            b"01234567890123456789012345678901234567890123456789012345678901234567890123456789",
        ];
        const ENDS: &[&[u8]] = &[
            b"\n",
            b"\n",
            b"\n",
            b"\r\n",
            b"\r\n",
            b"\r",
            b"\n\n",
            b"\r\n\r\n",
        ];
        let datasets = [
            dataset(""),
            dataset("    header: absent\n"),
            dataset("    size: {max_record: 70}\n"),
            dataset("    null_values: [\"\", \"NA\"]\n    delimiter: \";\"\n"),
        ];
        for seed in 1..=400u64 {
            let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let ds = &datasets[(seed % 4) as usize];
            let delim = [ds.delimiter_byte()];
            let mut data = Vec::new();
            if g.next().is_multiple_of(8) {
                data.extend_from_slice(b"\xef\xbb\xbf");
            }
            if ds.header == HeaderRule::Required {
                data.extend_from_slice(b"id");
                data.extend_from_slice(&delim);
                data.extend_from_slice(b"name");
                data.extend_from_slice(&delim);
                data.extend_from_slice(b"amount\n");
            }
            for _ in 0..(g.next() % 40) {
                let fields = if g.next().is_multiple_of(10) {
                    1 + g.next() % 5
                } else {
                    3
                };
                for f in 0..fields {
                    if f > 0 {
                        data.extend_from_slice(&delim);
                    }
                    // Mostly clean rows, so long quote-free runs reach the fast path.
                    let v = if g.next().is_multiple_of(4) {
                        g.pick(VALUES)
                    } else {
                        g.pick(&VALUES[..5])
                    };
                    data.extend_from_slice(v);
                }
                data.extend_from_slice(g.pick(ENDS));
            }
            if g.next().is_multiple_of(3) {
                data.pop();
            }
            let buf = [1, 7, 64, 300, 256 * 1024][(g.next() % 5) as usize];
            let want = run(ds, &data, buf, false);
            let got = run(ds, &data, buf, true);
            assert_eq!(
                got,
                want,
                "seed {seed}, buffer {buf}, input {:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }

    /// Both mask builders (the one this machine uses and the portable one) against a
    /// byte-by-byte reference, with every byte value in every position.
    #[test]
    fn block_masks_match_the_reference() {
        let mut g = Gen(11);
        for round in 0..2000 {
            let mut block = [0u8; BLOCK];
            for b in &mut block {
                *b = if round % 2 == 0 {
                    g.next() as u8
                } else {
                    b",\n\xac\x0a\x2c\t\x1f\x20\x7f\x80"[(g.next() % 10) as usize]
                };
            }
            let (a, b) = if round % 3 == 0 {
                (g.next() as u8, g.next() as u8)
            } else {
                (b',', b'\n')
            };
            let want = block
                .iter()
                .enumerate()
                .fold((0u64, 0u64), |(m, o), (i, &c)| {
                    (
                        m | (u64::from(c == a || c == b) << i),
                        o | (u64::from(not_plain(c)) << i),
                    )
                });
            assert_eq!(mask64(&block, a, b), want, "round {round}");
            assert_eq!(mask64_swar(&block, a, b), want, "round {round}");
        }
    }

    /// `line_plain` says what `is_plain` says of every line, wherever its odd bytes fall
    /// among the blocks (lines here have no `\r`, so it may not answer false for a plain one).
    #[test]
    fn line_plain_agrees_with_is_plain() {
        let mut g = Gen(5);
        for round in 0..300 {
            let len = (g.next() % 400) as usize;
            let odd_rate = 1 + round % 40;
            let hay: Vec<u8> = (0..len)
                .map(|_| {
                    let r = g.next();
                    if r.is_multiple_of(odd_rate as u64) {
                        b"\x01\x1f\xc3\x80\x00"[(r / 64 % 5) as usize]
                    } else {
                        b"ab,\n\tc   "[(r / 64 % 9) as usize]
                    }
                })
                .collect();
            let mut hits = Hits2::new(&hay, b',', b'\n');
            let mut start = 0;
            while let Some(i) = hits.next() {
                if hay[i] != b'\n' {
                    continue;
                }
                let line = &hay[start..i];
                assert_eq!(
                    hits.line_plain(i, i + 1),
                    crate::types::is_plain(line),
                    "round {round}: {line:?} at {start}"
                );
                start = i + 1;
            }
        }
    }

    #[test]
    fn hits2_finds_every_match_across_blocks() {
        let mut g = Gen(7);
        for len in [0, 1, 63, 64, 65, 127, 128, 129, 1000] {
            let hay: Vec<u8> = (0..len)
                .map(|_| b"ab,\nc"[(g.next() % 5) as usize])
                .collect();
            let want: Vec<usize> = memchr::memchr2_iter(b',', b'\n', &hay).collect();
            assert_eq!(
                Hits2::new(&hay, b',', b'\n').collect::<Vec<_>>(),
                want,
                "{len}"
            );
        }
    }

    #[test]
    fn fast_path_numbers_lines_and_rows() {
        let ds = dataset("");
        let data = b"id,name,amount\n1,a,1.5\n\n2,\"b,c\",x\r\n3,d,2\nz,e,3\n";
        let report = run(&ds, data, 1 << 16, true);
        assert!(report.starts_with("Ok(4)"), "{report}");
        assert!(
            report.contains("line: Some(4), row: Some(2), column: Some(\"amount\")"),
            "{report}"
        );
        assert!(
            report.contains("line: Some(6), row: Some(4), column: Some(\"id\")"),
            "{report}"
        );
    }
}
