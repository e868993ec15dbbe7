//! Every scenario under `scenarios/` as its own test, run on the in-process backend.
//!
//! A scenario file that does not load or whose dry run fails is a failed test, as is a scenario whose outcome is
//! anything but passed; the failure message is the human report of the scenario.

use std::path::PathBuf;

use libtest_mimic::{Arguments, Failed, Trial};
use meshcheck::backend::BackendKind;
use meshcheck::report::{Outcome, human};
use meshcheck::runner;
use meshcheck::scenario;

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn run(path: PathBuf) -> Result<(), Failed> {
    let loaded = scenario::load(&path).map_err(|error| Failed::from(error.to_string()))?;
    BackendKind::InProcess
        .rehearse(&loaded)
        .map_err(|error| Failed::from(error.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| Failed::from(format!("cannot start a tokio runtime: {error}")))?;
    let report = runtime.block_on(runner::run_scenario(&loaded, BackendKind::InProcess));
    if report.outcome == Outcome::Passed {
        Ok(())
    } else {
        Err(Failed::from(human::scenario_text(&report)))
    }
}

fn main() {
    let arguments = Arguments::from_args();
    runner::raise_open_file_limit();
    let root = scenarios_dir();
    let files = match scenario::discover(std::slice::from_ref(&root)) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("cannot list scenarios in {}: {error}", root.display());
            std::process::exit(101);
        }
    };
    let trials = files
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string();
            Trial::test(format!("scenario::{relative}"), move || run(path))
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit();
}
