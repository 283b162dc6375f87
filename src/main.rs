//! The binary: parse arguments, run, map the outcome to an exit code. Nothing else.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use keysweep::cli::{CiCommand, Cli, Command, MergeFormat, RulesCommand};
use keysweep::report::{reporter, Diagnostics, ReportContext};
use keysweep::rules::{self, RuleSet};

/// The exit codes, documented in `--help`.
#[derive(Debug, Clone, Copy)]
enum Exit {
    /// Finished, nothing to report.
    Clean = 0,
    /// Findings (or, for `rules check`, problems).
    Findings = 1,
    /// Could not run, or something could not be read.
    Error = 2,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Error as u8
            } else {
                Exit::Clean as u8
            });
        }
    };
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    };
    ExitCode::from(code as u8)
}

fn run(cli: Cli) -> keysweep::Result<Exit> {
    match cli.command {
        Command::Scan(args) => {
            let output = args.output.clone();
            let config = args.into_config()?;
            // Opened before the scan, so a bad `-o` (a directory, no permission) fails at once.
            let report_file = output.as_deref().map(open_private).transpose()?;
            let diags = Diagnostics::new(config.quiet);
            let outcome = keysweep::scan::run(&config, &diags)?;
            let ctx = ReportContext {
                rules: &config.rules,
                show_secrets: config.show_secrets,
            };
            let mut out: Box<dyn Write> = match report_file {
                Some(file) => Box::new(std::io::BufWriter::new(file)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            reporter(config.format).write(&outcome.findings, &ctx, &mut out)?;
            out.flush()?;
            Ok(if diags.has_errors() {
                Exit::Error
            } else if outcome.findings.is_empty() {
                Exit::Clean
            } else {
                Exit::Findings
            })
        }
        Command::Fix(args) => {
            let input = keysweep::fix::FixInput::load(&args.path)?;
            let opts = keysweep::fix::FixOptions {
                style: args.style.into(),
            };
            let plan = keysweep::fix::plan(&input, &opts);
            let mut out = std::io::stdout().lock();
            if args.dry_run {
                write!(out, "{}{}", plan.diff(), plan.summary())?;
            } else {
                let applied = keysweep::fix::apply(&plan)?;
                write!(out, "{}", plan.summary())?;
                for w in &applied.warnings {
                    writeln!(out, "warning: {w}")?;
                }
            }
            Ok(Exit::Clean)
        }
        Command::PurgePlan(args) => {
            use keysweep::purge::{self, PurgePlan, PurgeSecret};
            let config = args.scan_config()?;
            let diags = Diagnostics::new(true);
            let outcome = keysweep::scan::run(&config, &diags)?;
            let secrets: Vec<PurgeSecret<'_>> = outcome
                .findings
                .iter()
                .map(|f| PurgeSecret {
                    secret: &f.secret,
                    rule_id: f.rule_id.as_str(),
                    path: f.path.as_deref(),
                    commit: f.commit.as_deref(),
                    matched: Some(&f.matched),
                })
                .collect();
            let plan = PurgePlan::new(&secrets);
            let mut out = std::io::stdout().lock();
            if plan.secrets == 0 {
                write!(
                    out,
                    "{}",
                    plan.instructions(
                        &purge::Target::detect(&args.path),
                        std::path::Path::new("-")
                    )
                )?;
                return Ok(if diags.has_errors() {
                    Exit::Error
                } else {
                    Exit::Clean
                });
            }
            let file = args
                .out
                .clone()
                .unwrap_or_else(|| purge::default_out(&args.path));
            let file =
                purge::write_expressions(&file, &plan).map_err(|source| keysweep::Error::Path {
                    path: file.clone(),
                    source,
                })?;
            let target = purge::Target::detect(&args.path);
            write!(out, "{}", plan.instructions(&target, &file))?;
            Ok(if diags.has_errors() {
                Exit::Error
            } else {
                Exit::Findings
            })
        }
        Command::Ci(CiCommand::Github(args)) => {
            let runner = keysweep::ci::Runner::from_env().with_overrides(
                args.workspace.clone(),
                args.event.clone(),
                args.repository.clone(),
            );
            let opts = keysweep::ci::GithubOptions {
                sarif_file: args.sarif_file.clone(),
                json_file: args.json_file.clone(),
                fail_on_findings: args.fail_on_findings,
            };
            let mut out = std::io::stdout().lock();
            let outcome =
                keysweep::ci::run_github(&runner, &opts, |ws| args.scan_config(ws), &mut out)?;
            out.flush()?;
            Ok(if outcome.errors {
                Exit::Error
            } else if outcome.fail {
                Exit::Findings
            } else {
                Exit::Clean
            })
        }
        Command::Merge(args) => {
            let inputs: Vec<keysweep::merge::MergeInput> = args
                .reports
                .iter()
                .map(|r| keysweep::merge::MergeInput::parse(r))
                .collect();
            let report = keysweep::merge::merge(&inputs)?;
            let text = match args.format {
                MergeFormat::Json => {
                    serde_json::to_string_pretty(&report).map_err(std::io::Error::other)? + "\n"
                }
                MergeFormat::Markdown => report.markdown(),
            };
            match &args.output {
                Some(path) => {
                    std::fs::write(path, text).map_err(|source| keysweep::Error::Path {
                        path: path.clone(),
                        source,
                    })?
                }
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(if report.secrets.is_empty() {
                Exit::Clean
            } else {
                Exit::Findings
            })
        }
        Command::Rules(RulesCommand::List(sel)) => {
            let (set, _) = keysweep::config::load_rules(&sel.to_options(), None)?;
            print_rule_list(&set)?;
            Ok(Exit::Clean)
        }
        Command::Rules(RulesCommand::Keywords(sel)) => {
            let (set, _) = keysweep::config::load_rules(&sel.to_options(), None)?;
            let mut keywords: Vec<String> = set
                .rules()
                .iter()
                .flat_map(|r| {
                    r.keywords.iter().map(move |k| {
                        if r.ignore_case {
                            format!("i {}", k.to_ascii_lowercase())
                        } else {
                            format!("s {k}")
                        }
                    })
                })
                .collect();
            keywords.sort();
            keywords.dedup();
            let mut out = std::io::stdout().lock();
            for k in keywords {
                writeln!(out, "{k}")?;
            }
            Ok(Exit::Clean)
        }
        Command::Rules(RulesCommand::Check { files }) => {
            let files = if files.is_empty() {
                rules::embedded_rule_files()
            } else {
                RuleSet::read_files(&files)?
            };
            let report = rules::check::check_files(&files);
            if report.problems.is_empty() {
                println!(
                    "ok: {} file(s), {} rule(s), every example checked",
                    files.len(),
                    report.rules
                );
                Ok(Exit::Clean)
            } else {
                for p in &report.problems {
                    println!("{p}");
                }
                println!("{} problem(s)", report.problems.len());
                Ok(Exit::Findings)
            }
        }
    }
}

/// Creates (or truncates) a report file readable by its owner only: reports can hold secrets in
/// full.
fn open_private(path: &std::path::Path) -> keysweep::Result<std::fs::File> {
    let err = |source| keysweep::Error::Path {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        return Err(err(std::io::Error::other(
            "is a directory, not a file (-o)",
        )));
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path).map_err(err)?;
        // An existing file keeps its mode on open: narrow it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path).map_err(err)
}

fn print_rule_list(set: &RuleSet) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for r in set.rules() {
        writeln!(
            out,
            "{:<44} {:<9} {:<7} {}",
            r.id.as_str(),
            r.severity.as_str(),
            r.confidence.as_str(),
            r.name
        )?;
    }
    Ok(())
}
