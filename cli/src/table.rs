//! `lakeline table …`: the datasets' Iceberg tables. Every command takes one target: a local
//! warehouse (`--warehouse DIR`), a catalog (`--catalog s3tables:<ARN>/<ns>|glue:<db>|
//! warehouse:<dir>`, or `LAKELINE_CATALOG`), or a deployed stack (`--stack NAME`).
//!
//! Output: `append` and `sync` print JSON (like `validate` and `curate`); `show` prints a table
//! for people and JSON with `--json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use lakeline_core::registry::Registry;
use lakeline_table::local::{add_files, append_file, AddFiles, Append, Appended};
use lakeline_table::{Tables, Target};

/// Where the tables are.
#[derive(Args, Debug)]
pub struct TargetArgs {
    /// A local warehouse directory (created on first use; namespace `lakeline`).
    #[arg(long, conflicts_with_all = ["catalog", "stack"])]
    pub warehouse: Option<PathBuf>,
    /// A catalog: `s3tables:<table bucket ARN>/<namespace>` (the namespace must exist),
    /// `glue:<database>` (the database must exist, its LocationUri is where tables' files go)
    /// or `warehouse:<directory>`. AWS configuration from the environment.
    #[arg(long, env = "LAKELINE_CATALOG", conflicts_with = "stack")]
    pub catalog: Option<String>,
    /// A deployed stack: its table bucket and namespace, or its Glue database, from the
    /// stack's outputs (`TableBucketArn`, `TablesNamespace`, `TablesGlueDatabase`;
    /// cloudformation:DescribeStacks).
    #[arg(long)]
    pub stack: Option<String>,
    /// Where a delivery that lost a commit race waits for the next commit of any writer to
    /// take it in (group commit; S3 Tables and Glue): `s3://BUCKET/PREFIX/`, the pipeline's
    /// is `s3://<lake bucket>/_lakeline/pending/` (a stack lets only its functions write
    /// there). Without it, this command's commits go alone.
    #[arg(long, env = "LAKELINE_PENDING", conflicts_with = "warehouse")]
    pub pending: Option<String>,
}

impl TargetArgs {
    /// Whether no target is named.
    pub fn is_none(&self) -> bool {
        self.warehouse.is_none() && self.catalog.is_none() && self.stack.is_none()
    }

    /// The stack named with `--stack`.
    pub fn stack(&self) -> Option<&str> {
        self.stack.as_deref()
    }

    /// The target named, or `None` when none is. A stack's outputs are read with `conf` (the
    /// environment's configuration when `None`).
    pub async fn target_if_any(
        &self,
        conf: Option<&aws_config::SdkConfig>,
    ) -> anyhow::Result<Option<Target>> {
        Ok(self.target_and_board(conf).await?.map(|(t, _)| t))
    }

    /// The target named, with where its group commits' pending deliveries wait (`--pending`).
    async fn target_and_board(
        &self,
        conf: Option<&aws_config::SdkConfig>,
    ) -> anyhow::Result<Option<(Target, Option<String>)>> {
        let pending = self.pending.clone();
        Ok(Some(match (&self.warehouse, &self.catalog, &self.stack) {
            (Some(dir), _, _) => (Target::Warehouse(dir.clone()), None),
            (None, Some(c), _) => (
                Target::parse_catalog(c).map_err(anyhow::Error::msg)?,
                pending,
            ),
            (None, None, Some(stack)) => {
                let env;
                let conf = match conf {
                    Some(c) => c,
                    None => {
                        env = lakeline_aws::sdk_config().await;
                        &env
                    }
                };
                let outputs = crate::stack::StackOutputs::read(conf, stack).await?;
                (outputs.tables()?, pending)
            }
            (None, None, None) => return Ok(None),
        }))
    }

    async fn target(&self) -> anyhow::Result<Target> {
        Ok(self.target_required().await?.0)
    }

    async fn target_required(&self) -> anyhow::Result<(Target, Option<String>)> {
        match self.target_and_board(None).await? {
            Some(t) => Ok(t),
            None => bail!("say where the tables are: --warehouse DIR, --catalog … or --stack NAME"),
        }
    }

    /// The target's tables, with their board of group commits where one is named.
    pub async fn open(&self) -> anyhow::Result<Tables> {
        let (target, board) = self.target_required().await?;
        let tables = Tables::open(&target).await?;
        Ok(match board {
            Some(uri) => {
                let conf = lakeline_aws::sdk_config().await;
                let board =
                    lakeline_table::group::S3Board::from_uri(lakeline_aws::s3_client(&conf), &uri)
                        .map_err(anyhow::Error::msg)?;
                tables.with_board(Some(std::sync::Arc::new(board)))
            }
            None => tables,
        })
    }
}

/// One dataset's table: which dataset, where the tables are, and the registry that names it
/// (the arguments every `table` command but `sync` takes).
#[derive(Args, Debug)]
pub struct DatasetTable {
    /// The dataset.
    #[arg(long)]
    pub dataset: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The dataset registry.
    #[arg(long, default_value = "config/datasets.yaml")]
    pub config: PathBuf,
}

impl DatasetTable {
    /// The registry, loaded with `load`.
    fn registry(
        &self,
        load: &impl Fn(&Path) -> anyhow::Result<Registry>,
    ) -> anyhow::Result<Registry> {
        load(&self.config)
    }

    /// The dataset's entry in `reg`, or an error naming the registry file.
    fn dataset<'r>(
        &self,
        reg: &'r Registry,
    ) -> anyhow::Result<(
        &'r lakeline_core::registry::DatasetName,
        &'r lakeline_core::registry::Dataset,
    )> {
        reg.dataset(&self.dataset)
            .with_context(|| format!("no dataset {:?} in {}", self.dataset, self.config.display()))
    }

    /// The tables of the target.
    async fn tables(&self) -> anyhow::Result<Tables> {
        self.target.open().await
    }
}

/// Prints what an append or add-files did (the report of an invalid file, else the outcome
/// with the dataset, source, version and metadata location); the command's exit status.
fn print_appended(dataset: &str, key: &str, a: Appended) -> anyhow::Result<ExitCode> {
    match a {
        Appended::Invalid(report) => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::from(1))
        }
        Appended::Done {
            outcome,
            version,
            metadata_location,
        } => {
            let mut v = serde_json::to_value(&outcome)?;
            v["dataset"] = dataset.into();
            v["source"] = key.into();
            v["version"] = version.into();
            v["metadata_location"] = metadata_location.into();
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Creates every dataset's table of `reg` (or only `dataset`'s), or brings its schema up to
/// the registry; one JSON object per table saying what changed.
pub async fn sync_all(
    tables: &Tables,
    reg: &Registry,
    dataset: Option<&str>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for (name, ds) in reg.datasets.iter() {
        if dataset.is_some_and(|d| d != name.as_str()) {
            continue;
        }
        let (table, change, compactor) = lakeline_table::sync::sync_dataset(tables, name, ds)
            .await
            .with_context(|| format!("dataset {name}"))?;
        out.push(serde_json::json!({
            "dataset": name.as_str(),
            "table": table.identifier().to_string(),
            "metadata_location": table.metadata_location_result()?,
            "sync": change,
            "compaction": compactor,
        }));
    }
    Ok(out)
}

/// `lakeline table` subcommands.
#[derive(Subcommand, Debug)]
pub enum TableCmd {
    /// Create each dataset's table, or bring its schema up to the registry (new columns are
    /// added; ids never change); prints what changed as JSON. Exit 0, or 2 on a registry or
    /// catalog error (a column whose type changed is refused).
    Sync {
        /// Only this dataset (default: every dataset of the registry).
        #[arg(long)]
        dataset: Option<String>,
        #[command(flatten)]
        target: TargetArgs,
        /// The dataset registry.
        #[arg(long, default_value = "config/datasets.yaml")]
        config: PathBuf,
    },
    /// Validate, curate and commit a local file into its dataset's table as one delivery (the
    /// raw key at one version); prints the outcome as JSON, or the validation report.
    /// The same bytes under the same key again commit nothing; other bytes under the same key
    /// replace that key's rows in one snapshot.
    /// Exit status: 0 committed or already committed, 1 invalid (nothing committed), 2 usage,
    /// registry or catalog error.
    Append {
        #[command(flatten)]
        on: DatasetTable,
        /// The file.
        file: PathBuf,
        /// The raw key it stands for (decides the partition date and gzip; recorded as the
        /// rows' `_lakeline_source`).
        #[arg(long)]
        key: String,
        /// Its version (default: the SHA-256 of its bytes).
        #[arg(long)]
        version: Option<String>,
    },
    /// Commit data files another engine wrote (the Spark curate job's staged files) as one
    /// delivery: each file must carry the table's field ids and hold only the key's rows at
    /// the version (its lineage columns); they are copied into the table's location and
    /// committed exactly once, as a file the Lambda wrote would be. Prints the outcome as
    /// JSON. Exit 0 committed or already committed, 2 a file that does not fit, usage,
    /// registry or catalog error (nothing committed).
    AddFiles {
        #[command(flatten)]
        on: DatasetTable,
        /// The data files (Parquet).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The raw key they were curated from.
        #[arg(long)]
        key: String,
        /// Its version, as the files' `_lakeline_version` holds it.
        #[arg(long)]
        version: String,
        /// The engine that wrote them, recorded in the snapshot.
        #[arg(long, default_value = "spark")]
        engine: String,
    },
    /// What a dataset's table holds, and its snapshots with the deliveries each committed.
    Show {
        #[command(flatten)]
        on: DatasetTable,
        /// Print JSON (metadata_location, snapshot_id, rows, data_files, columns, snapshots).
        #[arg(long)]
        json: bool,
    },
    /// Each snapshot of a dataset's table, oldest first: operation, the deliveries it added
    /// (or what a rewrite did: compact, undo), rows added and removed, engine and execution.
    History {
        #[command(flatten)]
        on: DatasetTable,
        /// Print the snapshots as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compact a dataset's table: per partition, the same rule as the `curated/` sweep
    /// (the dataset's `compaction:` settings: small files below a share of the target size,
    /// at least `min_small_files`, closed partitions only) decides, from the table's
    /// manifests; the due groups are rewritten into files of the target size and swapped in
    /// by one `replace` snapshot. Readers never see both. Prints the plan and the outcome
    /// (`--json`: as JSON). Exit 0 (also when nothing was due), 2 on a registry or catalog
    /// error or when another commit replaced an input meanwhile (nothing committed; run it
    /// again).
    Compact {
        #[command(flatten)]
        on: DatasetTable,
        /// The output file size (default: the dataset's `compaction.target_file_size`,
        /// 128MiB); at least 1MiB.
        #[arg(long)]
        target_size: Option<lakeline_core::size::ByteSize>,
        /// Plan and print only.
        #[arg(long)]
        dry_run: bool,
        /// Compact partitions that still receive data too (today's, or written to within
        /// `quiet_minutes`): a file committed meanwhile is kept out of the rewrite, never lost.
        #[arg(long)]
        include_open: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The Spark engine's first half, by hand: plan the rewrite of one due partition (the
    /// compaction rule, as `compact` plans it) and write the plan (`plan.json`: the files, the
    /// table's schema with field ids for Spark, the output folder) under OUT/<plan id>/, for
    /// `jobs/compact.py --lakeline_plan`. Prints the plan as JSON; `{"status": "NOTHING_DUE"}`
    /// when no partition is due. Exit 0, 2 on a registry or catalog error.
    RewritePlan {
        #[command(flatten)]
        on: DatasetTable,
        /// The partition (`_lakeline_date=YYYY-MM-DD`; default: the first due one).
        #[arg(long)]
        partition: Option<String>,
        /// The folder the plan and the run's output go under.
        #[arg(long)]
        out: PathBuf,
        /// Plan partitions that still receive data too.
        #[arg(long)]
        include_open: bool,
    },
    /// The Spark engine's second half, by hand: commit what `jobs/compact.py` wrote for PLAN
    /// (a `rewrite-plan`'s `plan.json`): each Parquet file in the plan's output folder is
    /// checked against the table (field ids, lineage, partition), copied into the table, and
    /// swapped for the plan's inputs by one `replace` snapshot when the rows match. Prints the
    /// outcome as JSON. Exit 0 committed, 2 when a file does not fit, the rows differ, or another
    /// commit replaced an input meanwhile (nothing committed).
    RewriteCommit {
        #[command(flatten)]
        on: DatasetTable,
        /// The plan (`plan.json`).
        plan: PathBuf,
        /// The engine that wrote the files, recorded in the snapshot.
        #[arg(long, default_value = "spark")]
        engine: String,
    },
    /// Erase the rows a filter matches (a deletion request) from a dataset's table in one
    /// snapshot: the files that hold them are rewritten without them, the rest untouched.
    /// EXPR is `col = literal`, `col IN (literal, …)`, joined by AND (literals: 'text',
    /// numbers, true/false). Prints, as JSON, the rows removed per file, the raw keys whose
    /// rows matched (their raw and quarantined objects still hold them) and when the rows are
    /// gone from storage (after snapshot expiry). The snapshot names the filter's columns,
    /// never its values. Exit 0 (also when nothing matched), 2 on a filter, registry or
    /// catalog error.
    Erase {
        #[command(flatten)]
        on: DatasetTable,
        /// The filter.
        #[arg(long = "where", value_name = "EXPR")]
        filter: String,
        /// Count and list only.
        #[arg(long)]
        dry_run: bool,
        /// Also delete the uploads that hold the rows, whole and every version: the raw objects
        /// the matching rows came from (their `_lakeline_source`) and the quarantined objects
        /// a scan finds holding matching rows; then write an audit record to
        /// `audit/erasures/` (the filter's columns and a hash of it, never its values).
        /// Needs the lake bucket (`--stack`, or `--lake`) and a principal in the stack's
        /// `EraserArns`. With `--dry-run`, lists them.
        #[arg(long)]
        include_raw: bool,
        /// The lake bucket holding `raw/` and the quarantine (default with `--stack`: its
        /// `LakeBucketName` output).
        #[arg(long, value_name = "BUCKET")]
        lake: Option<String>,
    },
    /// Point a dataset's table back at an earlier snapshot of its current lineage. Runs
    /// nothing again: the table's own snapshot history is the source, as the table writer.
    /// Prints,
    /// as JSON, every snapshot it drops with the deliveries each added (they leave the table;
    /// a redelivery of one commits it again) and what each rewrite did (rolling back an erase
    /// brings the erased rows back). The dropped snapshots stay readable by time travel until
    /// expiry. Exit 0, 2 when the snapshot is not an ancestor of the current one (nothing
    /// changed) or on a registry or catalog error.
    Rollback {
        #[command(flatten)]
        on: DatasetTable,
        /// The snapshot id to go back to (`lakeline table history` lists them).
        #[arg(long)]
        to: i64,
        /// List what would be dropped, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Expire a dataset's old snapshots (a Glue table or a local warehouse; S3 Tables does
    /// this itself): snapshots older than `--older-than-days`, keeping the newest `--keep` of
    /// the current lineage and every branch or tag, removed in one metadata commit; then the
    /// files only they referenced are deleted. Time travel to them ends. Prints what it
    /// expired and deleted as JSON. Exit 0, 2 on a registry or catalog error.
    Expire {
        #[command(flatten)]
        on: DatasetTable,
        /// Expire snapshots committed more than this many days ago.
        #[arg(long, default_value_t = 5.0)]
        older_than_days: f64,
        /// Keep at least this many snapshots of the current lineage.
        #[arg(long, default_value_t = 1)]
        keep: usize,
        /// List only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete a dataset's orphan files (a Glue table or a local warehouse; S3 Tables does this
    /// itself): files under the table's location that no snapshot and no metadata file
    /// references (a crashed writer's, a lost commit's that could not be deleted), older than
    /// `--older-than-days` (a commit in flight writes files no snapshot references yet: keep
    /// the retention far longer than any commit). Prints what it deleted as JSON.
    RemoveOrphans {
        #[command(flatten)]
        on: DatasetTable,
        /// Only files last modified more than this many days ago.
        #[arg(long, default_value_t = 3.0)]
        older_than_days: f64,
        /// List only.
        #[arg(long)]
        dry_run: bool,
    },
    /// Take one raw key's rows out of a dataset's table in one snapshot. Runs nothing again
    /// (the table is the source, as the table writer; `lakeline reprocess` re-curates a key
    /// instead). Files of that key
    /// alone are removed, files it shares with other keys (compacted files) are rewritten
    /// without its rows. Time travel still shows them until snapshot expiry. Prints what it
    /// did (or would do, `--dry-run`) as JSON. Exit 0 (also for a key the table does not
    /// hold), 2 on a registry or catalog error.
    Undo {
        #[command(flatten)]
        on: DatasetTable,
        /// The raw key whose rows go.
        #[arg(long)]
        key: String,
        /// Say what would go, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs one `lakeline table` command.
pub async fn run(
    cmd: TableCmd,
    load: impl Fn(&Path) -> anyhow::Result<Registry>,
) -> anyhow::Result<ExitCode> {
    match cmd {
        TableCmd::Sync {
            dataset,
            target,
            config,
        } => {
            let reg = load(&config)?;
            let tables = Tables::open(&target.target().await?).await?;
            let out = sync_all(&tables, &reg, dataset.as_deref()).await?;
            if let Some(d) = &dataset {
                if out.is_empty() {
                    bail!("no dataset {d:?} in {}", config.display());
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::Append {
            on,
            file,
            key,
            version,
        } => {
            let reg = on.registry(&load)?;
            let (name, ds) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let a = Append {
                file: &file,
                key: &key,
                version: version.as_deref(),
                execution: Some("lakeline table append"),
            };
            print_appended(
                name.as_str(),
                &key,
                append_file(&tables, &reg, name, ds, &a).await?,
            )
        }
        TableCmd::AddFiles {
            on,
            files,
            key,
            version,
            engine,
        } => {
            let reg = on.registry(&load)?;
            let (name, ds) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let a = AddFiles {
                files: &files,
                key: &key,
                version: &version,
                execution: Some("lakeline table add-files"),
                engine: &engine,
            };
            print_appended(name.as_str(), &key, add_files(&tables, name, ds, &a).await?)
        }
        TableCmd::Show { on, json } => {
            let reg = on.registry(&load)?;
            let (name, _) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let ident = tables.ident(name);
            let Some(table) = tables.load(&ident).await? else {
                bail!(
                    "{}: no table {ident} yet (lakeline table sync creates it)",
                    tables.label()
                );
            };
            let view = lakeline_table::show::show(&table).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print!("{}", render(&view));
            }
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::History { on, json } => {
            let reg = on.registry(&load)?;
            let (name, _) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let table = tables.load_table(&tables.ident(name)).await?;
            let view = lakeline_table::show::show(&table).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view.snapshots)?);
            } else {
                print!("{}", render_history(&view.snapshots));
            }
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::Compact {
            on,
            target_size,
            dry_run,
            include_open,
            json,
        } => {
            let reg = on.registry(&load)?;
            let (name, ds) = on.dataset(&reg)?;
            let mut settings = ds.compaction.clone().unwrap_or_default();
            if let Some(size) = target_size {
                settings.target_file_size = size.try_into().map_err(anyhow::Error::msg)?;
            }
            if include_open {
                settings.grace_days = 0;
                settings.quiet_minutes = 0;
            }
            let tables = on.tables().await?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
            let mut phases = crate::progress::Phases::new("table compact");
            let done = lakeline_table::maintain::compact(
                &tables,
                &tables.ident(name),
                &settings,
                now,
                None,
                dry_run,
                &mut phases,
            )
            .await?;
            phases.finish();
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                print!("{}", render_compacted(&done, dry_run));
            }
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::RewritePlan {
            on,
            partition,
            out,
            include_open,
        } => {
            let reg = on.registry(&load)?;
            let (name, ds) = on.dataset(&reg)?;
            let mut settings = ds.compaction.clone().unwrap_or_default();
            if include_open {
                settings.grace_days = 0;
                settings.quiet_minutes = 0;
            }
            let tables = on.tables().await?;
            let table = tables.load_table(&tables.ident(name)).await?;
            let files = lakeline_table::maintain::live_files(&table).await?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64;
            let partition = match partition {
                Some(p) => Some(p),
                None => lakeline_table::maintain::plan_compaction(
                    &files,
                    table.metadata().default_partition_spec_id(),
                    &settings,
                    now,
                )
                .into_iter()
                .find(|p| !p.groups.is_empty())
                .map(|p| p.report.partition),
            };
            let root = std::path::absolute(&out)?.join(tables.ident(name).to_string());
            let plan = match &partition {
                Some(p) => lakeline_table::spark::plan(
                    &table,
                    name.as_str(),
                    &files,
                    p,
                    &settings,
                    now,
                    &root.display().to_string(),
                )?,
                None => None,
            };
            let Some(plan) = plan else {
                println!(
                    "{}",
                    serde_json::json!({"status": "NOTHING_DUE", "partition": partition})
                );
                return Ok(ExitCode::SUCCESS);
            };
            let at = PathBuf::from(plan.location());
            std::fs::create_dir_all(at.parent().expect("a plan is in a folder"))?;
            std::fs::write(&at, serde_json::to_vec_pretty(&plan)?)?;
            let mut shown = serde_json::to_value(&plan)?;
            shown["status"] = "PLANNED".into();
            shown["plan"] = at.display().to_string().into();
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::RewriteCommit { on, plan, engine } => {
            let reg = on.registry(&load)?;
            let (name, _) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let text = std::fs::read(&plan).with_context(|| plan.display().to_string())?;
            let plan: lakeline_table::spark::RewritePlan = serde_json::from_slice(&text)
                .with_context(|| format!("{}: not a rewrite plan", plan.display()))?;
            let snapshot = lakeline_table::local::commit_rewrite_files(
                &tables,
                &tables.ident(name),
                &plan,
                &engine,
                Some("lakeline table rewrite-commit"),
            )
            .await?;
            println!(
                "{}",
                serde_json::json!({"status": "COMPACTED", "snapshot_id": snapshot,
                    "partition": plan.partition, "files_in": plan.inputs.len(), "rows": plan.rows})
            );
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::Erase {
            on,
            filter,
            dry_run,
            include_raw,
            lake,
        } => {
            let conds = lakeline_core::erase::parse_where(&filter)
                .map_err(|e| anyhow::anyhow!("--where {filter:?}: {e}"))?;
            let reg = on.registry(&load)?;
            let (name, ds) = on.dataset(&reg)?;
            // The bucket first: an erase that cannot reach the uploads must not half happen.
            let raw = match (include_raw, lake, on.target.stack()) {
                (false, _, _) => None,
                (true, Some(b), _) => Some(b),
                (true, None, Some(stack)) => {
                    let conf = lakeline_aws::sdk_config().await;
                    let outputs = crate::stack::StackOutputs::read(&conf, stack).await?;
                    Some(outputs.get("LakeBucketName")?.to_string())
                }
                (true, None, None) => anyhow::bail!(
                    "--include-raw deletes uploads from the lake bucket: give --stack NAME or --lake BUCKET"
                ),
            };
            let tables = on.tables().await?;
            let mut phases = crate::progress::Phases::new("table erase");
            let done = lakeline_table::erase::erase(
                &tables,
                &tables.ident(name),
                &conds,
                dry_run,
                &mut phases,
            )
            .await?;
            phases.finish();
            let mut out = serde_json::to_value(&done)?;
            if let Some(bucket) = raw {
                let conf = lakeline_aws::sdk_config().await;
                let s3 = lakeline_aws::s3_client(&conf);
                let lake = crate::erase_raw::Lake {
                    s3: &s3,
                    bucket: &bucket,
                    reg: &reg,
                    dataset: name.as_str(),
                    ds,
                };
                match crate::erase_raw::erase_raw(&lake, &conds, &done, dry_run).await {
                    Ok(uploads) => out["uploads"] = serde_json::to_value(&uploads)?,
                    Err(e) => {
                        // The table's erase is committed already: say so before the failure.
                        println!("{}", serde_json::to_string_pretty(&out)?);
                        return Err(e.context(
                            "the rows left the table (above); deleting the uploads that hold them failed: a second run finds the quarantined ones again, but the raw keys only under `sources` above, since their rows are gone",
                        ));
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::Rollback { on, to, dry_run } => {
            let reg = on.registry(&load)?;
            let (name, _) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let done =
                lakeline_table::maintain::rollback(&tables, &tables.ident(name), to, dry_run)
                    .await?;
            let mut out = serde_json::to_value(&done)?;
            // On a stack, the stack's alert topic hears of it: nothing leaves a table silently.
            if let (true, Some(stack)) = (done.committed, on.target.stack()) {
                let conf = lakeline_aws::sdk_config().await;
                let outputs = crate::stack::StackOutputs::read(&conf, stack).await?;
                out["alerted"] = alert_rollback(&conf, &outputs, name.as_str(), &done)
                    .await?
                    .into();
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::Expire {
            on,
            older_than_days,
            keep,
            dry_run,
        } => {
            let reg = on.registry(&load)?;
            let (name, _) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as i64;
            let before = now_ms - (older_than_days * 86_400_000.0) as i64;
            let done = lakeline_table::maintain::expire(
                &tables,
                &tables.ident(name),
                before,
                keep,
                dry_run,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&done)?);
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::RemoveOrphans {
            on,
            older_than_days,
            dry_run,
        } => {
            let reg = on.registry(&load)?;
            let (name, _) = on.dataset(&reg)?;
            let tables = on.tables().await?;
            let ident = tables.ident(name);
            let table = tables.load_table(&ident).await?;
            let listed = tables.list_files(&table).await?;
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as i64;
            let done = lakeline_table::maintain::remove_orphans(
                &tables,
                &ident,
                listed,
                now_ms - (older_than_days * 86_400_000.0) as i64,
                dry_run,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&done)?);
            Ok(ExitCode::SUCCESS)
        }
        TableCmd::Undo { on, key, dry_run } => {
            let reg = on.registry(&load)?;
            let (name, ds) = on.dataset(&reg)?;
            let date = lakeline_table::local::key_date(ds, &key)?;
            let tables = on.tables().await?;
            let done = lakeline_table::maintain::undo(
                &tables,
                &tables.ident(name),
                &key,
                date,
                None,
                dry_run,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&done)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Tells the stack's alert topic (output `AlertTopicArn`) what a committed rollback dropped
/// ([`lakeline_core::alert::rollback_alert`]); the message id.
pub async fn alert_rollback(
    conf: &aws_config::SdkConfig,
    outputs: &crate::stack::StackOutputs,
    dataset: &str,
    done: &lakeline_table::maintain::RolledBack,
) -> anyhow::Result<String> {
    let topic = outputs.alert_topic()?;
    let dropped: Vec<lakeline_core::alert::DroppedSnapshot> = done
        .dropped
        .iter()
        .map(|d| lakeline_core::alert::DroppedSnapshot {
            snapshot_id: d.snapshot_id,
            operation: d.operation.clone(),
            sources: d.sources.clone(),
            rewrite: d.rewrite.clone(),
        })
        .collect();
    let alert = lakeline_core::alert::rollback_alert(dataset, &done.table, done.to, &dropped);
    lakeline_aws::publish_alert(&aws_sdk_sns::Client::new(conf), topic, &alert)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "the rollback is committed, but its alert to {topic} failed: {}",
                lakeline_aws::describe(&e)
            )
        })
}

/// `history` for people: one line per snapshot.
fn render_history(snaps: &[lakeline_table::show::SnapshotView]) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "{:<20} {:<9} {:>8} {:>8} {:<8} what\n",
        "snapshot", "operation", "+rows", "-rows", "engine"
    );
    for snap in snaps {
        let what = match snap.rewrite.as_deref() {
            Some(r @ ("undo" | "withdraw")) => format!("{r} {}", snap.removed_sources.join(", ")),
            Some("erase") => format!("erase where {}", snap.erased_columns.join(", ")),
            Some(r) => r.to_string(),
            None if snap.sources.is_empty() => "-".to_string(),
            None => snap.sources.join(", "),
        };
        let _ = writeln!(
            s,
            "{:<20} {:<9} {:>8} {:>8} {:<8} {}",
            snap.snapshot_id,
            snap.operation,
            snap.added_rows,
            snap.deleted_rows,
            snap.engine.as_deref().unwrap_or("-"),
            cut_left(&what, 42)
        );
    }
    s
}

/// `compact` for people: the plan per partition, then the outcome.
fn render_compacted(c: &lakeline_table::maintain::Compacted, dry_run: bool) -> String {
    use std::fmt::Write;
    let mut s = format!("table {}\n", c.table);
    for p in &c.partitions {
        let r = &p.report;
        let _ = writeln!(
            s,
            "{:<28} {:>5} files {:>5} small  {:<8} {}",
            r.partition,
            r.files,
            r.small_files,
            r.decision_text(),
            r.reason
        );
    }
    let groups: usize = c.partitions.iter().map(|p| p.groups.len()).sum();
    let _ = if dry_run {
        writeln!(
            s,
            "dry run: {groups} group(s) would be rewritten; nothing was written"
        )
    } else if c.committed {
        writeln!(
            s,
            "compacted: {} files into {} ({} rows), snapshot {}",
            c.files_in,
            c.files_out,
            c.rows,
            c.snapshot_id.unwrap_or_default()
        )
    } else {
        writeln!(s, "nothing was due: no snapshot")
    };
    s
}

/// `show` for people: the table in a few lines, then one line per snapshot (fits 100 columns;
/// long keys are cut from the left, where they repeat the dataset's prefix).
fn render(v: &lakeline_table::show::TableView) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "table     {}", v.table);
    let _ = writeln!(s, "metadata  {}", v.metadata_location);
    let _ = writeln!(
        s,
        "now       {} rows in {} data files, snapshot {}",
        v.rows,
        v.data_files,
        v.snapshot_id.map_or("none".into(), |i| i.to_string())
    );
    let _ = writeln!(
        s,
        "\n{:<20} {:<9} {:>9} {:>9}  sources",
        "snapshot", "operation", "+rows", "-rows"
    );
    for snap in &v.snapshots {
        let sources = if snap.sources.is_empty() {
            "-".to_string()
        } else {
            snap.sources.join(", ")
        };
        let _ = writeln!(
            s,
            "{:<20} {:<9} {:>9} {:>9}  {}",
            snap.snapshot_id,
            snap.operation,
            snap.added_rows,
            snap.deleted_rows,
            cut_left(&sources, 48)
        );
    }
    s
}

fn cut_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--include-raw` deletes from a lake bucket: without one named (`--stack`, `--lake`) the
    /// command stops before it erases anything, and says what to give.
    #[tokio::test]
    async fn erase_include_raw_without_a_lake_stops_before_erasing() {
        let dir = std::env::temp_dir().join(format!("lakeline-erase-{}", std::process::id()));
        let cmd = TableCmd::Erase {
            on: DatasetTable {
                dataset: "orders".into(),
                target: TargetArgs {
                    warehouse: Some(dir.clone()),
                    catalog: None,
                    stack: None,
                    pending: None,
                },
                config: "config/datasets.yaml".into(),
            },
            filter: "customer = 'Anna Müller'".into(),
            dry_run: false,
            include_raw: true,
            lake: None,
        };
        let load = |_: &Path| -> anyhow::Result<Registry> {
            lakeline_core::placeholders::load(
                include_str!("../../config/datasets.yaml"),
                "config/datasets.yaml",
                &Default::default(),
            )
            .map_err(Into::into)
        };
        let err = run(cmd, load).await.unwrap_err().to_string();
        assert!(
            err.contains("--include-raw") && err.contains("--stack NAME or --lake BUCKET"),
            "{err}"
        );
        assert!(!dir.exists(), "no table was opened, nothing erased");
    }
}
