//! The command line: `hunkscan scan`, `hunkscan rules test` and
//! `hunkscan serve` (the GitHub App).
//!
//! Exit codes follow linters: 0 nothing at or above `--fail-on`, 1 findings,
//! 2 an error (bad flag, missing repository, bad revision, bad rule).

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use hunkscan::engine::iac::IacAnalyzer;
use hunkscan::engine::iac::policy::Policies;
use hunkscan::engine::sast::{DEFAULT_PARSE_TIMEOUT, SastAnalyzer, SastRules};
use hunkscan::engine::secrets::{
    DEFAULT_FINGERPRINT_KEY, SecretRules, SecretsAnalyzer, SecretsOptions,
};
use hunkscan::engine::{DEFAULT_FILE_DEADLINE, Engine, Severity};
use hunkscan::report::{self, RuleDoc};
use hunkscan::{local, ruletest};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Exit with 1 when an unsuppressed finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    fail_on: Severity,
    /// Also look for secrets in lock files and minified assets (skipped by default).
    #[arg(long)]
    include_generated: bool,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        Command::Scan(args) => scan(args),
        Command::Rules(RulesCommand::Test { rules }) => rules_test(rules),
        Command::Rules(RulesCommand::List { rules }) => rules_list(rules),
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

/// The analyzers with their rules (embedded plus `rules_dir`).
fn analyzers(
    rules_dir: Option<&std::path::Path>,
    parse_timeout: Duration,
    secrets_options: SecretsOptions,
    key: Vec<u8>,
) -> anyhow::Result<(SastAnalyzer, SecretsAnalyzer)> {
    let sast_rules = SastRules::load(rules_dir).context("loading rules")?;
    let secret_rules = SecretRules::load(rules_dir).context("loading secret rules")?;
    Ok((
        SastAnalyzer::new(sast_rules, parse_timeout),
        SecretsAnalyzer::new(secret_rules, key, secrets_options),
    ))
}

/// The secret-fingerprint key on the command line: a deployment's own when
/// set, so local results match the bot's; the public default otherwise
/// (local output is not published).
fn cli_key() -> Vec<u8> {
    std::env::var("HUNKSCAN_FINGERPRINT_KEY")
        .map(String::into_bytes)
        .unwrap_or_else(|_| DEFAULT_FINGERPRINT_KEY.to_vec())
}

/// The IaC analyzer with its policies (embedded plus `rules_dir`).
fn iac_analyzer(rules_dir: Option<&std::path::Path>) -> anyhow::Result<IacAnalyzer> {
    let policies = Policies::load(rules_dir).context("loading IaC rules")?;
    Ok(IacAnalyzer::new(policies))
}

/// What the reporters need to know of every rule the analyzers run.
fn rule_docs(sast: &SastAnalyzer, secrets: &SecretsAnalyzer, iac: &IacAnalyzer) -> Vec<RuleDoc> {
    let sast_docs = sast.rules().infos().into_iter().map(RuleDoc::from);
    sast_docs
        .chain(secrets.rules().rules().iter().map(RuleDoc::from))
        .chain(iac.policies().all().iter().map(RuleDoc::from))
        .collect()
}

fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let options = SecretsOptions {
        skip_lock_files: !args.include_generated,
        skip_minified: !args.include_generated,
    };
    let timeout = Duration::from_millis(args.parse_timeout_ms);
    let (sast, secrets) = analyzers(args.rules.as_deref(), timeout, options, cli_key())?;
    let iac = iac_analyzer(args.rules.as_deref())?;
    let docs = rule_docs(&sast, &secrets, &iac);
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, std::num::NonZeroUsize::get);
    let engine = Engine::new(vec![Box::new(sast), Box::new(iac), Box::new(secrets)])
        .with_threads(jobs)
        .with_file_deadline(Duration::from_millis(args.file_timeout_ms));
    let changes = match (&args.base_tree, &args.head_tree) {
        (Some(base), Some(head)) => local::from_trees(base, head)?,
        _ => local::from_git(&args.repo, &args.base, args.head.as_deref())?,
    };
    let report = engine.scan(&changes);
    let rendered = match args.format {
        Format::Text => report::text::render(&report),
        Format::Json => serde_json::to_string_pretty(&report::json::render(&report))? + "\n",
        Format::Sarif => {
            serde_json::to_string_pretty(&report::sarif::render(&report, &docs))? + "\n"
        }
    };
    print!("{rendered}");
    Ok(if report.fails_at(args.fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn rules_test(dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let (sast, secrets) = analyzers(
        dir.as_deref(),
        DEFAULT_PARSE_TIMEOUT,
        SecretsOptions::default(),
        cli_key(),
    )?;
    let iac = iac_analyzer(dir.as_deref())?;
    let results = ruletest::run(&sast, &secrets, &iac);
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
    let (sast, secrets) = analyzers(
        dir.as_deref(),
        DEFAULT_PARSE_TIMEOUT,
        SecretsOptions::default(),
        cli_key(),
    )?;
    let iac = iac_analyzer(dir.as_deref())?;
    let mut docs = rule_docs(&sast, &secrets, &iac);
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
    use hunkscan::config::settings::Settings;
    // One line naming the setting, then stop: nothing half-configured runs.
    let settings = Settings::from_env().map_err(|error| anyhow::anyhow!("{error}"))?;
    let (sast, secrets) = analyzers(
        rules.as_deref(),
        DEFAULT_PARSE_TIMEOUT,
        SecretsOptions {
            skip_lock_files: true,
            skip_minified: true,
        },
        settings.fingerprint_key.expose().as_bytes().to_vec(),
    )?;
    let iac = iac_analyzer(rules.as_deref())?;
    let engine = std::sync::Arc::new(Engine::new(vec![
        Box::new(sast),
        Box::new(iac),
        Box::new(secrets),
    ]));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let address = std::net::SocketAddr::from(([0, 0, 0, 0], settings.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("PORT: cannot listen on {address}"))?;
        let running = hunkscan::app::start(
            &settings,
            engine,
            hunkscan::github::RetryPolicy::default(),
            listener,
            shutdown_signal(),
        )
        .await?;
        tracing::info!(addr = %running.addr, api = settings.api.rest, app_id = settings.app.app_id, "hunkscan serving");
        running.server.await.context("server task")?.context("server")?;
        // Deliveries stopped; give running jobs time to finish, and complete
        // the check runs of those that cannot (never left in progress).
        let interrupted = running.worker.drain(SHUTDOWN_GRACE).await;
        tracing::info!(interrupted, "shut down");
        Ok(ExitCode::SUCCESS)
    })
}

/// How long running jobs get to finish on shutdown (fly.toml's kill_timeout
/// is 30 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

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
