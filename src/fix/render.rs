//! Showing a [`FixPlan`]: the unified diff for `--dry-run` (values never shown), the summary of
//! what was done, and the warnings and errors (for stderr).

use super::{diff, envfile, slash, EnvValue, FixPlan};

impl FixPlan {
    /// Unified diff of every change, for `--dry-run`. `.env` values are not shown.
    pub fn diff(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            out.push_str(&diff::unified(&slash(&f.path), f.old.as_deref(), &f.new));
        }
        for e in &self.env_files {
            // Values never reach the terminal: existing ones are masked, new ones described.
            let old = e.old.as_deref().map(mask_env);
            let mut new = old.clone().unwrap_or_default();
            for var in &e.regenerate {
                new = envfile::set_value(&new, var, &format!("{var}=<new random key>\n"));
            }
            if !e.entries.is_empty() {
                new = envfile::append(&new, "# Added by keysweep fix\n");
            }
            for entry in &e.entries {
                let shown = match &entry.value {
                    EnvValue::NewSecretKey => "<new random key>".to_owned(),
                    EnvValue::Literal(_) => format!("<value from {}>", entry.from),
                };
                new.push_str(&format!("{}={shown}\n", entry.var));
            }
            out.push_str(&diff::unified(&slash(&e.path), old.as_deref(), &new));
        }
        for u in &self.untrack {
            out.push_str(&format!("git rm --cached -- {}\n", slash(u)));
        }
        out
    }

    /// What was (or would be) done, one line each. Warnings and errors are in [`Self::problems`].
    pub fn summary(&self) -> String {
        let mut out = String::new();
        if self.is_empty() {
            out.push_str("Nothing to fix: no credential literals in Django settings and no committed env files.\n");
        }
        for m in &self.moved {
            let what = match (m.regenerated, m.was_default) {
                (true, true) => "literal default dropped; new random value in",
                (true, false) => "new random value in",
                (false, true) => "literal default dropped; value moved to",
                (false, false) => "value moved to",
            };
            out.push_str(&format!(
                "{}:{}: {} -> ${} ({what} {})\n",
                slash(&m.path),
                m.line,
                m.setting,
                m.var,
                slash(&m.env_file)
            ));
        }
        for n in &self.notes {
            out.push_str(n);
            out.push('\n');
        }
        for e in self.env_files.iter().filter(|e| e.old.is_none()) {
            out.push_str(&format!(
                "{}: new file, mode 0600, git-ignored\n",
                slash(&e.path)
            ));
        }
        for e in self.env_files.iter().filter(|e| !e.regenerate.is_empty()) {
            out.push_str(&format!(
                "{}: {} given a new random value (the committed one is leaked)\n",
                slash(&e.path),
                e.regenerate.join(", ")
            ));
        }
        if !self.moved.is_empty() || !self.untrack.is_empty() {
            out.push_str(
                "Next: rotate every moved credential (the old values are in git history), then \
                 `keysweep purge-plan` to purge them. The leaked SECRET_KEY must not go into \
                 SECRET_KEY_FALLBACKS.\n",
            );
        }
        if !self.untrack.is_empty() {
            out.push_str(&format!(
                "Staged: `git rm --cached` of {}; commit it together with .gitignore.\n",
                self.untrack
                    .iter()
                    .map(|p| slash(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }

    /// `warning: ...` and `error: ...` lines, for stderr.
    pub fn problems(&self) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        for e in &self.errors {
            out.push_str(&format!("error: {e}\n"));
        }
        out
    }
}

/// `.env` text with every value replaced by `<hidden>`.
fn mask_env(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| match l.split_once('=') {
            Some((name, _)) if !l.trim_start().starts_with('#') => {
                format!(
                    "{name}=<hidden>{}",
                    if l.ends_with('\n') { "\n" } else { "" }
                )
            }
            _ => l.to_owned(),
        })
        .collect()
}
