use super::*;

fn results(probes: &[(&str, &str)], connections: &[&str]) -> Results {
    let scenario = ScenarioResults {
        probes: probes
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect(),
        connections: connections.iter().map(|line| (*line).to_owned()).collect(),
    };
    Results {
        schema_version: RESULTS_VERSION,
        interrupted: false,
        scenarios: [("walkthrough".to_owned(), scenario)].into(),
    }
}

#[test]
fn probe_changes_are_classified() {
    let old = results(
        &[
            ("outside -> productpage", "200"),
            ("inside -> productpage", "200"),
            ("denied", "403"),
            ("plain exec", "exit 0"),
            ("blocked exec", "exit 56"),
            ("reset then refused", "E56"),
        ],
        &[],
    );
    let new = results(
        &[
            ("outside -> productpage", "E56"),
            ("inside -> productpage", "200"),
            ("denied", "200"),
            ("plain exec", "exit 56"),
            ("blocked exec", "HTTP 200"),
            ("reset then refused", "E7"),
        ],
        &[],
    );
    let changes = diff(&old, &new);
    let summary: Vec<(ChangeKind, &str)> = changes
        .iter()
        .map(|change| (change.kind, change.subject.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (ChangeKind::Opened, "blocked exec"),
            (ChangeKind::Opened, "denied"),
            (ChangeKind::Closed, "outside -> productpage"),
            (ChangeKind::Closed, "plain exec"),
            (ChangeKind::Changed, "reset then refused"),
        ]
    );
    assert_eq!(changes[2].detail, "200 -> E56");
}

#[test]
fn connection_changes_are_classified_by_pair() {
    let old = results(
        &[],
        &[
            "sleep/sleep -> bookinfo/productpage:9080 plaintext allowed",
            "sleep-2/sleep -> bookinfo/productpage:9080 plaintext allowed",
            "bookinfo/productpage-v1 -> bookinfo/reviews:9080 mtls allowed",
            "legacy/sleep -> foo/httpbin:8080 plaintext rejected",
            "gone/a -> foo/b:80 mtls allowed",
        ],
    );
    let new = results(
        &[],
        &[
            "sleep/sleep -> bookinfo/productpage:9080 mtls allowed",
            "sleep-2/sleep -> bookinfo/productpage:9080 plaintext rejected",
            "bookinfo/productpage-v1 -> bookinfo/reviews:9080 mtls allowed",
            "legacy/sleep -> foo/httpbin:8080 plaintext allowed",
            "new/a -> foo/b:80 mtls allowed",
        ],
    );
    let changes = diff(&old, &new);
    let summary: Vec<(ChangeKind, &str, &str)> = changes
        .iter()
        .map(|change| (change.kind, change.subject.as_str(), change.detail.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                ChangeKind::Opened,
                "legacy/sleep -> foo/httpbin:8080",
                "plaintext rejected -> plaintext allowed"
            ),
            (
                ChangeKind::Closed,
                "sleep-2/sleep -> bookinfo/productpage:9080",
                "plaintext allowed -> plaintext rejected"
            ),
            (
                ChangeKind::Transport,
                "sleep/sleep -> bookinfo/productpage:9080",
                "plaintext allowed -> mtls allowed"
            ),
            (
                ChangeKind::NewConnection,
                "new/a -> foo/b:80",
                "mtls allowed"
            ),
            (
                ChangeKind::GoneConnection,
                "gone/a -> foo/b:80",
                "mtls allowed"
            ),
        ]
    );
}

#[test]
fn identical_results_have_no_changes() {
    let same = results(&[("a", "200")], &["x/y -> a/b:80 mtls allowed"]);
    assert!(diff(&same, &same).is_empty());
}

#[test]
fn missing_probes_and_scenarios_are_reported() {
    let old = results(&[("a", "200")], &[]);
    let mut new = results(&[("b", "200")], &[]);
    new.scenarios
        .insert("other".to_owned(), ScenarioResults::default());
    let kinds: Vec<ChangeKind> = diff(&old, &new).iter().map(|change| change.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ChangeKind::Missing,
            ChangeKind::Missing,
            ChangeKind::Missing
        ]
    );
}

#[test]
fn glob_patterns() {
    let cases = [
        (
            "*outside*",
            "walkthrough: closed: outside -> productpage",
            true,
        ),
        ("walkthrough: closed: *", "walkthrough: closed: a", true),
        ("walkthrough: closed: *", "walkthrough: opened: a", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("a*b*c", "a-x-b-y-c", true),
        ("a*b*c", "a-x-c-y-b", false),
    ];
    for (pattern, text, expected) in cases {
        assert_eq!(glob_matches(pattern, text), expected, "{pattern} on {text}");
    }
}

#[test]
fn exec_values_distinguish_status_codes() {
    assert_eq!(exec_value(Some(Some(0)), Some("403")), "HTTP 403");
    assert_eq!(exec_value(Some(Some(0)), Some("<html>")), "exit 0");
    assert_eq!(exec_value(Some(Some(56)), Some("000")), "exit 56");
    assert_eq!(exec_value(None, None), "not run");
}

/// Writes `text` to a file of its own under the system's temporary directory.
fn scratch_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("meshcheck-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write scratch file");
    path
}

#[test]
fn json_report_is_not_results_file() {
    let path = scratch_file(
        "report.json",
        "{\n  \"schemaVersion\": 1,\n  \"backend\": \"inprocess\",\n  \"summary\": {}\n}\n",
    );
    let error = Results::read(&path).expect_err("a JSON report is no results file");
    std::fs::remove_file(&path).ok();
    assert!(error.contains(":3:"), "{error}");
    assert!(
        error.contains("this is a JSON report (`meshcheck run --json`), not a results file"),
        "{error}"
    );
}

#[test]
fn malformed_results_name_the_position_once() {
    let path = scratch_file("broken.json", "{\n  \"schemaVersion\": 1,\n  oops\n}\n");
    let error = Results::read(&path).expect_err("malformed JSON");
    std::fs::remove_file(&path).ok();
    assert!(
        error.contains("broken.json:3:3: invalid results file: "),
        "{error}"
    );
    assert!(!error.contains("at line"), "{error}");
}
