//! lakeline's integration and end-to-end tests, against the local AWS emulator (moto server
//! behind the router, `scripts/local-aws`): one test binary, one module per area.
//!
//! One binary rather than one per file: each test binary links the AWS SDK, Arrow and Iceberg
//! (about 170 MB each in a debug build), so eighteen of them cost minutes of linking and
//! gigabytes of disk for nothing. The scale test (`tests/scale.rs`) stays apart: `make test`
//! runs it alone, after this suite.
//!
//! Run one area: `scripts/local-aws run cargo test -p lakeline-tests --test it tables::`.

mod again;
mod check_compaction;
mod compaction;
mod curate;
mod erase;
mod faults;
mod notify_failure;
mod pipeline;
mod readers;
mod registry_live;
mod registry_push;
mod reprocess;
mod s3tables;
mod smoke_lambda;
mod start_job;
mod status;
mod tables;
mod validate_upload;
