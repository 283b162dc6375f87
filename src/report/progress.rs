//! The progress line on stderr for long scans: file contents and bytes read so far and the rate in
//! bytes per second. Shown only when stderr is a terminal and the scan is not `--quiet`; otherwise
//! every call is a no-op, so sources can report progress unconditionally.
//!
//! The history sweep does not know in advance how many blobs it will meet (a pack index counts
//! commits and trees too, and duplicates), so the line counts up without a total: a total that
//! counted other things than the count would make the bar and the ETA wrong.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of a sweep over a known or unknown number of blobs.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress line labelled `label`, shown only if `enabled` and stderr is a terminal.
    pub fn new(label: &str, enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        // Position is bytes; the message carries the count of contents.
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} {spinner} {msg}, {binary_bytes} ({binary_bytes_per_sec}, {elapsed})",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// A progress bar that never shows.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Records the running totals: distinct contents read and their bytes.
    pub fn set(&self, contents: u64, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{contents} file versions"));
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
