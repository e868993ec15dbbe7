//! The report formats of a real run, as snapshots with the changing parts (durations) blanked
//! out, and the JUnit XML read back with a real XML parser.

use std::path::PathBuf;

use meshcheck::backend::BackendKind;
use meshcheck::report::{RunReport, human, junit};
use meshcheck::{runner, scenario};
use regex::Regex;

/// The walkthrough with the expected exit code of one step changed from 56 to 7, so the
/// reports contain a failure.
fn broken_walkthrough_report(test: &str) -> RunReport {
    let original =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/tsb/understanding-mtls.yaml");
    let text = std::fs::read_to_string(&original).unwrap();
    let directory =
        std::env::temp_dir().join(format!("meshcheck-reports-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join("understanding-mtls.yaml");
    std::fs::write(&path, text.replacen("exitCode: 56\n", "exitCode: 7\n", 1)).unwrap();
    let mut loaded = scenario::load(&path).unwrap();
    // Reports name the file as a user would see it, not the temporary copy.
    loaded.path = PathBuf::from("scenarios/tsb/understanding-mtls.yaml");
    for step in &mut loaded.steps {
        step.location.file = loaded.path.clone();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(runner::run_scenario(&loaded, BackendKind::InProcess));
    let _ = std::fs::remove_dir_all(&directory);
    RunReport::new("inprocess", vec![report])
}

fn redact(text: &str) -> String {
    let seconds = Regex::new(r"\d+\.\d+s\b").unwrap();
    let attribute = Regex::new(r#"time="[0-9.]+""#).unwrap();
    let text = seconds.replace_all(text, "[duration]");
    attribute
        .replace_all(&text, r#"time="[duration]""#)
        .into_owned()
}

#[test]
fn report_formats_of_a_failed_run() {
    let report = broken_walkthrough_report("formats");
    assert_eq!(report.summary.failed, 1, "the changed step fails");
    let failed = report.scenarios[0]
        .steps
        .iter()
        .find(|step| step.outcome == meshcheck::report::Outcome::Failed)
        .unwrap();
    assert_eq!(
        failed.exec.as_ref().unwrap().attempts,
        1,
        "an expected failure is probed once"
    );

    insta::assert_snapshot!("human", redact(&human::scenario_text(&report.scenarios[0])));

    insta::assert_json_snapshot!("json", report, {
        ".**.durationMs" => "[duration]",
        ".**.stdout" => "[stdout]",
        ".**.attempts" => "[attempts]",
        // Which reviews pod served a request varies from run to run.
        ".scenarios[].connections" => "[connections]",
    });

    let xml = junit::to_xml(&report);
    let mut without_output = Regex::new(r"(?s)<system-out>.*?</system-out>\n")
        .unwrap()
        .replace_all(&xml, "")
        .into_owned();
    without_output = redact(&without_output);
    insta::assert_snapshot!("junit", without_output);
}

#[test]
fn junit_report_parses_with_expected_structure() {
    let report = broken_walkthrough_report("junit");
    let xml = junit::to_xml(&report);
    let document = roxmltree::Document::parse(&xml).expect("the JUnit report is well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    for attribute in ["tests", "failures", "errors", "skipped", "time"] {
        assert!(
            root.attribute(attribute).is_some(),
            "testsuites has {attribute}"
        );
    }
    let suites: Vec<_> = root
        .children()
        .filter(|node| node.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1, "one testsuite per scenario");
    let suite = suites[0];
    assert_eq!(suite.attribute("name"), Some("understanding-mtls"));
    let cases: Vec<_> = suite
        .children()
        .filter(|node| node.has_tag_name("testcase"))
        .collect();
    assert_eq!(
        cases.len(),
        report.scenarios[0].steps.len(),
        "one testcase per step"
    );
    assert_eq!(
        suite.attribute("tests"),
        Some(cases.len().to_string().as_str())
    );
    for case in &cases {
        assert!(
            case.attribute("name").is_some_and(|name| !name.is_empty()),
            "testcase has a name"
        );
        assert_eq!(case.attribute("classname"), Some("understanding-mtls"));
        let time: f64 = case
            .attribute("time")
            .unwrap()
            .parse()
            .expect("time is a number");
        assert!(time >= 0.0);
    }
    let failures: Vec<_> = cases
        .iter()
        .filter_map(|case| case.children().find(|node| node.has_tag_name("failure")))
        .collect();
    assert_eq!(failures.len(), 1, "exactly the changed step fails");
    assert_eq!(suite.attribute("failures"), Some("1"));
    let failure = failures[0];
    assert_eq!(failure.attribute("message"), Some("exit 56, expected 7"));
    let text = failure.text().unwrap_or_default();
    assert!(text.contains("expected: exit 7"), "{text}");
    assert!(text.contains("actual:   exit 56"), "{text}");
}
