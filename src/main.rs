//! The binary: parse arguments, run, map the outcome to an exit code. Nothing else.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use keysweep::cli::{
    BaselineCommand, CiCommand, Cli, Command, ConfigCommand, HookCommand, MergeFormat, RulesCommand,
};
use keysweep::hook::install::{self, HookName};
use keysweep::hook::Verdict;
use keysweep::report::{reporter, Diagnostics, Format, ReportContext};
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
            // Line by line: a message may list several problems, and each line may name a path.
            let text = e.to_string();
            let lines: Vec<_> = text.lines().map(keysweep::text::escape).collect();
            eprintln!("error: {}", lines.join("\n"));
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
            if let Some(id) = &config.explain {
                if !config.rules.rules().iter().any(|r| r.id.as_str() == id) {
                    return Err(keysweep::Error::Config(format!(
                        "--explain {id}: no such rule (`keysweep rules list` lists them)"
                    )));
                }
            }
            let scan_root = keysweep::scan::scan_root(&config);
            let human = config.format == Format::Human;
            if !human {
                diags.summary(&outcome.totals, outcome.findings.len());
            }
            let ctx = ReportContext {
                show_secrets: config.show_secrets,
                present: outcome.present.as_deref(),
                totals: (!config.quiet).then_some(&outcome.totals),
                color: config.color.resolve(output.is_none()),
                verbose: config.verbose,
                explain: config.explain.as_deref(),
                ..ReportContext::new(&config.rules, &scan_root)
            };
            let mut out: Box<dyn Write> = match report_file {
                Some(file) => Box::new(std::io::BufWriter::new(file)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            reporter(config.format).write(&outcome.findings, &ctx, &mut out)?;
            out.flush()?;
            for entry in &outcome.unused_suppressions {
                eprintln!("unused suppression: {entry}");
            }
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
            let mut plan = keysweep::fix::plan(&input, &opts);
            keysweep::fix::report_leftovers(&mut plan, &input);
            let mut out = std::io::stdout().lock();
            if args.dry_run {
                write!(out, "{}{}", plan.diff(), plan.summary())?;
                eprint!("{}", plan.problems());
            } else {
                let applied = keysweep::fix::apply(&plan)?;
                write!(out, "{}", plan.summary())?;
                eprint!("{}", plan.problems());
                for w in &applied.warnings {
                    eprintln!("warning: {w}");
                }
            }
            Ok(if plan.errors.is_empty() {
                Exit::Clean
            } else {
                Exit::Error
            })
        }
        Command::PurgePlan(args) => {
            use keysweep::purge::{self, PurgePlan, PurgeSecret};
            // No history, nothing to purge: refuse before scanning or writing anything.
            let git_dir =
                purge::git_dir(&args.path).ok_or_else(|| keysweep::Error::NotARepository {
                    path: args.path.clone(),
                })?;
            let config = args.scan_config()?;
            let diags = Diagnostics::new(true);
            let outcome = keysweep::scan::run(&config, &diags)?;
            let secrets: Vec<PurgeSecret<'_>> = outcome
                .findings
                .iter()
                // A decoded secret is not in the files as such: its encoded text is purged.
                .map(|f| PurgeSecret {
                    secret: f.encoded.as_deref().unwrap_or(&f.secret),
                    rule_id: f.rule_id.as_str(),
                    path: f.path.as_deref(),
                    commit: f.commit.as_deref(),
                    matched: f.encoded.is_none().then_some(f.matched.as_str()),
                    binary: f.binary,
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
                .unwrap_or_else(|| purge::default_out(&git_dir));
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
        Command::Explain(args) => {
            let (set, _) = keysweep::config::load_rules(&args.rules.to_options(), None)?;
            let Some(rule) = set.rules().iter().find(|r| r.id.as_str() == args.rule_id) else {
                return Err(keysweep::Error::Config(format!(
                    "{}: no such rule (`keysweep rules list` lists them)",
                    args.rule_id
                )));
            };
            let color = keysweep::report::ColorChoice::Auto.resolve(true);
            let mut out = std::io::stdout().lock();
            keysweep::report::human::write_explain(&mut out, &set, rule, color)?;
            Ok(Exit::Clean)
        }
        Command::Hook(cmd) => run_hook(cmd),
        Command::Baseline(BaselineCommand::Create {
            file,
            path,
            no_history,
            rules,
        }) => {
            let config = keysweep::cli::ScanArgs {
                path: path.clone(),
                format: keysweep::cli::FormatArg::Json,
                quiet: true,
                no_history,
                rules,
                ..Default::default()
            }
            .into_config()?;
            let diags = Diagnostics::new(true);
            let outcome = keysweep::scan::run(&config, &diags)?;
            let file = file.unwrap_or_else(|| {
                let dir = if path.is_dir() {
                    path.clone()
                } else {
                    ".".into()
                };
                dir.join(keysweep::suppress::BASELINE_FILE_NAME)
            });
            let n = keysweep::suppress::write_baseline(&file, &outcome.findings)?;
            println!(
                "wrote {}: {n} known finding(s) (fingerprints only, no secrets)",
                file.display()
            );
            Ok(if diags.has_errors() {
                Exit::Error
            } else {
                Exit::Clean
            })
        }
        Command::Ignore(args) => {
            let file = args.repo.join(keysweep::suppress::IGNORE_FILE_NAME);
            let n = keysweep::suppress::append_ignores(
                &file,
                &args.fingerprints,
                args.path.as_deref(),
                args.reason.as_deref(),
            )?;
            println!(
                "{}: {n} entr{} added",
                file.display(),
                if n == 1 { "y" } else { "ies" }
            );
            Ok(Exit::Clean)
        }
        Command::Config(ConfigCommand::Init { dir, force }) => {
            let file = dir.join(keysweep::config::CONFIG_FILE_NAME);
            if file.exists() && !force {
                return Err(keysweep::Error::Config(format!(
                    "{}: already exists (--force overwrites it)",
                    file.display()
                )));
            }
            std::fs::write(&file, keysweep::config::STARTER_CONFIG).map_err(|source| {
                keysweep::Error::Path {
                    path: file.clone(),
                    source,
                }
            })?;
            println!("wrote {}", file.display());
            Ok(Exit::Clean)
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
            let report = keysweep::rules_check::check_files(&files);
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

fn run_hook(cmd: HookCommand) -> keysweep::Result<Exit> {
    let verdict = match cmd {
        HookCommand::Install(args) => {
            let dir = install::hooks_dir(&args.repo)?;
            let exe = std::env::current_exe()?;
            for hook in hook_names(&args) {
                println!("{}", install::install(&dir, hook, &exe, args.force)?);
            }
            return Ok(Exit::Clean);
        }
        HookCommand::Uninstall(args) => {
            let dir = install::hooks_dir(&args.repo)?;
            for hook in hook_names(&args) {
                println!("{}", install::uninstall(&dir, hook)?);
            }
            return Ok(Exit::Clean);
        }
        HookCommand::PrePush { remote, scan, .. } => {
            keysweep::hook::pre_push(remote.as_deref(), &|root, mode| {
                scan.scan_config(root, mode)
            })?
        }
        HookCommand::PreCommit { scan } => {
            keysweep::hook::pre_commit(&|root, mode| scan.scan_config(root, mode))?
        }
        HookCommand::PreReceive { scan } => {
            keysweep::hook::pre_receive(&|root, mode| scan.scan_config(root, mode))?
        }
        HookCommand::Update {
            refname,
            old,
            new,
            scan,
        } => keysweep::hook::update(&refname, &old, &new, &|root, mode| {
            scan.scan_config(root, mode)
        })?,
    };
    Ok(match verdict {
        Verdict::Pass => Exit::Clean,
        Verdict::Refuse => Exit::Findings,
        Verdict::Error => Exit::Error,
    })
}

fn hook_names(args: &keysweep::cli::HookInstallArgs) -> Vec<HookName> {
    if args.pre_receive {
        vec![HookName::PreReceive]
    } else if args.both {
        vec![HookName::PrePush, HookName::PreCommit]
    } else if args.pre_commit {
        vec![HookName::PreCommit]
    } else {
        vec![HookName::PrePush]
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
