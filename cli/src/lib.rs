//! The `lakeline` command's library: the parts integration tests drive directly.

pub mod again;
pub mod erase_raw;
pub mod progress;
pub mod registry;
pub mod reprocess;
pub mod stack;
pub mod status;
pub mod table;
