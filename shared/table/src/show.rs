//! What a table holds: its current snapshot counted from the manifests (not from the summary's
//! totals, which a foreign writer may leave out), and its snapshots with the deliveries each
//! one committed.

use iceberg::table::Table;
use serde::Serialize;

use crate::commit::summary;
use crate::Error;

/// A table at a glance (`lakeline table show --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableView {
    /// `namespace.table`.
    pub table: String,
    /// The current metadata file: what pyiceberg's `StaticTable.from_metadata` and DuckDB's
    /// `iceberg_scan` read.
    pub metadata_location: String,
    /// The current snapshot (`None` before the first commit).
    pub snapshot_id: Option<i64>,
    /// Rows in the current snapshot.
    pub rows: u64,
    /// Live data files.
    pub data_files: usize,
    /// Each live data file: where it is and how many rows it holds.
    pub files: Vec<FileView>,
    /// The current schema's columns.
    pub columns: Vec<ColumnView>,
    /// Every snapshot, in commit order.
    pub snapshots: Vec<SnapshotView>,
}

/// One live data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileView {
    /// Its location.
    pub path: String,
    /// Its rows.
    pub rows: u64,
    /// Its size in bytes.
    pub bytes: u64,
}

/// One column of the current schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnView {
    /// Its field id.
    pub id: i32,
    /// Its name.
    pub name: String,
    /// Its Iceberg type.
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether every row has a value.
    pub required: bool,
}

/// One snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotView {
    /// Its id.
    pub snapshot_id: i64,
    /// Its parent.
    pub parent_id: Option<i64>,
    /// Its sequence number: the order of commits (the metadata lists snapshots unordered).
    pub sequence_number: i64,
    /// When it was committed (Unix milliseconds).
    pub timestamp_ms: i64,
    /// `append`, `overwrite`, `replace`, `delete`.
    pub operation: String,
    /// The raw keys whose rows it added (lakeline's snapshots; empty for other writers').
    pub sources: Vec<String>,
    /// Their versions.
    pub versions: Vec<String>,
    /// The execution or command that committed it.
    pub execution: Option<String>,
    /// The executions whose deliveries it added, in the order of `sources`, when it took other
    /// writers' deliveries in (a group commit); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub executions: Vec<String>,
    /// The engine that wrote its files.
    pub engine: Option<String>,
    /// Rows it added.
    pub added_rows: u64,
    /// Rows it removed.
    pub deleted_rows: u64,
    /// What a lakeline rewrite did (`compact`, `undo`); `None` for a delivery's snapshot.
    pub rewrite: Option<String>,
    /// The raw keys whose rows an undo took out.
    pub removed_sources: Vec<String>,
    /// The columns an erase filtered on (never the values).
    pub erased_columns: Vec<String>,
}

/// The view of `table`.
pub async fn show(table: &Table) -> Result<TableView, Error> {
    let md = table.metadata();
    let mut rows = 0;
    let mut files = Vec::new();
    if let Some(snap) = md.current_snapshot() {
        let list = table.manifest_list_reader(snap).load().await?;
        for mf in list.entries() {
            let m = mf.load_manifest(table.file_io()).await?;
            for e in m.entries().iter().filter(|e| e.is_alive()) {
                let f = e.data_file();
                rows += f.record_count();
                files.push(FileView {
                    path: f.file_path().to_string(),
                    rows: f.record_count(),
                    bytes: f.file_size_in_bytes(),
                });
            }
        }
    }
    let mut snapshots: Vec<SnapshotView> = md
        .snapshots()
        .map(|s| {
            let props = &s.summary().additional_properties;
            let list = |k: &str| -> Vec<String> {
                props
                    .get(k)
                    .and_then(|v| serde_json::from_str(v).ok())
                    .unwrap_or_default()
            };
            let num = |k: &str| props.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            SnapshotView {
                snapshot_id: s.snapshot_id(),
                parent_id: s.parent_snapshot_id(),
                sequence_number: s.sequence_number(),
                timestamp_ms: s.timestamp_ms(),
                operation: s.summary().operation.as_str().to_string(),
                sources: list(summary::SOURCES),
                versions: list(summary::VERSIONS),
                execution: props.get(summary::EXECUTION).cloned(),
                executions: list(summary::EXECUTIONS),
                engine: props.get(summary::ENGINE).cloned(),
                added_rows: num("added-records"),
                deleted_rows: num("deleted-records"),
                rewrite: props.get(summary::REWRITE).cloned(),
                removed_sources: list(summary::REMOVED_SOURCES),
                erased_columns: list(crate::erase::ERASED_COLUMNS),
            }
        })
        .collect();
    snapshots.sort_by_key(|s| s.sequence_number);
    Ok(TableView {
        table: table.identifier().to_string(),
        metadata_location: table.metadata_location_result()?.to_string(),
        snapshot_id: md.current_snapshot().map(|s| s.snapshot_id()),
        rows,
        data_files: files.len(),
        files,
        columns: md
            .current_schema()
            .as_struct()
            .fields()
            .iter()
            .map(|f| ColumnView {
                id: f.id,
                name: f.name.clone(),
                ty: f.field_type.to_string(),
                required: f.required,
            })
            .collect(),
        snapshots,
    })
}
