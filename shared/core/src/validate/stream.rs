//! Plumbing between the source and a format checker: byte counting, transparent gzip with a
//! decompression limit, and telling source failures apart from bad data.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;

use super::{Problem, ProblemCode, Problems, SourceError};
use crate::registry::Dataset;

/// Read buffer between the source and the checker. Large enough that per-call overhead
/// vanishes, small enough to be irrelevant for the 64 MiB budget.
const BUF: usize = 256 * 1024;

#[derive(Default)]
struct Meter {
    raw: Cell<u64>,
    decoded: Cell<u64>,
    source_failed: Cell<bool>,
    limit_hit: Cell<bool>,
}

/// Counts bytes from the source and remembers whether an error came from it.
struct SourceTap<'m, R> {
    inner: R,
    m: &'m Meter,
}

impl<R: Read> Read for SourceTap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.m.raw.set(self.m.raw.get() + n as u64);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.m.source_failed.set(true);
                Err(e)
            }
        }
    }
}

/// Counts decompressed bytes and stops at the dataset's limit.
struct LimitTap<'m, R> {
    inner: R,
    m: &'m Meter,
    limit: u64,
}

impl<R: Read> Read for LimitTap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.m.decoded.get() + n as u64;
        self.m.decoded.set(total);
        if total > self.limit {
            self.m.limit_hit.set(true);
            return Err(io::Error::other("decompressed size limit reached"));
        }
        Ok(n)
    }
}

/// Runs `check` over the (decompressed) content and returns (rows, bytes read from the source).
///
/// An error from the source becomes `Err(SourceError)`; any other read error (corrupt gzip,
/// the decompression limit) becomes a problem of the file.
pub(super) fn run<R, F>(
    dataset: &Dataset,
    key: &str,
    source: R,
    problems: &mut Problems,
    check: F,
) -> Result<(u64, u64), SourceError>
where
    R: Read,
    F: FnOnce(&mut dyn BufRead, &mut Problems) -> io::Result<u64>,
{
    let meter = Meter::default();
    let tap = SourceTap {
        inner: source,
        m: &meter,
    };
    let gzip = dataset.is_gzip(key);
    let result = if gzip {
        let dec = MultiGzDecoder::new(BufReader::with_capacity(BUF, tap));
        let limited = LimitTap {
            inner: dec,
            m: &meter,
            limit: dataset.size.max_decompressed.0,
        };
        check(&mut BufReader::with_capacity(BUF, limited), problems)
    } else {
        check(&mut BufReader::with_capacity(BUF, tap), problems)
    };
    let raw = meter.raw.get();
    match result {
        Ok(rows) => Ok((rows, raw)),
        Err(source) if meter.source_failed.get() => Err(SourceError {
            bytes_read: raw,
            source,
        }),
        Err(e) => {
            let decoded = meter.decoded.get();
            let p = if meter.limit_hit.get() {
                Problem::object(
                    ProblemCode::DecompressedTooLarge,
                    format!(
                        "gzip content expands beyond the dataset limit of {} ({raw} compressed bytes read): a gzip bomb or a file that should be split",
                        dataset.size.max_decompressed
                    ),
                )
            } else if gzip {
                Problem::object(
                    ProblemCode::Gzip,
                    format!(
                        "corrupt or truncated gzip stream after {decoded} decompressed bytes: {e}"
                    ),
                )
            } else {
                Problem::object(ProblemCode::Encoding, format!("unreadable content: {e}"))
            };
            problems.push(p);
            Ok((0, raw))
        }
    }
}
