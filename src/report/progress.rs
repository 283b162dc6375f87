//! The progress bar on stderr for long scans: blobs and bytes done, rate, ETA. Shown only when
//! stderr is a terminal and the scan is not `--quiet`; otherwise every call is a no-op, so sources
//! can report progress unconditionally.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of a sweep over a known or unknown number of blobs.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress bar over `total` items (`None`: unknown), shown only if `enabled` and stderr is
    /// a terminal.
    pub fn new(label: &str, total: Option<u64>, enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let template = if total.is_some() {
            "{prefix} [{bar:30}] {human_pos}/{human_len} blobs, {msg} ({per_sec}, ETA {eta})"
        } else {
            "{prefix} {spinner} {human_pos} blobs, {msg} ({per_sec})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// A progress bar that never shows.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Records `blobs` more blobs done, with the running byte total for the message.
    pub fn inc(&self, blobs: u64, total_bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(blobs);
            bar.set_message(super::human_bytes(total_bytes));
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
