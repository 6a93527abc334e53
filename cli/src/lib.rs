//! The `lakeline` command's library: the parts integration tests drive directly.

pub mod again;
pub mod registry;
pub mod stack;
pub mod table;
