//! keysweep finds leaked secrets in files and git history and tells you how to clean up.
//!
//! Data flows one way (shared/DESIGN.md): `source` (working tree, git object database, stdin)
//! produces blobs → `matcher` (keyword prefilter, regex confirmation, filters) → `finding`
//! (located, fingerprinted records) → `provenance` (commits and paths, for history) → `report`
//! (human, JSON, SARIF). `scan` wires the stages; `rules` holds the detection rules, which are data
//! in `patterns/*.yaml`; `remediation` builds the clean-up steps; `text` (escaping and masking of
//! what is shown) sits at the bottom with `error`.

pub mod blob;
pub mod cache;
pub mod ci;
pub mod cli;
pub mod config;
pub mod context;
pub mod decode;
pub mod error;
pub mod finding;
pub mod fix;
pub mod group;
pub mod hook;
pub mod matcher;
pub mod merge;
pub mod provenance;
pub mod purge;
pub mod remediation;
pub mod report;
pub mod rules;
pub mod rules_check;
pub mod scan;
pub mod source;
pub mod suppress;
pub mod text;

pub use error::{Error, Result};
