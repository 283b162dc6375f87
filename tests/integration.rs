//! The one integration test binary (STYLE.md: `autotests = false`, one `[[test]]`). Each module
//! covers one area and runs the real `keysweep` binary or the library's public API.

mod action;
mod cache;
mod cli;
mod context;
mod decode;
mod django_corpus;
mod fix;
mod fix_projects;
mod gitleaks_config;
mod history;
mod hooks;
mod hostile;
mod large_blobs;
mod merge;
mod precision;
mod purge;
mod report;
mod rules;
mod sarif;
mod util;
mod workflows;
