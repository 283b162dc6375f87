//! Helpers shared by the integration tests: running the real binary (`cmd`).

pub mod cmd;
pub mod repo;
