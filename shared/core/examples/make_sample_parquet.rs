//! Writes the demo's inventory snapshots, `good.parquet` and `bad.parquet`, into a directory:
//!
//! ```text
//! cargo run -p lakeline --example make_sample_parquet -- samples/inventory
//! ```
//!
//! `good.parquet` fits the `inventory` dataset of `config/datasets.yaml`; `bad.parquet` is the
//! classic ERP export mistake: `quantity` written as a text column. The output is deterministic
//! (for one parquet crate version), so regenerating leaves the committed files unchanged.

use std::path::PathBuf;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::parser::parse_message_type;

/// 2026-11-25 as a Parquet DATE (days since 1970-01-01).
const AS_OF: i32 = 20_782;

/// One stock line of the snapshot.
struct Item {
    sku: &'static str,
    warehouse: &'static str,
    quantity: i64,
    unit_price: Option<f64>,
}

const fn item(
    sku: &'static str,
    warehouse: &'static str,
    quantity: i64,
    unit_price: Option<f64>,
) -> Item {
    Item {
        sku,
        warehouse,
        quantity,
        unit_price,
    }
}

const STOCK: &[Item] = &[
    item("ESP-1001", "BER-1", 42, Some(349.0)),
    item("ESP-1001", "HAM-2", 17, Some(349.0)),
    item("GRD-2040", "BER-1", 130, Some(89.9)),
    item("GRD-2040", "MUC-1", 0, Some(89.9)),
    item("FRT-0300", "BER-1", 75, Some(39.5)),
    item("FRT-0300", "HAM-2", 12, Some(39.5)),
    item("BNS-1KG-ETH", "BER-1", 480, Some(18.9)),
    item("BNS-1KG-ETH", "MUC-1", 256, Some(18.9)),
    item("BNS-1KG-COL", "HAM-2", 310, Some(17.5)),
    item("FLT-PAPER-100", "BER-1", 1200, Some(4.2)),
    item("CUP-CER-02", "MUC-1", 64, None),
    item("DSC-TABS-10", "HAM-2", 95, Some(7.99)),
];

const GOOD_SCHEMA: &str = "message inventory {
    REQUIRED BYTE_ARRAY sku (UTF8);
    REQUIRED BYTE_ARRAY warehouse (UTF8);
    REQUIRED INT64 quantity;
    OPTIONAL DOUBLE unit_price;
    REQUIRED INT32 as_of (DATE);
}";

/// The same snapshot with `quantity` exported as text.
const BAD_SCHEMA: &str = "message inventory {
    REQUIRED BYTE_ARRAY sku (UTF8);
    REQUIRED BYTE_ARRAY warehouse (UTF8);
    REQUIRED BYTE_ARRAY quantity (UTF8);
    OPTIONAL DOUBLE unit_price;
    REQUIRED INT32 as_of (DATE);
}";

/// One column's values, in schema order.
enum Values {
    Text(Vec<String>),
    Int64(Vec<i64>),
    Double(Vec<Option<f64>>),
    Date(Vec<i32>),
}

fn write<T: DataType>(
    cw: &mut SerializedColumnWriter<'_>,
    v: &[Option<T::T>],
) -> parquet::errors::Result<()> {
    let w = cw.typed::<T>();
    let vals: Vec<T::T> = v.iter().flatten().cloned().collect();
    // Definition levels only for OPTIONAL columns: 1 = value present, 0 = null.
    let defs: Option<Vec<i16>> = (w.get_descriptor().max_def_level() > 0)
        .then(|| v.iter().map(|x| i16::from(x.is_some())).collect());
    w.write_batch(&vals, defs.as_deref(), None)?;
    Ok(())
}

fn parquet_file(schema: &str, columns: Vec<Values>) -> parquet::errors::Result<Vec<u8>> {
    let schema = Arc::new(parse_message_type(schema)?);
    let props = Arc::new(WriterProperties::builder().build());
    let mut w = SerializedFileWriter::new(Vec::new(), schema, props)?;
    let mut rg = w.next_row_group()?;
    let mut columns = columns.into_iter();
    while let Some(mut cw) = rg.next_column()? {
        match columns.next().expect("one value list per schema column") {
            Values::Text(v) => {
                let v: Vec<Option<ByteArray>> = v
                    .into_iter()
                    .map(|s| Some(ByteArray::from(s.as_str())))
                    .collect();
                write::<ByteArrayType>(&mut cw, &v)?
            }
            Values::Int64(v) => {
                write::<Int64Type>(&mut cw, &v.into_iter().map(Some).collect::<Vec<_>>())?
            }
            Values::Double(v) => write::<DoubleType>(&mut cw, &v)?,
            Values::Date(v) => {
                write::<Int32Type>(&mut cw, &v.into_iter().map(Some).collect::<Vec<_>>())?
            }
        }
        cw.close()?;
    }
    rg.close()?;
    w.into_inner()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "samples/inventory".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let text = |f: fn(&Item) -> String| Values::Text(STOCK.iter().map(f).collect());
    let quantity = Values::Int64(STOCK.iter().map(|r| r.quantity).collect());
    let quantity_text = text(|r| r.quantity.to_string());
    for (name, schema, quantity) in [
        ("good.parquet", GOOD_SCHEMA, quantity),
        ("bad.parquet", BAD_SCHEMA, quantity_text),
    ] {
        let columns = vec![
            text(|r| r.sku.to_string()),
            text(|r| r.warehouse.to_string()),
            quantity,
            Values::Double(STOCK.iter().map(|r| r.unit_price).collect()),
            Values::Date(vec![AS_OF; STOCK.len()]),
        ];
        let bytes = parquet_file(schema, columns)?;
        let path = dir.join(name);
        std::fs::write(&path, &bytes)?;
        println!(
            "wrote {} ({} bytes, {} rows)",
            path.display(),
            bytes.len(),
            STOCK.len()
        );
    }
    Ok(())
}
