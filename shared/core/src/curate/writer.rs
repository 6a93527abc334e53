//! The Parquet writer of curated objects and of tables' data files.
//!
//! A plain curated object is the parquet crate's `ArrowWriter`, as is. A table's data file
//! ends in columns that hold one value for the whole file: the raw key, its version and the
//! partition date ([`crate::table`]). `ArrowWriter` would intern that value into the column's
//! dictionary and compare it for the statistics once per row, about 40 ns a row for the two
//! strings, which made table mode a fifth slower than plain curate. So a table file's declared
//! columns go through the crate's own column writers (the encoding `ArrowWriter` uses), and
//! each constant column chunk is written whole with the crate's page writer: one dictionary
//! page holding the value, then data pages of dictionary index 0 for every row (one
//! run-length run of zero-bit indices each, as the crate itself writes a one-value
//! dictionary), with exact statistics min = max = the value.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_schema::{FieldRef, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::Result;
use parquet::file::metadata::{ColumnChunkMetaData, RowGroupMetaData};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::shape::{Constant, TableShape};

/// Where curated rows are encoded: a plain object, or a table's data file.
pub(crate) enum ParquetOut<W: Write + Send> {
    /// A plain curated object: every column comes in the batches.
    Plain(Box<ArrowWriter<W>>),
    /// A table's data file: the batches hold the declared columns, the shape the rest.
    Table(Box<TableFile<W>>),
}

impl<W: Write + Send> ParquetOut<W> {
    /// A writer into `out`: of `schema` (the declared columns), or of `shape`'s data file.
    pub(crate) fn new(
        out: W,
        schema: SchemaRef,
        shape: Option<&TableShape>,
        props: WriterProperties,
    ) -> Result<Self> {
        Ok(match shape {
            None => ParquetOut::Plain(Box::new(ArrowWriter::try_new(out, schema, Some(props))?)),
            Some(shape) => ParquetOut::Table(Box::new(TableFile::new(out, shape, props)?)),
        })
    }

    /// Encodes `batch` (the declared columns, in the curated schema).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            ParquetOut::Plain(w) => w.write(batch),
            ParquetOut::Table(t) => t.write(batch),
        }
    }

    /// Writes the last row group and the footer; the row groups written and the output.
    pub(crate) fn finish(self) -> Result<(Vec<RowGroupMetaData>, W)> {
        match self {
            ParquetOut::Plain(mut w) => {
                // Flush the last, partial row group first, so the footer below includes it.
                w.flush()?;
                let groups = w.flushed_row_groups().to_vec();
                Ok((groups, w.into_inner()?))
            }
            ParquetOut::Table(t) => t.finish(),
        }
    }
}

/// A table's data file being written: row groups of the declared columns' chunks, as the
/// parquet crate encodes them, and the constant columns' chunks written whole.
pub(crate) struct TableFile<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    /// The declared columns' fields, as in the file (with their field ids).
    declared: Vec<FieldRef>,
    /// How many leaf columns the declared fields have: the writers of the row group.
    declared_leaves: usize,
    /// The trailing constant columns, in file order.
    constants: Vec<(ColumnDescPtr, Constant)>,
    group: Option<Group>,
    max_rows: usize,
    max_bytes: usize,
    page_rows: usize,
}

/// The row group being encoded.
struct Group {
    writers: Vec<ArrowColumnWriter>,
    rows: usize,
}

impl Group {
    fn bytes(&self) -> usize {
        self.writers
            .iter()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum()
    }
}

impl<W: Write + Send> TableFile<W> {
    fn new(out: W, shape: &TableShape, props: WriterProperties) -> Result<Self> {
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX);
        let max_bytes = props.max_row_group_bytes().unwrap_or(usize::MAX);
        let page_rows = props.data_page_row_count_limit().max(1);
        // `ArrowWriter` puts the Arrow schema into the footer, as for a plain object.
        let (file, factory) = ArrowWriter::try_new(out, shape.schema().clone(), Some(props))?
            .into_serialized_writer()?;
        let declared: Vec<FieldRef> = shape.schema().fields()[..shape.declared()].to_vec();
        let declared_leaves = file.schema_descr().num_columns() - shape.constants().len();
        let constants: Vec<_> = shape
            .constants()
            .iter()
            .enumerate()
            .map(|(i, c)| (file.schema_descr().column(declared_leaves + i), c.clone()))
            .collect();
        Ok(TableFile {
            file,
            factory,
            declared,
            declared_leaves,
            constants,
            group: None,
            max_rows,
            max_bytes,
            page_rows,
        })
    }

    /// Encodes `batch`, ending row groups at `ArrowWriter`'s limits: a group ends at the row
    /// count limit, or once its encoded bytes reach the byte limit (a batch that would cross
    /// it is split by the group's average row size so far).
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut batch = batch.clone();
        while batch.num_rows() > 0 {
            let group = match &mut self.group {
                Some(g) => g,
                g => {
                    let mut writers = self
                        .factory
                        .create_column_writers(self.file.flushed_row_groups().len())?;
                    writers.truncate(self.declared_leaves);
                    g.insert(Group { writers, rows: 0 })
                }
            };
            let mut take = batch.num_rows().min(self.max_rows - group.rows);
            let bytes = group.bytes();
            if let Some(avg) = bytes.checked_div(group.rows) {
                if bytes >= self.max_bytes {
                    take = 0;
                } else if let Some(fit) = (self.max_bytes - bytes).checked_div(avg) {
                    take = take.min(fit);
                }
            }
            if take == 0 {
                self.flush()?;
                continue;
            }
            let part = batch.slice(0, take);
            let mut writers = group.writers.iter_mut();
            for (field, column) in self.declared.iter().zip(part.columns()) {
                for leaf in compute_leaves(field, column)? {
                    let w = writers.next().expect("a writer for every leaf column");
                    w.write(&leaf)?;
                }
            }
            group.rows += take;
            if group.rows >= self.max_rows || group.bytes() >= self.max_bytes {
                self.flush()?;
            }
            batch = batch.slice(take, batch.num_rows() - take);
        }
        Ok(())
    }

    /// Writes the row group being encoded, if any: its declared chunks, then the constants'.
    fn flush(&mut self) -> Result<()> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let mut rg = self.file.next_row_group()?;
        for w in group.writers {
            w.close()?.append_to_row_group(&mut rg)?;
        }
        for (descr, value) in &self.constants {
            let (data, close) = constant_chunk(descr, value, group.rows, self.page_rows)?;
            rg.append_column(&data, close)?;
        }
        rg.close()?;
        Ok(())
    }

    fn finish(mut self) -> Result<(Vec<RowGroupMetaData>, W)> {
        self.flush()?;
        let groups = self.file.flushed_row_groups().to_vec();
        Ok((groups, self.file.into_inner()?))
    }
}

/// The column chunk of `rows` rows that all hold `value`, uncompressed (it is a few bytes a
/// page): a dictionary page of the one value (plain), and data pages of at most `page_rows`
/// rows whose dictionary indices are one run of zero-bit zeros; exact statistics and an offset
/// index, as the crate writes for its chunks.
fn constant_chunk(
    descr: &ColumnDescPtr,
    value: &Constant,
    rows: usize,
    page_rows: usize,
) -> Result<(Bytes, ColumnCloseResult)> {
    let (plain, statistics) = match value {
        Constant::Text(v) => {
            let mut plain = (v.len() as u32).to_le_bytes().to_vec();
            plain.extend_from_slice(v.as_bytes());
            let v = ByteArray::from(v.as_bytes().to_vec());
            (
                plain,
                Statistics::byte_array(Some(v.clone()), Some(v), None, Some(0), false),
            )
        }
        Constant::Date(d) => (
            d.to_le_bytes().to_vec(),
            Statistics::int32(Some(*d), Some(*d), None, Some(0), false),
        ),
    };
    let mut sink = TrackedWrite::new(Vec::new());
    let mut pages = SerializedPageWriter::new(&mut sink);
    let dict_len = plain.len();
    let dict = pages.write_page(CompressedPage::new(
        Page::DictionaryPage {
            buf: Bytes::from(plain),
            num_values: 1,
            encoding: Encoding::PLAIN,
            is_sorted: true,
        },
        dict_len,
    ))?;
    let mut locations = Vec::new();
    let mut first = 0;
    while first < rows {
        let n = page_rows.min(rows - first);
        let indices = zero_indices(n);
        let len = indices.len();
        let spec = pages.write_page(CompressedPage::new(
            Page::DataPage {
                buf: indices,
                num_values: n as u32,
                encoding: Encoding::RLE_DICTIONARY,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
            len,
        ))?;
        locations.push(PageLocation {
            offset: spec.offset as i64,
            compressed_page_size: spec.bytes_written as i32,
            first_row_index: first as i64,
        });
        first += n;
    }
    pages.close()?;
    drop(pages);
    let data = Bytes::from(sink.into_inner()?);
    let size = data.len() as i64;
    let metadata = ColumnChunkMetaData::builder(descr.clone())
        .set_compression(Compression::UNCOMPRESSED)
        .set_encodings(vec![
            Encoding::PLAIN,
            Encoding::RLE,
            Encoding::RLE_DICTIONARY,
        ])
        .set_num_values(rows as i64)
        .set_total_compressed_size(size)
        .set_total_uncompressed_size(size)
        .set_dictionary_page_offset(Some(dict.offset as i64))
        .set_data_page_offset(dict.bytes_written as i64)
        .set_statistics(statistics)
        .build()?;
    let close = ColumnCloseResult {
        bytes_written: size as u64,
        rows_written: rows as u64,
        metadata,
        bloom_filter: None,
        column_index: None,
        offset_index: Some(OffsetIndexMetaData {
            page_locations: locations,
            unencoded_byte_array_data_bytes: None,
        }),
    };
    Ok((data, close))
}

/// The body of a data page of `n` dictionary indices that are all 0: the bit width (0: the
/// dictionary has one value), then one RLE run, its header `n << 1` as a ULEB128 varint and
/// its value in zero bytes.
fn zero_indices(n: usize) -> Bytes {
    let mut buf = vec![0u8];
    let mut header = (n as u64) << 1;
    loop {
        let byte = (header & 0x7f) as u8;
        header >>= 7;
        if header == 0 {
            buf.push(byte);
            break;
        }
        buf.push(byte | 0x80);
    }
    Bytes::from(buf)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Int64Type};
    use arrow_array::{Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::{
        ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
    };
    use parquet::file::metadata::PageIndexPolicy;

    use super::*;
    use crate::registry::Registry;
    use crate::table::{Lineage, DATE_COLUMN, SOURCE_COLUMN, VERSION_COLUMN};

    const SOURCE: &str = "raw/t/dt=2026-12-06/a file ü.csv";

    fn shape() -> (Registry, TableShape) {
        let reg = Registry::from_yaml(
            "version: 1\ndatasets:\n  t:\n    key_pattern: raw/t/dt={date}/{file}\n    format: csv\n    columns: [{name: id, type: int, required: true}, {name: name, type: string}]\n",
            "t.yaml",
        )
        .unwrap();
        let ids: HashMap<String, i32> = ["id", "name", SOURCE_COLUMN, VERSION_COLUMN, DATE_COLUMN]
            .iter()
            .zip(1..)
            .map(|(n, i)| (n.to_string(), i))
            .collect();
        let lineage = Lineage {
            source: SOURCE.into(),
            version: "v1".into(),
            date: Some(20_793),
        };
        let shape = TableShape::new(reg.dataset("t").unwrap().1, &ids, &lineage).unwrap();
        (reg, shape)
    }

    /// Rows `from..to` of the declared columns: `id`, and `name` null every seventh row.
    fn rows(reg: &Registry, from: i64, to: i64) -> RecordBatch {
        let names: StringArray = (from..to)
            .map(|i| (i % 7 != 0).then(|| format!("n{i}")))
            .collect();
        RecordBatch::try_new(
            crate::curate::schema(reg.dataset("t").unwrap().1),
            vec![
                Arc::new(Int64Array::from_iter_values(from..to)),
                Arc::new(names),
            ],
        )
        .unwrap()
    }

    #[test]
    fn constant_columns_are_written_whole_and_read_back_in_every_row() {
        let (reg, shape) = shape();
        // Small limits, so the file has several row groups and every constant chunk several
        // pages; the byte limit is not reached.
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1_000))
            .set_data_page_row_count_limit(300)
            .set_compression(Compression::ZSTD(Default::default()))
            .build();
        let mut out =
            ParquetOut::new(Vec::new(), shape.schema().clone(), Some(&shape), props).unwrap();
        for from in (0..3_500).step_by(700) {
            out.write(&rows(&reg, from, from + 700)).unwrap();
        }
        let (groups, bytes) = out.finish().unwrap();
        let sizes: Vec<_> = groups.iter().map(|g| g.num_rows()).collect();
        assert_eq!(sizes, [1_000, 1_000, 1_000, 500]);
        for g in &groups {
            // Exact statistics for every constant chunk: Iceberg's bounds come from them.
            match g.column(2).statistics().unwrap() {
                Statistics::ByteArray(s) => {
                    assert_eq!(s.min_opt().unwrap().as_utf8().unwrap(), SOURCE);
                    assert_eq!(s.max_opt().unwrap().as_utf8().unwrap(), SOURCE);
                    assert!(s.min_is_exact() && s.max_is_exact());
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(g.column(4).statistics().unwrap().null_count_opt(), Some(0));
            assert_eq!(g.column(4).num_values(), g.num_rows());
        }

        let data = Bytes::from(bytes);
        let read = |selection: Option<RowSelection>| {
            let opts = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
            let mut b =
                ParquetRecordBatchReaderBuilder::try_new_with_options(data.clone(), opts).unwrap();
            if let Some(s) = selection {
                b = b.with_row_selection(s);
            }
            let batches: Vec<_> = b.build().unwrap().map(Result::unwrap).collect();
            arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
        };
        let all = read(None);
        assert_eq!(all.num_rows(), 3_500);
        let want = rows(&reg, 0, 3_500);
        assert_eq!(all.column(0).as_ref(), want.column(0).as_ref());
        assert_eq!(all.column(1).as_ref(), want.column(1).as_ref());
        let source = all.column(2).as_string::<i32>();
        assert!((0..3_500).all(|i| source.value(i) == SOURCE));
        assert_eq!(all.column(2).null_count(), 0);
        let version = all.column(3).as_string::<i32>();
        assert!((0..3_500).all(|i| version.value(i) == "v1"));
        let day = all.column(4).as_primitive::<Date32Type>();
        assert!((0..3_500).all(|i| day.value(i) == 20_793));

        // A selection that skips pages reads through the constant chunks' offset index.
        let some = read(Some(RowSelection::from(vec![
            RowSelector::skip(1_650),
            RowSelector::select(20),
        ])));
        let ids: Vec<_> = some.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(ids, (1_650..1_670).collect::<Vec<i64>>());
        assert!((0..20).all(|i| some.column(2).as_string::<i32>().value(i) == SOURCE));
    }

    #[test]
    fn row_groups_end_at_the_byte_limit_too() {
        let (reg, shape) = shape();
        let props = WriterProperties::builder()
            .set_max_row_group_bytes(Some(16 << 10))
            .build();
        let mut out =
            ParquetOut::new(Vec::new(), shape.schema().clone(), Some(&shape), props).unwrap();
        for from in (0..20_000).step_by(2_000) {
            out.write(&rows(&reg, from, from + 2_000)).unwrap();
        }
        let (groups, bytes) = out.finish().unwrap();
        // Split by the groups' average row size: several groups, none far past the limit.
        assert!(groups.len() > 3, "{} groups", groups.len());
        assert_eq!(groups.iter().map(|g| g.num_rows()).sum::<i64>(), 20_000);
        let read = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(read, (0..20_000).collect::<Vec<i64>>());
    }

    #[test]
    fn zero_index_pages_hold_one_run() {
        for (n, want) in [
            (1, vec![0, 2]),
            (63, vec![0, 126]),
            (64, vec![0, 0x80, 1]),
            (20_000, vec![0, 0xc0, 0xb8, 2]),
        ] {
            assert_eq!(zero_indices(n).to_vec(), want, "{n}");
        }
    }
}
