//! The command line: `hunkscan scan`, `hunkscan rules test`,
//! `hunkscan advisories sync` and `hunkscan serve` (the GitHub App).
//!
//! Exit codes follow linters: 0 nothing at or above `--fail-on`, 1 findings,
//! 2 an error (bad flag, missing repository, bad revision, bad rule).

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hunkscan::engine::sast::DEFAULT_PARSE_TIMEOUT;
use hunkscan::engine::secrets::{DEFAULT_FINGERPRINT_KEY, SecretsOptions};
use hunkscan::engine::{DEFAULT_FILE_DEADLINE, Severity};
use hunkscan::pipeline::{self, Analyzers, Options, Pipeline};
use hunkscan::report;
use hunkscan::{local, ruletest};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Parser)]
#[command(
    name = "hunkscan",
    version,
    about = "Security review of the lines a change adds"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan the changes between two revisions (or two directory trees).
    Scan(ScanArgs),
    /// Work with the rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Work with the OSV advisory database dependency review uses.
    #[command(subcommand)]
    Advisories(AdvisoriesCommand),
    /// Run the GitHub App: receive webhooks on $PORT and review pull requests.
    /// Settings come from the environment (and a .env file); see the README.
    Serve {
        /// A folder laid out like `rules/` whose rules add to or replace the embedded ones.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check every rule against its own valid/invalid examples.
    Test {
        /// A folder laid out like `rules/` whose rules add to or replace the embedded ones.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
    },
    /// List the rules with their severity and CWE.
    List {
        /// A folder laid out like `rules/` whose rules add to or replace the embedded ones.
        #[arg(long, value_name = "DIR")]
        rules: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AdvisoriesCommand {
    /// Download OSV's per-ecosystem exports (`all.zip`) into the database
    /// directory; the base URL is $HUNKSCAN_OSV_URL when set.
    Sync {
        /// The database directory [default: $HUNKSCAN_ADVISORY_DB, else the user cache directory].
        #[arg(long, value_name = "DIR")]
        db: Option<PathBuf>,
        /// Only these ecosystems (OSV's names: crates.io, npm, PyPI, Go, RubyGems, Packagist) [default: all].
        #[arg(long, value_name = "NAME")]
        ecosystem: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Args)]
struct ScanArgs {
    /// The git repository (any directory inside its work tree).
    #[arg(long, value_name = "PATH", default_value = ".")]
    repo: PathBuf,
    /// The revision the change is compared against.
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    base: String,
    /// The revision holding the change; scanned as `git diff BASE...HEAD`
    /// (from their merge base, like a pull request). Without it, the working
    /// tree is compared with BASE (`git diff BASE`).
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// Instead of git: a directory holding the files before the change (needs --head-tree).
    #[arg(long, value_name = "DIR", requires = "head_tree", conflicts_with_all = ["head"])]
    base_tree: Option<PathBuf>,
    /// Instead of git: a directory holding the files after the change (needs --base-tree).
    #[arg(long, value_name = "DIR", requires = "base_tree")]
    head_tree: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// A folder laid out like `rules/` whose rules add to or replace the embedded ones.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Exit with 1 when an unsuppressed finding is at or above this
    /// severity [default: the config's `fail_on`, else high].
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<Severity>,
    /// Read the repository configuration from FILE instead of the base's
    /// `.github/hunkscan.yml`.
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    config: Option<PathBuf>,
    /// Ignore any repository configuration: defaults apply.
    #[arg(long)]
    no_config: bool,
    /// Also look for secrets in lock files and minified assets (skipped by default).
    #[arg(long)]
    include_generated: bool,
    /// List the secret candidates not reported (placeholders, documentation
    /// samples) with the reason, values masked (`dropped` in JSON).
    #[arg(long)]
    explain_dropped: bool,
    /// Longest time one file may take to parse, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_PARSE_TIMEOUT.as_millis() as u64)]
    parse_timeout_ms: u64,
    /// Longest time one file may take to analyse, all analyzers together, in
    /// milliseconds; an analyzer still running then stops, keeps what it
    /// found and the file is listed as skipped by it.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_FILE_DEADLINE.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    file_timeout_ms: u64,
    /// Files scanned at once [default: the number of CPUs]. The output is
    /// the same whatever the number.
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<std::num::NonZeroUsize>,
    /// The OSV advisory database for dependency review [default:
    /// $HUNKSCAN_ADVISORY_DB, else the user cache directory]; fill it with
    /// `hunkscan advisories sync`.
    #[arg(long, value_name = "DIR")]
    advisory_db: Option<PathBuf>,
    /// Ask the registries (crates.io, PyPI, npm; mirrors through
    /// $HUNKSCAN_CRATES_URL, $HUNKSCAN_PYPI_URL, $HUNKSCAN_NPM_URL) for the
    /// licences lockfiles do not state, when the configuration has a
    /// `licenses:` policy. Answers are cached in the user cache directory.
    /// Without it those licences are listed as unknown.
    #[arg(long)]
    online: bool,
}

/// The Rust side of the one allocator; `hunkscan::alloc` explains the choice.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // SAFETY: first thing in the process, before any tree-sitter object.
    unsafe { hunkscan::alloc::use_mimalloc_for_tree_sitter() };
    // Before logging starts, so RUST_LOG in .env counts (serve reads the rest).
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    // The server logs what it does; the command line only what went wrong.
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "error",
    };
    // `Targets` (`info,hunkscan=debug`) rather than `EnvFilter`: the latter's
    // regex-based directives make every regex the rules compile also build
    // a full DFA (a cargo feature of regex-automata it turns on), which was
    // a sixth of the start-up's work.
    let rust_log = std::env::var("RUST_LOG").ok();
    // Parsed once: the filter, and whether RUST_LOG was refused.
    let (filter, refused) = match rust_log.as_deref().map(str::parse::<Targets>) {
        Some(Ok(targets)) => (targets, false),
        parsed => (
            default_level
                .parse::<Targets>()
                .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::ERROR)),
            parsed.is_some(),
        ),
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .init();
    if let Some(directives) = rust_log.filter(|_| refused) {
        tracing::error!(
            rust_log = %hunkscan::render::terminal(&directives),
            "RUST_LOG is not a list of `target=level` directives; using `{default_level}`"
        );
    }
    let outcome = match cli.command {
        Command::Scan(args) => scan(args),
        Command::Rules(RulesCommand::Test { rules }) => rules_test(rules),
        Command::Rules(RulesCommand::List { rules }) => rules_list(rules),
        Command::Advisories(AdvisoriesCommand::Sync { db, ecosystem }) => {
            advisories_sync(db, &ecosystem)
        }
        Command::Serve { rules } => serve(rules),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hunkscan: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// The fingerprint key on the command line (for secrets' identities and for
/// every finding's fingerprint): a deployment's own when set, so local
/// results match the bot's; the public default otherwise (local output is
/// not published, so nothing can be forged with it).
fn cli_key() -> Vec<u8> {
    std::env::var("HUNKSCAN_FINGERPRINT_KEY")
        .map(String::into_bytes)
        .unwrap_or_else(|_| DEFAULT_FINGERPRINT_KEY.to_vec())
}

/// What the command line runs with flags `rules` and `parse_timeout`.
fn cli_options(rules: Option<PathBuf>, parse_timeout: Duration) -> Options {
    Options {
        rules_dir: rules,
        parse_timeout,
        fingerprint_key: cli_key(),
        ..Options::default()
    }
}

/// The repository configuration for a scan, read as the bot reads it (from
/// the base of the change) unless `--config` or `--no-config` says
/// otherwise; says on stderr which one applies.
fn scan_config(args: &ScanArgs) -> anyhow::Result<Option<String>> {
    if args.no_config {
        eprintln!("hunkscan: config: none (--no-config); defaults apply");
        return Ok(None);
    }
    if let Some(file) = &args.config {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--config {}", file.display()))?;
        eprintln!(
            "hunkscan: config: {}",
            hunkscan::render::terminal(&file.display().to_string())
        );
        return Ok(Some(text));
    }
    let (text, from) = match &args.base_tree {
        Some(base) => (
            local::config_in_tree(base)?,
            format!("{} in {}", pipeline::CONFIG_PATH, base.display()),
        ),
        None => (
            local::config_at_revision(&args.repo, &args.base)?,
            format!("{} at {}", pipeline::CONFIG_PATH, args.base),
        ),
    };
    match &text {
        Some(_) => eprintln!("hunkscan: config: {}", hunkscan::render::terminal(&from)),
        None => eprintln!(
            "hunkscan: config: none ({} absent); defaults apply",
            hunkscan::render::terminal(&from)
        ),
    }
    Ok(text)
}

/// The base's `.gitleaksignore`, read like the configuration (from the
/// base, so a change cannot silence its own secret); a file that cannot be
/// read is a note, and the scan goes on without it.
fn gitleaks_ignore(
    args: &ScanArgs,
    config: &mut hunkscan::config::repo::RepoConfig,
    notes: &mut Vec<String>,
) {
    use hunkscan::engine::secrets::{GITLEAKS_IGNORE_PATH, GitleaksIgnore};
    let text = match &args.base_tree {
        Some(base) => local::file_in_tree(base, GITLEAKS_IGNORE_PATH),
        None => local::file_at_revision(&args.repo, &args.base, GITLEAKS_IGNORE_PATH),
    };
    match text {
        Ok(Some(text)) => {
            let (ignore, problems) = GitleaksIgnore::parse(&text);
            notes.extend(problems);
            config.gitleaks_ignore = ignore;
        }
        Ok(None) => {}
        Err(error) => notes.push(format!("{GITLEAKS_IGNORE_PATH} not read: {error}")),
    }
}

fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let threads = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    let (advisories, advisory_lines) = advisory_index(args.advisory_db.clone());
    let options = Options {
        secrets: SecretsOptions {
            skip_lock_files: !args.include_generated,
            skip_minified: !args.include_generated,
        },
        threads,
        file_deadline: Duration::from_millis(args.file_timeout_ms),
        advisories,
        ..cli_options(
            args.rules.clone(),
            Duration::from_millis(args.parse_timeout_ms),
        )
    };
    let pipeline = Pipeline::load(&options)?;
    // The change first: a bad revision or directory is the one error to report.
    let changes = match (&args.base_tree, &args.head_tree) {
        (Some(base), Some(head)) => local::from_trees(base, head)?,
        _ => local::from_git(&args.repo, &args.base, args.head.as_deref())?,
    };
    // Said once the change is read: a bad revision stays the one line.
    for line in &advisory_lines {
        eprintln!("{line}");
    }
    let (mut config, mut notes) = pipeline::config_from(scan_config(&args)?.as_deref());
    gitleaks_ignore(&args, &mut config, &mut notes);
    let (outcome, dropped) = if args.online {
        let licenses = online_licenses(&pipeline, &changes, &config);
        pipeline.run_with_licenses(changes, &config, std::sync::Arc::new(licenses))
    } else {
        pipeline.run_explained(changes, &config)
    };
    notes.extend(outcome.notes);
    for note in &notes {
        eprintln!("hunkscan: note: {}", hunkscan::render::terminal(note));
    }
    let report = outcome.report;
    let rendered = match args.format {
        Format::Text if args.explain_dropped => {
            report::text::render(&report) + "\n" + &report::text::render_dropped(&dropped)
        }
        Format::Text => report::text::render(&report),
        Format::Json if args.explain_dropped => {
            let document = report::json::with_dropped(report::json::render(&report), &dropped);
            serde_json::to_string_pretty(&document)? + "\n"
        }
        Format::Json => serde_json::to_string_pretty(&report::json::render(&report))? + "\n",
        Format::Sarif => {
            serde_json::to_string_pretty(&report::sarif::render(&report, pipeline.rule_docs()))?
                + "\n"
        }
    };
    print!("{rendered}");
    let fails = pipeline::fail_threshold(args.fail_on, &config)
        .is_some_and(|threshold| report.fails_at(threshold));
    Ok(if fails {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Most packages one scan looks up in the registries.
const MAX_LICENSE_LOOKUPS: usize = 2_000;

/// The licences the registries state for the packages `changes` adds that
/// the policy needs and the lockfiles do not say, through the cache.
fn online_licenses(
    pipeline: &Pipeline,
    changes: &hunkscan::engine::ChangeSet,
    config: &hunkscan::config::repo::RepoConfig,
) -> hunkscan::engine::deps::license::Licenses {
    use hunkscan::advisories::{license_cache, registry};
    let wanted = pipeline.licenses_wanted(changes, config, MAX_LICENSE_LOOKUPS);
    let reason = format!("more than {MAX_LICENSE_LOOKUPS} packages to look up");
    if wanted.is_empty() {
        return hunkscan::engine::deps::license::Licenses::none(reason);
    }
    let path = std::env::var_os(license_cache::PATH_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(license_cache::FileCache::default_path)
        .unwrap_or_else(|| PathBuf::from(".hunkscan-licenses.json"));
    let mut cache = license_cache::FileCache::open(&path);
    let mut licenses =
        license_cache::look_up_blocking(wanted, &registry::RegistryOptions::default(), &mut cache);
    licenses.set_not_looked_up(reason);
    licenses
}

/// The advisory database for a scan, with lines for stderr saying which
/// and how old; `None` (dependency review lists lockfiles as skipped)
/// when there is none or it cannot be read.
fn advisory_index(
    flag: Option<PathBuf>,
) -> (
    Option<std::sync::Arc<hunkscan::advisories::Index>>,
    Vec<String>,
) {
    let mut lines = Vec::new();
    let index = load_advisories(flag, &mut lines);
    (index, lines)
}

fn load_advisories(
    flag: Option<PathBuf>,
    lines: &mut Vec<String>,
) -> Option<std::sync::Arc<hunkscan::advisories::Index>> {
    let dir = hunkscan::advisories::db_dir(flag)?;
    let shown = hunkscan::render::terminal(&dir.display().to_string());
    match hunkscan::advisories::open(&dir) {
        Ok(Some(index)) => {
            for status in &index.status {
                lines.push(format!(
                    "hunkscan: advisories: {} {} records (newest {}), from {shown}",
                    status.ecosystem.osv_name(),
                    status.records,
                    status.newest.as_deref().unwrap_or("unknown"),
                ));
                if let Some(problem) = &status.first_problem {
                    lines.push(format!(
                        "hunkscan: advisories: {} unreadable records skipped, first: {}",
                        status.unreadable,
                        hunkscan::render::terminal(problem)
                    ));
                }
            }
            Some(std::sync::Arc::new(index))
        }
        Ok(None) => {
            lines.push(format!("hunkscan: advisories: none in {shown}"));
            None
        }
        Err(error) => {
            let error = hunkscan::render::terminal(&error.to_string());
            lines.push(format!(
                "hunkscan: advisories: cannot be read, dependencies not checked: {error}"
            ));
            None
        }
    }
}

fn advisories_sync(db: Option<PathBuf>, names: &[String]) -> anyhow::Result<ExitCode> {
    use hunkscan::advisories::sync::{self, Outcome, SyncOptions};
    use hunkscan::engine::deps::model::Ecosystem;
    let dir = hunkscan::advisories::db_dir(db)
        .context("no database directory: pass --db or set HUNKSCAN_ADVISORY_DB")?;
    let mut options = SyncOptions::default();
    if !names.is_empty() {
        options.ecosystems = names
            .iter()
            .map(|name| {
                Ecosystem::from_osv(name).with_context(|| {
                    format!("--ecosystem {name}: expected one of {}", Ecosystem::names())
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    let mut failed = false;
    for (ecosystem, outcome) in sync::sync(&dir, &options) {
        let name = ecosystem.osv_name();
        match outcome {
            Outcome::Updated { bytes, records } => {
                println!("{name}: updated, {records} records ({bytes} bytes)")
            }
            Outcome::NotModified => println!("{name}: up to date"),
            Outcome::Failed(reason) => {
                failed = true;
                println!("{name}: FAILED: {}", hunkscan::render::terminal(&reason));
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn rules_test(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let analyzers = Analyzers::load(&Options {
        secrets: SecretsOptions::default(),
        ..cli_options(dir, DEFAULT_PARSE_TIMEOUT)
    })?;
    let results = ruletest::run(&analyzers.sast, &analyzers.secrets, &analyzers.iac);
    let mut failed = 0;
    for result in &results {
        match &result.verdict {
            ruletest::Verdict::Validated => println!("ok     {}", result.id),
            ruletest::Verdict::Failed { problems } => {
                failed += 1;
                println!("FAILED {} ({})", result.id, result.origin);
                for problem in problems {
                    println!("         {problem}");
                }
            }
        }
    }
    println!(
        "rules: {} passed, {} failed",
        results.len() - failed,
        failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn rules_list(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let analyzers = Analyzers::load(&cli_options(dir, DEFAULT_PARSE_TIMEOUT))?;
    let mut docs = analyzers.rule_docs();
    docs.sort_by(|a, b| a.id.cmp(&b.id));
    for doc in docs {
        let cwe = doc.cwe.as_deref().unwrap_or("-");
        println!(
            "{:<45} {:<8} {:<9} {}",
            doc.id, doc.severity, cwe, doc.summary
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(rules: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use hunkscan::config::settings::{Settings, credentials_absent};
    // No credentials at all: a first run, which registers the app.
    if credentials_absent(|name| std::env::var(name).ok()) {
        return serve_setup(rules);
    }
    // One line naming the setting, then stop: nothing half-configured runs.
    let settings = Settings::from_env().map_err(|error| anyhow::anyhow!("{error}"))?;
    let pipeline = std::sync::Arc::new(Pipeline::load(&Options {
        rules_dir: rules,
        fingerprint_key: settings.fingerprint_key.expose().as_bytes().to_vec(),
        // Loaded at start-up from $HUNKSCAN_ADVISORY_DB (or the cache
        // directory), then kept fresh by the refresher below.
        advisories: {
            let (index, lines) = advisory_index(None);
            for line in lines {
                tracing::info!("{line}");
            }
            index
        },
        ..Options::default()
    })?);
    let refresh = advisory_refresher(&pipeline)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        if let Some((refresher, interval)) = refresh {
            tokio::spawn(refresher.run(interval));
        }
        let address = std::net::SocketAddr::from(([0, 0, 0, 0], settings.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("PORT: cannot listen on {address}"))?;
        let running = hunkscan::app::start(
            &settings,
            pipeline,
            hunkscan::github::RetryPolicy::default(),
            listener,
            shutdown_signal(),
        )
        .await?;
        tracing::info!(addr = %running.addr, api = settings.api.rest, app_id = settings.app.app_id, "hunkscan serving");
        // Returns within SHUTDOWN_DRAIN (and a second) of the signal, however
        // many connections are open or half-sent.
        running.server.await.context("server task")?.context("server")?;
        // Deliveries stopped; no new claims. Running jobs get time to
        // finish; those that cannot are put back in the store, where the
        // next start (or another instance) takes them up.
        let put_back = running.worker.drain(SHUTDOWN_GRACE).await;
        running.store.close().await;
        tracing::info!(put_back, "shut down");
        Ok(ExitCode::SUCCESS)
    })
}

/// The bot's advisory upkeep: a sync at start-up and every
/// $HUNKSCAN_ADVISORY_SYNC_INTERVAL (default 6h; `off`: none).
fn advisory_refresher(
    pipeline: &Pipeline,
) -> anyhow::Result<
    Option<(
        std::sync::Arc<hunkscan::advisories::refresh::Refresher>,
        Duration,
    )>,
> {
    use hunkscan::advisories::refresh::{self, Refresher};
    let interval = match std::env::var(refresh::INTERVAL_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            refresh::parse_interval(&text).map_err(|error| anyhow::anyhow!("{error}"))?
        }
        _ => Some(refresh::DEFAULT_INTERVAL),
    };
    let Some(interval) = interval else {
        tracing::info!("advisory sync off ({}=off)", refresh::INTERVAL_ENV);
        return Ok(None);
    };
    let Some(dir) = hunkscan::advisories::db_dir(None) else {
        tracing::warn!("no advisory database directory: set HUNKSCAN_ADVISORY_DB");
        return Ok(None);
    };
    let refresher = Refresher::new(
        dir,
        hunkscan::advisories::sync::SyncOptions::default(),
        pipeline.advisories().clone(),
    );
    Ok(Some((std::sync::Arc::new(refresher), interval)))
}

/// Setup mode: the page that registers the GitHub App, then the app itself.
fn serve_setup(rules: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    use hunkscan::config::settings::{Settings, SetupSettings};
    let settings = SetupSettings::from_lookup(|name| std::env::var(name).ok())
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let pipeline_for: hunkscan::app::PipelineFor =
        std::sync::Arc::new(move |settings: &Settings| {
            Pipeline::load(&Options {
                rules_dir: rules.clone(),
                fingerprint_key: settings.fingerprint_key.expose().as_bytes().to_vec(),
                ..Options::default()
            })
            .map(std::sync::Arc::new)
            .map_err(|error| format!("{error:#}"))
        });
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let address = std::net::SocketAddr::from(([0, 0, 0, 0], settings.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("PORT: cannot listen on {address}"))?;
        let running = hunkscan::app::start_setup(
            &settings,
            std::sync::Arc::new(|name: &str| std::env::var(name).ok()),
            pipeline_for,
            hunkscan::github::RetryPolicy::default(),
            listener,
            shutdown_signal(),
        )
        .await?;
        tracing::info!(
            "hunkscan has no GitHub App yet: open http://localhost:{}/ to register it",
            running.addr.port()
        );
        running
            .server
            .await
            .context("server task")?
            .context("server")?;
        if let Some(app) = running.app.get() {
            let put_back = app.worker.drain(SHUTDOWN_GRACE).await;
            app.store.close().await;
            tracing::info!(put_back, "shut down");
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// How long running jobs get to finish on shutdown. fly.toml's kill_timeout
/// is 30 s: the server takes at most `SHUTDOWN_DRAIN` plus a second to
/// close (4 s), jobs this, and the rest is for putting back in the store the
/// jobs that could not finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
const _: () = assert!(
    hunkscan::app::server::serve::SHUTDOWN_DRAIN.as_secs() + 1 + SHUTDOWN_GRACE.as_secs() <= 25,
    "server close and job grace leave room for putting jobs back within 30 s"
);

/// Ctrl-C or SIGTERM (what fly.io, Docker and systemd send).
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
