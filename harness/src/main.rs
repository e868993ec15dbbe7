//! The `meshcheck` command line.

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mesh_sim::resources::validate::{is_dns_label, is_trust_domain};
use meshcheck::exit_code;
use meshcheck::scenario::ClusterSettings;
use meshcheck::translate::{self, TranslateOptions};

use self::cli::run::RunArguments;
use self::cli::{Selection, err, out};

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

/// Options that choose scenarios.
#[derive(Debug, Args)]
struct SelectionArgs {
    /// Scenario files or directories (searched recursively for *.yaml and *.yml).
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// Override a scenario variable, as NAME=VALUE; may be repeated.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_assignment)]
    variables: Vec<(String, String)>,
    /// Keep only scenarios whose name or file contains TEXT; may be repeated (any matches).
    #[arg(long = "filter", value_name = "TEXT")]
    filters: Vec<String>,
    /// Keep only scenarios with this tag; may be repeated (any matches).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

impl SelectionArgs {
    fn into_selection(self) -> Selection {
        Selection {
            paths: self.paths,
            variables: self.variables,
            filters: self.filters,
            tags: self.tags,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios, each on a fresh in-process mesh.
    Run {
        #[command(flatten)]
        selection: SelectionArgs,
        /// Also write a machine-readable JSON report to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Also write a JUnit XML report to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Also write every probe's observed result and every connection to FILE, sorted
        /// and without timestamps, for `meshcheck diff`.
        #[arg(long, value_name = "FILE")]
        results: Option<PathBuf>,
        /// Scenarios to run at the same time, 1 to 200 [default: the number of CPUs].
        #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=200))]
        jobs: Option<u16>,
    },
    /// Run one scenario and write the topology of its connections as an HTML page.
    Graph {
        #[command(flatten)]
        selection: SelectionArgs,
        /// The HTML file to write.
        #[arg(
            long,
            short = 'o',
            value_name = "FILE",
            default_value = "meshcheck-graph.html"
        )]
        output: PathBuf,
    },
    /// List the probes and connections that changed between two results files.
    Diff {
        /// The results file from before the change.
        old: PathBuf,
        /// The results file from after the change.
        new: PathBuf,
        /// A change that is expected, as a pattern on `scenario: kind: subject` where `*`
        /// matches anything; may be repeated. Other changes make the exit code 1.
        #[arg(long = "allow", value_name = "PATTERN")]
        allowed: Vec<String>,
    },
    /// List scenarios with their tags and steps, without running them.
    List {
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Check scenario files without running them.
    Validate {
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Print the Istio resources that TSB settings in manifest files generate.
    Translate {
        /// Manifest files with the TSB hierarchy, settings and namespaces, applied in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Cluster name that TSB namespace selectors (`cluster/namespace`) match, a DNS-1123
        /// label.
        #[arg(
            long,
            value_name = "NAME",
            default_value = "cluster-1",
            value_parser = parse_cluster_name
        )]
        cluster: String,
        /// Trust domain of the cluster's workload identities, such as cluster.local
        /// [default: <cluster>.tsb.local].
        #[arg(long, value_name = "TD", value_parser = parse_trust_domain)]
        trust_domain: Option<String>,
        /// A namespace that exists besides those the files create or name exactly in a
        /// selector, a DNS-1123 label; may be repeated.
        #[arg(long = "namespace", value_name = "NAME", value_parser = parse_namespace_name)]
        namespaces: Vec<String>,
    },
}

fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))?;
    if name.is_empty() {
        return Err(format!("missing variable name in {text:?}"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

const DNS_LABEL_RULE: &str =
    "at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit";

fn parse_cluster_name(text: &str) -> Result<String, String> {
    if is_dns_label(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "a cluster name must be a DNS-1123 label: {DNS_LABEL_RULE}, such as cluster-1"
        ))
    }
}

fn parse_namespace_name(text: &str) -> Result<String, String> {
    if is_dns_label(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "a namespace name must be a DNS-1123 label: {DNS_LABEL_RULE}, such as bookinfo"
        ))
    }
}

fn parse_trust_domain(text: &str) -> Result<String, String> {
    if is_trust_domain(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "a trust domain must be DNS-like: labels of {DNS_LABEL_RULE}, joined by '.', \
             such as cluster-1.tsb.local"
        ))
    }
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
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
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
            err(&format!("error: {error}"));
            return exit_code::INVALID_INPUT;
        }
    };
    match translate::render(&generated) {
        Ok(text) => {
            out(&text);
            exit_code::SUCCESS
        }
        Err(error) => {
            err(&format!(
                "error: cannot write the generated resources as YAML: {error}"
            ));
            exit_code::INVALID_INPUT
        }
    }
}

/// Runs `work` on a fresh multi-threaded runtime and returns its exit code.
fn block_on(work: impl std::future::Future<Output = i32>) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            err(&format!("error: cannot start the async runtime: {error}"));
            return exit_code::BACKEND_UNAVAILABLE;
        }
    };
    let code = runtime.block_on(work);
    // Lets tasks of stopped scenarios finish dropping (their curl processes are killed then).
    runtime.shutdown_timeout(Duration::from_secs(5));
    code
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    meshcheck::runner::raise_open_file_limit();
    let code = match cli.command {
        Command::Validate { selection } => match cli::load_selected(&selection.into_selection()) {
            Some(scenarios) => {
                out(&format!("{} scenario(s) valid\n", scenarios.len()));
                exit_code::SUCCESS
            }
            None => exit_code::INVALID_INPUT,
        },
        Command::List { selection } => match cli::load_selected(&selection.into_selection()) {
            Some(scenarios) => {
                cli::list::list(&scenarios);
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
        Command::Diff { old, new, allowed } => cli::diff::diff(&old, &new, &allowed),
        Command::Graph { selection, output } => {
            block_on(cli::graph::graph(&selection.into_selection(), &output))
        }
        Command::Run {
            selection,
            json,
            junit,
            results,
            jobs,
        } => block_on(cli::run::run(RunArguments {
            selection: selection.into_selection(),
            json,
            junit,
            results,
            jobs: jobs.map(usize::from),
        })),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
