//! Decisions about a Parquet input from its footer alone: whether a row group is too large to
//! read at once, and how many rows one Arrow batch of it may hold.

use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};

use super::{BATCH_BYTES, BATCH_ROWS};

/// The bytes of `rg` that belong to the declared columns (the reader fetches only those),
/// compressed (as stored and fetched) or uncompressed (as decoded into Arrow).
fn declared_bytes(rg: &RowGroupMetaData, declared: &[&str], compressed: bool) -> u64 {
    let bytes: i64 = rg
        .columns()
        .iter()
        .filter(|c| {
            let top = c.column_path().parts().first().map(String::as_str);
            top.is_some_and(|t| declared.contains(&t))
        })
        .map(|c| {
            if compressed {
                c.compressed_size()
            } else {
                c.uncompressed_size()
            }
        })
        .sum();
    bytes.max(0) as u64
}

/// Why a Parquet input's row groups are too large to read here: the largest one's declared
/// columns (compressed, as the reader fetches a whole column chunk) above `limit` bytes, naming
/// it and what to do. `None` when every row group fits.
pub fn row_group_too_large(
    meta: &ParquetMetaData,
    declared: &[&str],
    limit: u64,
) -> Option<String> {
    let (i, bytes) = meta
        .row_groups()
        .iter()
        .enumerate()
        .map(|(i, rg)| (i, declared_bytes(rg, declared, true)))
        .max_by_key(|(_, b)| *b)?;
    (bytes > limit).then(|| {
        format!(
            "row group {i} holds {} of the declared columns (compressed), and the lambda engine reads a row group at once, at most {}: write it with smaller row groups (128 MiB is usual), or give the dataset a Spark engine for such files (`job:` with `above:`); nothing was written",
            crate::size::ByteSize(bytes),
            crate::size::ByteSize(limit)
        )
    })
}

/// Rows per Arrow batch for reading this input: [`BATCH_ROWS`], or fewer where the widest row
/// group's rows (decoded, declared columns) would make a batch of more than [`BATCH_BYTES`].
/// A 480 MiB row group of 40 KB rows read as one batch doubled curate's peak memory (the
/// decoded batch on top of the fetched chunk, and one output row group of the whole batch).
pub fn batch_rows(meta: &ParquetMetaData, declared: &[&str]) -> usize {
    let widest = meta
        .row_groups()
        .iter()
        .filter(|rg| rg.num_rows() > 0)
        .map(|rg| declared_bytes(rg, declared, false).div_ceil(rg.num_rows() as u64))
        .max()
        .unwrap_or(0);
    match widest {
        0 => BATCH_ROWS,
        w => ((BATCH_BYTES as u64 / w) as usize).clamp(1, BATCH_ROWS),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use bytes::Bytes;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    /// The footer of a file of `rows` rows of an id and a `width`-byte text, in row groups of
    /// `group` rows, uncompressed (so compressed = uncompressed sizes).
    fn footer(rows: usize, width: usize, group: usize) -> ParquetMetaData {
        let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
        let text: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("{i:>8}") + &"x".repeat(width - 8)),
        ));
        let batch = RecordBatch::try_from_iter([("id", id), ("text", text)]).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .set_dictionary_enabled(false)
            .build();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        SerializedFileReader::new(Bytes::from(buf))
            .unwrap()
            .metadata()
            .clone()
    }

    #[test]
    fn batches_of_wide_rows_end_by_bytes_narrow_ones_by_rows() {
        /// (rows, text width, row group rows, declared columns) → rows per batch, within.
        type Case = (
            usize,
            usize,
            usize,
            &'static [&'static str],
            std::ops::RangeInclusive<usize>,
        );
        let cases: [Case; 5] = [
            // Narrow rows: the row bound.
            (1000, 10, 1000, &["id", "text"], BATCH_ROWS..=BATCH_ROWS),
            // 1 MiB rows: 64 MiB is ~64 of them (a little under, for the length prefixes).
            (8, 1 << 20, 8, &["id", "text"], 60..=64),
            // The wide column not declared: not read, so not counted.
            (8, 1 << 20, 8, &["id"], BATCH_ROWS..=BATCH_ROWS),
            // The widest row group decides.
            (10, 100 << 10, 5, &["text"], 600..=655),
            // No rows: the row bound.
            (0, 10, 10, &["id", "text"], BATCH_ROWS..=BATCH_ROWS),
        ];
        for (rows, width, group, declared, want) in cases {
            let got = batch_rows(&footer(rows, width, group), declared);
            assert!(
                want.contains(&got),
                "{rows}×{width} B in groups of {group}, {declared:?}: {got} rows, want {want:?}"
            );
        }
    }

    #[test]
    fn a_row_group_over_the_limit_is_named_with_what_to_do() {
        let meta = footer(4, 1 << 20, 2);
        // Two row groups of ~2 MiB of text each; the second's ids are a byte longer.
        let why = row_group_too_large(&meta, &["id", "text"], 1 << 20).expect("over 1 MiB");
        assert!(why.starts_with("row group 1 holds 2.0MiB"), "{why}");
        assert!(
            why.contains("at most 1MiB") && why.contains("smaller row groups"),
            "{why}"
        );
        assert_eq!(row_group_too_large(&meta, &["id", "text"], 4 << 20), None);
        // Only declared columns count: the ids alone are small.
        assert_eq!(row_group_too_large(&meta, &["id"], 1 << 20), None);
    }
}
