//! The `meshcheck` command line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use meshcheck::exit_code;
use meshcheck::report::{self, Outcome, RunReport};
use meshcheck::runner::{self, RunOptions};
use meshcheck::scenario::{self, ClusterSettings, Scenario};
use meshcheck::translate::{self, TranslateOptions};

/// Conformance tests for service-mesh security policy.
#[derive(Debug, Parser)]
#[command(name = "meshcheck", version, about)]
struct Cli {
    /// More log output on stderr: -v for info, -vv for debug (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios, each on a fresh in-process mesh.
    Run {
        /// Scenario files or directories (searched recursively for *.yaml and *.yml).
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        /// Also write a machine-readable JSON report to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Override a scenario variable, as NAME=VALUE; may be repeated.
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_assignment)]
        variables: Vec<(String, String)>,
        /// Scenarios to run at the same time [default: the number of CPUs].
        #[arg(long, short = 'j', value_name = "N")]
        jobs: Option<usize>,
    },
    /// Print the Istio resources that TSB settings in manifest files generate.
    Translate {
        /// Manifest files with the TSB hierarchy, settings and namespaces, applied in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Cluster name that TSB namespace selectors (`cluster/namespace`) match.
        #[arg(long, default_value = "cluster-1")]
        cluster: String,
        /// Trust domain of the cluster's workload identities [default: <cluster>.tsb.local].
        #[arg(long)]
        trust_domain: Option<String>,
        /// A namespace that exists besides those the files create or name exactly in a
        /// selector; may be repeated.
        #[arg(long = "namespace", value_name = "NAME")]
        namespaces: Vec<String>,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files or directories.
        #[arg(default_value = "scenarios")]
        paths: Vec<PathBuf>,
        /// Override a scenario variable, as NAME=VALUE; may be repeated.
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_assignment)]
        variables: Vec<(String, String)>,
    },
}

fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))?;
    Ok((name.to_owned(), value.to_owned()))
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Loads every scenario, printing each invalid one; returns `None` if any was invalid.
fn load_all(paths: &[PathBuf], variables: &[(String, String)]) -> Option<Vec<Scenario>> {
    let overrides: BTreeMap<String, String> = variables.iter().cloned().collect();
    let files = match scenario::discover(paths) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("error: {error}");
            return None;
        }
    };
    if files.is_empty() {
        eprintln!("error: no scenario files found in {}", display_paths(paths));
        return None;
    }
    let mut scenarios = Vec::new();
    let mut valid = true;
    for file in files {
        match scenario::load_with(&file, &overrides) {
            Ok(loaded) => scenarios.push(loaded),
            Err(error) => {
                eprintln!("error: {error}");
                valid = false;
            }
        }
    }
    valid.then_some(scenarios)
}

fn display_paths(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    shown.join(", ")
}

fn exit_code_for(report: &RunReport) -> i32 {
    let unavailable = report
        .scenarios
        .iter()
        .all(|scenario| scenario.error.is_some());
    if report.summary.failed > 0 {
        exit_code::FAILED
    } else if !report.scenarios.is_empty() && unavailable {
        exit_code::BACKEND_UNAVAILABLE
    } else if report.summary.inconclusive > 0 {
        exit_code::INCONCLUSIVE
    } else {
        exit_code::SUCCESS
    }
}

async fn run(
    paths: Vec<PathBuf>,
    json: Option<PathBuf>,
    variables: Vec<(String, String)>,
    jobs: Option<usize>,
) -> i32 {
    let Some(scenarios) = load_all(&paths, &variables) else {
        return exit_code::INVALID_INPUT;
    };
    let mut options = RunOptions::default();
    if let Some(jobs) = jobs {
        options.jobs = jobs;
    }
    let report = runner::run_all(scenarios, &options, |scenario| {
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{}", report::human::scenario_text(scenario));
        let _ = stdout.flush();
    })
    .await;
    print!("{}", report::human::summary_text(&report));
    if let Some(path) = json
        && let Err(error) = report::json::write(&report, &path)
    {
        eprintln!(
            "error: cannot write the JSON report to {}: {error}",
            path.display()
        );
        return exit_code::INVALID_INPUT;
    }
    if report
        .scenarios
        .iter()
        .any(|scenario| scenario.outcome == Outcome::Inconclusive)
    {
        for scenario in report
            .scenarios
            .iter()
            .filter(|scenario| scenario.error.is_some())
        {
            eprintln!(
                "error: {}: {}",
                scenario.file,
                scenario.error.as_deref().unwrap_or_default()
            );
        }
    }
    exit_code_for(&report)
}

fn translate(
    files: &[PathBuf],
    cluster: String,
    trust_domain: Option<String>,
    namespaces: Vec<String>,
) -> i32 {
    let trust_domain = trust_domain.unwrap_or_else(|| format!("{cluster}.tsb.local"));
    let options = TranslateOptions {
        cluster: ClusterSettings {
            name: cluster,
            trust_domain,
        },
        namespaces,
    };
    let generated = match translate::translate_files(files, &options) {
        Ok(generated) => generated,
        Err(error) => {
            eprintln!("error: {error}");
            return exit_code::INVALID_INPUT;
        }
    };
    match translate::render(&generated) {
        Ok(text) => {
            print!("{text}");
            exit_code::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write the generated resources as YAML: {error}");
            exit_code::INVALID_INPUT
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let code = match cli.command {
        Command::Validate { paths, variables } => match load_all(&paths, &variables) {
            Some(scenarios) => {
                println!("{} scenario(s) valid", scenarios.len());
                exit_code::SUCCESS
            }
            None => exit_code::INVALID_INPUT,
        },
        Command::Translate {
            files,
            cluster,
            trust_domain,
            namespaces,
        } => translate(&files, cluster, trust_domain, namespaces),
        Command::Run {
            paths,
            json,
            variables,
            jobs,
        } => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the async runtime: {error}");
                    return ExitCode::from(exit_code::BACKEND_UNAVAILABLE as u8);
                }
            };
            runtime.block_on(run(paths, json, variables, jobs))
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
