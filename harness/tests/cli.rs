//! The `meshcheck` binary as a user runs it: exit codes, error lines and the JSON report.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn meshcheck(arguments: &[&str], path_variable: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meshcheck"));
    command
        .args(arguments)
        .current_dir(workspace())
        .env_remove("RUST_LOG");
    if let Some(path) = path_variable {
        command.env("PATH", path);
    }
    command.output().expect("meshcheck runs")
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A directory for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("meshcheck-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        Self(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write scenario");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks whether a curl process whose command line contains `marker` is running.
fn curl_running(marker: &str) -> bool {
    Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Waits, for at most 30 seconds, until a curl whose command line contains `marker` runs.
fn wait_for_curl(marker: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !curl_running(marker) {
        assert!(
            std::time::Instant::now() < deadline,
            "the probe's curl never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const HEADER: &str =
    "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: bad\nspec:\n  steps:\n";

#[test]
fn invalid_scenarios_exit_2_with_location() {
    let dir = TempDir::new("invalid");
    let cases = [
        (
            "malformed.yaml",
            format!("{HEADER}    - exec: {{target: deploy/sleep\n"),
            "malformed.yaml:7:",
        ),
        (
            "unknown-field.yaml",
            format!(
                "{HEADER}    - exec:\n        target: deploy/sleep\n        command: curl http://x\n      expect:\n        exitcode: 0\n"
            ),
            "unknown-field.yaml:11:9: unknown field `exitcode`",
        ),
        (
            "unknown-kind.yaml",
            format!(
                "{HEADER}    - apply:\n        manifest: |\n          apiVersion: security.istio.io/v1\n          kind: PeerAuthenticaton\n          metadata: {{name: default, namespace: foo}}\n"
            ),
            "unknown-kind.yaml:10:17: unsupported kind `PeerAuthenticaton`",
        ),
    ];
    for (name, content, expected) in cases {
        let path = dir.write(name, &content);
        let output = meshcheck(&["run", path.to_str().unwrap()], None);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name}: exit code; stderr: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{name}: expected {expected:?} in {stderr:?}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{name}: one line: {stderr:?}"
        );
        assert!(text(&output.stdout).is_empty(), "{name}: no scenario ran");
    }
}

#[test]
fn validate_accepts_bundled_scenarios() {
    let output = meshcheck(&["validate", "scenarios"], None);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
    assert!(text(&output.stdout).contains("valid"));
}

fn exec_exit_codes(report: &Value) -> Vec<(i64, Value)> {
    report["scenarios"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|step| step["kind"] == "exec")
        .map(|step| {
            (
                step["actualExitCode"].as_i64().expect("actual exit code"),
                step["expectedExitCodes"].clone(),
            )
        })
        .collect()
}

#[test]
fn walkthrough_report_lists_actual_exit_codes() {
    let dir = TempDir::new("json");
    let report_path = dir.0.join("out.json");
    let output = meshcheck(
        &[
            "run",
            "--json",
            report_path.to_str().unwrap(),
            "scenarios/tsb/understanding-mtls.yaml",
        ],
        None,
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}",
        text(&output.stdout)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["scenarios"][0]["outcome"], "passed");
    let actual: Vec<i64> = exec_exit_codes(&report)
        .into_iter()
        .map(|(code, _)| code)
        .collect();
    assert_eq!(
        actual,
        [0, 56, 56, 0, 56, 0],
        "exec steps' exit codes in order"
    );
    for step in report["scenarios"][0]["steps"].as_array().unwrap() {
        assert!(step["name"].is_string(), "every step has a name");
        assert_eq!(step["outcome"], "passed", "{}", step["name"]);
    }
}

#[test]
fn changed_expectation_fails_with_both_codes() {
    let dir = TempDir::new("changed");
    let original =
        std::fs::read_to_string(workspace().join("scenarios/tsb/understanding-mtls.yaml")).unwrap();
    let changed = original.replacen("exitCode: 56\n", "exitCode: 7\n", 1);
    assert_ne!(changed, original, "the scenario has an exit code to change");
    let path = dir.write("understanding-mtls.yaml", &changed);
    let output = meshcheck(&["run", path.to_str().unwrap()], None);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed step exits 1: {stdout}"
    );
    assert!(
        stdout.contains("FAIL  plaintext from outside the mesh is reset: exit 56 (expected 7)"),
        "{stdout}"
    );
    assert!(stdout.contains("expected: exit 7"), "{stdout}");
    assert!(stdout.contains("actual:   exit 56"), "{stdout}");
    let passed_steps = stdout
        .lines()
        .filter(|line| line.starts_with("  PASS"))
        .count();
    assert_eq!(passed_steps, 19, "the other steps still pass: {stdout}");
}

#[test]
fn missing_curl_exits_3_with_install_hint() {
    let dir = TempDir::new("nocurl");
    let empty = dir.0.join("bin");
    std::fs::create_dir_all(&empty).unwrap();
    let output = meshcheck(
        &["run", "scenarios/tsb/understanding-mtls.yaml"],
        Some(empty.to_str().unwrap()),
    );
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(3), "{all}");
    assert!(all.contains("curl not found on PATH"), "{all}");
    assert!(all.contains("apt-get install curl"), "{all}");
}

#[test]
fn missing_path_is_invalid_input() {
    let output = meshcheck(&["run", "no/such/dir"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no/such/dir"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn broken_matrix_shows_both_grids() {
    let dir = TempDir::new("matrix");
    let original =
        std::fs::read_to_string(workspace().join("scenarios/tsb/understanding-mtls.yaml")).unwrap();
    let row = "          inside       200          200      200      200      E35\n";
    assert!(
        original.contains(row),
        "the walkthrough has the matrix row to change"
    );
    let changed = original.replacen(
        row,
        "          inside       200          reset    200      200      E35\n",
        1,
    );
    let path = dir.write("understanding-mtls.yaml", &changed);
    let output = meshcheck(&["run", path.to_str().unwrap()], None);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("1 of 15 cells differ"), "{stdout}");
    let header = stdout
        .lines()
        .find(|line| line.contains("expected") && line.contains("|  observed"));
    assert!(header.is_some(), "both grids are titled: {stdout}");
    let inside = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("inside "))
        .expect("the inside row is printed");
    let (expected, observed) = inside.split_once('|').expect("side by side");
    assert!(expected.contains("E56*"), "expected cell marked: {inside}");
    assert!(observed.contains("200*"), "observed cell marked: {inside}");
    assert!(
        stdout.contains("mismatch: inside -> details: expected E56, observed 200"),
        "{stdout}"
    );
}

#[test]
fn diff_lists_only_outside_connections_closing() {
    let dir = TempDir::new("diff");
    let before = dir.0.join("before.json");
    let after = dir.0.join("after.json");
    for (mode, path) in [("OPTIONAL", &before), ("REQUIRED", &after)] {
        let output = meshcheck(
            &[
                "run",
                "--set",
                &format!("TRAFFIC_MODE={mode}"),
                "--results",
                path.to_str().unwrap(),
                "scenarios/regression/tenant-traffic-mode.yaml",
            ],
            None,
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{mode}: {}",
            text(&output.stdout)
        );
    }
    let output = meshcheck(
        &["diff", before.to_str().unwrap(), after.to_str().unwrap()],
        None,
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "unexpected changes exit 1: {stdout}"
    );
    let changes: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with('!'))
        .collect();
    assert_eq!(
        changes.len(),
        8,
        "four probes and four connections: {stdout}"
    );
    for change in &changes {
        assert!(
            change.starts_with("! closed"),
            "only closing changes: {change}"
        );
        assert!(
            change.contains(": outside -> ") || change.contains(" sleep/sleep -> "),
            "only the client outside the mesh: {change}"
        );
    }
    let allowed = meshcheck(
        &[
            "diff",
            before.to_str().unwrap(),
            after.to_str().unwrap(),
            "--allow",
            "tenant-traffic-mode: closed: *outside -> *",
            "--allow",
            "tenant-traffic-mode: closed: sleep/sleep -> *",
        ],
        None,
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stdout));
    let same = meshcheck(
        &["diff", before.to_str().unwrap(), before.to_str().unwrap()],
        None,
    );
    assert_eq!(same.status.code(), Some(0));
    assert!(text(&same.stdout).contains("0 change(s)"));
}

#[test]
fn misspelled_set_and_duplicate_names_are_invalid() {
    let output = meshcheck(
        &[
            "validate",
            "--set",
            "TRAFIC_MODE=REQUIRED",
            "scenarios/regression",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--set TRAFIC_MODE: no selected scenario defines or uses this variable"),
        "{stderr}"
    );
    assert!(
        stderr.contains("TRAFFIC_MODE"),
        "the known variables are listed: {stderr}"
    );

    let dir = TempDir::new("duplicate-names");
    let scenario = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {name: same}\nspec:\n  steps:\n    - apply: {bundled: sleep, namespace: default}\n";
    let first = dir.write("a.yaml", scenario);
    let second = dir.write("b.yaml", &format!("# the same name again\n{scenario}"));
    let output = meshcheck(&["validate", dir.0.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "error: {}:4:18: scenario name `same` is also used at {}:3:18; give each scenario \
             its own metadata.name",
            second.display(),
            first.display()
        )),
        "{stderr}"
    );
}

#[test]
fn interrupt_stops_curl_and_keeps_finished_steps() {
    let dir = TempDir::new("interrupt");
    let marker = format!("meshcheck-interrupt-{}", std::process::id());
    let scenario = format!(
        "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: long}}\nspec:\n  steps:\n    - apply: {{bundled: httpbin, namespace: default}}\n    - apply: {{bundled: sleep, namespace: default}}\n    - exec: {{target: deploy/sleep, command: 'curl -s http://httpbin:8000/delay/9?{marker}'}}\n      expect: {{stdout: {{contains: url}}}}\n"
    );
    let path = dir.write("long.yaml", &scenario);
    let report = dir.0.join("report.json");
    let child = Command::new(env!("CARGO_BIN_EXE_meshcheck"))
        .args([
            "run",
            "--json",
            report.to_str().unwrap(),
            path.to_str().unwrap(),
        ])
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the slow probe's curl runs, the steps before it have finished.
    wait_for_curl(&marker);
    let pid = child.id().to_string();
    let signal = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(signal.success(), "SIGINT sent");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(!curl_running(&marker), "no curl is left behind");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    let outcomes: Vec<&str> = report["scenarios"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["passed", "passed", "skipped"],
        "finished steps are kept"
    );
    let scenario_ms = report["scenarios"][0]["durationMs"].as_f64().unwrap();
    let running_ms = report["scenarios"][0]["steps"][2]["durationMs"]
        .as_f64()
        .unwrap();
    assert!(
        running_ms > 0.0,
        "the interrupted step ran for {running_ms} ms"
    );
    assert!(
        scenario_ms >= running_ms,
        "the scenario ({scenario_ms} ms) ran at least as long as its last step"
    );
}

#[test]
fn unwritable_report_keeps_other_files() {
    let dir = TempDir::new("unwritable");
    let earlier = dir.write("earlier.json", "{\"kept\": true}\n");
    let unwritable = dir.0.join("no-such-directory").join("out.xml");
    let output = meshcheck(
        &[
            "run",
            "--json",
            earlier.to_str().expect("utf-8 path"),
            "--junit",
            unwritable.to_str().expect("utf-8 path"),
            "scenarios/istio/namespace-strict-peer-authentication.yaml",
        ],
        None,
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the JUnit report to"),
        "{stderr}"
    );
    assert!(
        !text(&output.stdout).contains("PASS"),
        "no scenario may run"
    );
    assert_eq!(
        std::fs::read_to_string(&earlier).expect("earlier report"),
        "{\"kept\": true}\n",
        "checking that a report can be written must not empty it"
    );
}

/// Organization tetrate, tenant default and workspace app-ws, which selects `*/app` only.
const TSB_HIERARCHY: &str = r#"apiVersion: api.tsb.tetrate.io/v2
kind: Organization
metadata:
  name: tetrate
---
apiVersion: api.tsb.tetrate.io/v2
kind: Tenant
metadata:
  organization: tetrate
  name: default
---
apiVersion: api.tsb.tetrate.io/v2
kind: Workspace
metadata:
  organization: tetrate
  tenant: default
  name: app-ws
spec:
  namespaceSelector:
    names: ["*/app"]
"#;

/// A WorkspaceSetting for app-ws that requires mTLS and allows only the workspace.
const TSB_WORKSPACE_SETTING: &str = r#"apiVersion: api.tsb.tetrate.io/v2
kind: WorkspaceSetting
metadata:
  organization: tetrate
  tenant: default
  workspace: app-ws
  name: app-ws-setting
spec:
  defaultSecuritySetting:
    authenticationSettings: {trafficMode: REQUIRED}
    authorization: {mode: WORKSPACE}
"#;

/// Security group app-group of app-ws, selecting `names` (a YAML flow sequence).
fn tsb_group(names: &str) -> String {
    format!(
        "apiVersion: security.tsb.tetrate.io/v2\nkind: Group\nmetadata:\n  organization: \
         tetrate\n  tenant: default\n  workspace: app-ws\n  name: app-group\nspec:\n  \
         namespaceSelector:\n    names: {names}\n"
    )
}

#[test]
fn translate_rejects_invalid_arguments() {
    let dir = TempDir::new("translate-arguments");
    let manifest = dir.write(
        "tsb.yaml",
        &format!("{TSB_HIERARCHY}---\n{TSB_WORKSPACE_SETTING}"),
    );
    let manifest = manifest.to_str().unwrap();
    // The option, its value, and what the error must explain.
    let cases = [
        ("--cluster", "", "a cluster name must be a DNS-1123 label"),
        (
            "--cluster",
            "Cluster-1",
            "a cluster name must be a DNS-1123 label",
        ),
        (
            "--cluster",
            "cluster_1",
            "a cluster name must be a DNS-1123 label",
        ),
        (
            "--cluster",
            "-cluster",
            "a cluster name must be a DNS-1123 label",
        ),
        (
            "--cluster",
            "c1.example",
            "a cluster name must be a DNS-1123 label",
        ),
        ("--trust-domain", "", "a trust domain must be DNS-like"),
        (
            "--trust-domain",
            "Cluster.local",
            "a trust domain must be DNS-like",
        ),
        (
            "--trust-domain",
            "cluster local",
            "a trust domain must be DNS-like",
        ),
        ("--trust-domain", "a..b", "a trust domain must be DNS-like"),
        ("--trust-domain", "td/ns", "a trust domain must be DNS-like"),
        (
            "--namespace",
            "",
            "a namespace name must be a DNS-1123 label",
        ),
        (
            "--namespace",
            "Bad_NS",
            "a namespace name must be a DNS-1123 label",
        ),
        (
            "--namespace",
            "a.b",
            "a namespace name must be a DNS-1123 label",
        ),
    ];
    for (option, value, explanation) in cases {
        // `--option=value`, so that a value starting with `-` is not read as an option.
        let argument = format!("{option}={value}");
        let output = meshcheck(&["translate", &argument, manifest], None);
        let stderr = text(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{option} {value:?}: {stderr}"
        );
        assert_eq!(
            text(&output.stdout),
            "",
            "{option} {value:?} prints nothing"
        );
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '{option} ")),
            "{option} {value:?}: {stderr}"
        );
        assert!(stderr.contains(explanation), "{option} {value:?}: {stderr}");
    }
}

#[test]
fn translate_uses_valid_arguments() {
    let dir = TempDir::new("translate-valid");
    let manifest = dir.write(
        "tsb.yaml",
        &format!("{TSB_HIERARCHY}---\n{TSB_WORKSPACE_SETTING}"),
    );
    let output = meshcheck(
        &[
            "translate",
            "--cluster",
            "east-1",
            "--trust-domain",
            "east-1.example.org",
            "--namespace",
            "extra",
            manifest.to_str().unwrap(),
        ],
        None,
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
    assert!(stdout.contains("namespace: app"), "{stdout}");
    assert!(
        stdout.contains("east-1.example.org/ns/app/*"),
        "principals use the trust domain: {stdout}"
    );
}

#[test]
fn translate_rejects_group_outside_workspace() {
    let dir = TempDir::new("translate-group");
    let text_of_file = format!("{TSB_HIERARCHY}---\n{}", tsb_group(r#"["*/*"]"#));
    let manifest = dir.write("tsb.yaml", &text_of_file);
    let output = meshcheck(&["translate", manifest.to_str().unwrap()], None);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(text(&output.stdout), "");
    // The location is the `kind` line of the group, the fourth document.
    assert!(
        stderr.contains(&format!("{}:23:1: ", manifest.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "Group organizations/tetrate/tenants/default/workspaces/app-ws/securitygroups/\
             app-group: namespaceSelector entry \"*/*\" selects namespaces outside its \
             workspace organizations/tetrate/tenants/default/workspaces/app-ws, whose \
             namespaceSelector is [\"*/app\"]"
        ),
        "{stderr}"
    );
}

#[test]
fn group_outside_workspace_is_invalid_before_run() {
    let dir = TempDir::new("group-step");
    let indent = |manifest: &str| {
        manifest
            .lines()
            .map(|line| format!("          {line}\n"))
            .collect::<String>()
    };
    let scenario = [
        HEADER.to_owned(),
        "    - name: create the hierarchy\n      apply:\n        manifest: |\n".to_owned(),
        indent(TSB_HIERARCHY),
        "    - name: add a group that selects every namespace\n".to_owned(),
        "      apply:\n        manifest: |\n".to_owned(),
        indent(&tsb_group(r#"["*/*"]"#)),
        "    - name: not reached\n".to_owned(),
        "      apply: {bundled: sleep, namespace: default}\n".to_owned(),
    ]
    .concat();
    let path = dir.write("group.yaml", &scenario);

    for command in ["validate", "run"] {
        let output = meshcheck(&[command, path.to_str().unwrap()], None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            !text(&output.stdout).contains("PASS"),
            "{command}: no step may run"
        );
        // The group's `kind` line, the second line of the second apply's manifest.
        assert!(
            stderr.contains(&format!("{}:34:11: ", path.display())),
            "{command}: {stderr}"
        );
        assert!(
            stderr.contains("namespaceSelector entry \"*/*\" selects namespaces outside"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn streak_cut_short_by_timeout_is_inconclusive() {
    let dir = TempDir::new("short-success");
    let scenario = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: short\nspec:\n  timeouts: {success: 1ms}\n  steps:\n    - apply: {bundled: httpbin, namespace: default}\n    - apply: {bundled: sleep, namespace: default}\n    - name: one matching attempt fits in the timeout\n      exec:\n        target: deploy/sleep\n        command: curl -sS http://httpbin:8000/get\n      expect: {}\n    - name: one matching cell fits in the timeout\n      matrix:\n        sources:\n          sleep: {target: deploy/sleep}\n        requests:\n          get: http://httpbin:8000/get\n        expect: |\n          .      get\n          sleep  200\n";
    let path = dir.write("short.yaml", scenario);

    let report_path = dir.0.join("out.json");
    let output = meshcheck(
        &[
            "run",
            "--json",
            report_path.to_str().expect("utf-8 path"),
            path.to_str().expect("utf-8 path"),
        ],
        None,
    );
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{stdout}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report"))
            .expect("JSON report");
    let steps = report["scenarios"][0]["steps"].as_array().expect("steps");
    assert_eq!(steps[2]["outcome"], "inconclusive", "{stdout}");
    let exec_message = steps[2]["message"].as_str().expect("exec message");
    assert!(
        exec_message.contains("every attempt matched, but only 1 of the 3 in a row"),
        "{exec_message}"
    );

    assert_eq!(steps[3]["outcome"], "inconclusive", "{stdout}");
    let matrix_message = steps[3]["message"].as_str().expect("matrix message");
    assert_eq!(
        matrix_message, "0 of 1 cells differ, 1 could not be judged",
        "{stdout}"
    );
    assert!(
        stdout.contains("sleep -> get: observed 200 every time, but not 3 times in a row"),
        "{stdout}"
    );
}

#[test]
fn sync_timeout_skips_with_settle_reason() {
    let dir = TempDir::new("sync-timeout");
    // NOTE: this relies on the six bookinfo pods, whose sidecars request certificates from the
    // CA, not all starting within 1ms.
    let scenario = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: unsettled\nspec:\n  timeouts: {sync: 1ms}\n  steps:\n    - apply:\n        manifest: |\n          apiVersion: v1\n          kind: Namespace\n          metadata:\n            name: bookinfo\n            labels: {istio-injection: enabled}\n    - apply: {bundled: bookinfo, namespace: bookinfo}\n    - apply: {bundled: sleep, namespace: bookinfo}\n";
    let path = dir.write("unsettled.yaml", scenario);
    let report_path = dir.0.join("out.json");
    let output = meshcheck(
        &[
            "run",
            "--json",
            report_path.to_str().expect("utf-8 path"),
            path.to_str().expect("utf-8 path"),
        ],
        None,
    );
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{stdout}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report"))
            .expect("JSON report");
    let steps = report["scenarios"][0]["steps"].as_array().expect("steps");
    assert_eq!(steps[1]["outcome"], "inconclusive", "{stdout}");
    let timeout_message = steps[1]["message"].as_str().expect("timeout message");
    assert!(
        timeout_message.contains("raise spec.timeouts.sync (now 1ms)"),
        "{timeout_message}"
    );
    assert_eq!(steps[2]["outcome"], "skipped", "{stdout}");
    assert_eq!(
        steps[2]["message"],
        "skipped: the mesh did not settle within the sync timeout after step 2 (apply bundled \
         bookinfo -n bookinfo)",
        "{stdout}"
    );
}

#[test]
fn traffic_with_missing_ends_is_inconclusive_at_once() {
    let dir = TempDir::new("traffic-missing");
    let scenario = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata:\n  name: missing-ends\nspec:\n  timeouts: {success: 30s}\n  steps:\n    - apply: {bundled: httpbin, namespace: default}\n    - apply: {bundled: sleep, namespace: default}\n    - exec:\n        target: deploy/sleep\n        command: curl -sS http://httpbin:8000/get\n      expect: {}\n    - traffic:\n        from: {target: deploy/sleeep}\n        to: {service: httpbin}\n    - traffic:\n        from: {target: deploy/sleep}\n        to: {service: httpbinn}\n    - traffic:\n        from: {target: deploy/sleep}\n        to: {target: pod/absent, namespace: other}\n    - exec:\n        target: deploy/ghost\n        command: curl -sS http://httpbin:8000/get\n      expect: {}\n";
    let path = dir.write("missing.yaml", scenario);

    // The command line's dry run rejects the first missing end before any mesh starts.
    let output = meshcheck(&["run", path.to_str().expect("utf-8 path")], None);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":14:7: step `traffic deploy/sleeep -n default"),
        "{stderr}"
    );

    // Without the dry run, as a backend that cannot rehearse runs it, the steps themselves
    // find the missing ends.
    let loaded = meshcheck::scenario::load(&path).expect("the scenario loads");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let report = runtime.block_on(meshcheck::runner::run_scenario(
        &loaded,
        meshcheck::backend::BackendKind::InProcess,
    ));
    let cases = [
        (3, "`from` names Deployment default/sleeep"),
        (4, "`to` names Service default/httpbinn"),
        (5, "`to` names Pod other/absent"),
    ];
    for (index, named) in cases {
        let step = &report.steps[index];
        assert_eq!(
            step.outcome,
            meshcheck::report::Outcome::Inconclusive,
            "step {index}"
        );
        assert_eq!(
            step.message.as_deref(),
            Some(
                format!(
                    "{named}, which does not exist in the cluster; check the name and namespace, \
                     or create it in an earlier step"
                )
                .as_str()
            ),
            "step {index}"
        );
        // The success timeout is 30s; a step that waited for records would take that long.
        assert!(
            step.duration < std::time::Duration::from_secs(5),
            "step {index} waited {:?}",
            step.duration
        );
    }
    let exec = &report.steps[6];
    assert_eq!(exec.outcome, meshcheck::report::Outcome::Inconclusive);
    assert!(
        exec.message.as_deref().is_some_and(|message| message
            .contains("deploy/ghost in namespace default does not exist in the cluster")),
        "{:?}",
        exec.message
    );
    assert!(
        exec.duration < std::time::Duration::from_secs(5),
        "the exec step retried for {:?}",
        exec.duration
    );
}

#[test]
fn interrupt_of_whole_process_group_skips_running_probe() {
    use std::os::unix::process::CommandExt;

    let dir = TempDir::new("interrupt-group");
    let marker = format!("meshcheck-group-{}", std::process::id());
    let scenario = format!(
        "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: long}}\nspec:\n  steps:\n    - apply: {{bundled: httpbin, namespace: default}}\n    - apply: {{bundled: sleep, namespace: default}}\n    - exec: {{target: deploy/sleep, command: 'curl -s http://httpbin:8000/delay/9?{marker}'}}\n      expect: {{stdout: {{contains: url}}}}\n      probe: once\n"
    );
    let path = dir.write("long.yaml", &scenario);
    let report = dir.0.join("report.json");
    // A terminal's Ctrl-C reaches every process of the foreground group, curl included
    // unless meshcheck moves it to a group of its own.
    let child = Command::new(env!("CARGO_BIN_EXE_meshcheck"))
        .args([
            "run",
            "--json",
            report.to_str().unwrap(),
            path.to_str().unwrap(),
        ])
        .current_dir(workspace())
        .process_group(0)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the slow probe's curl runs, the steps before it have finished.
    wait_for_curl(&marker);
    let group = format!("-{}", child.id());
    let signal = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(signal.success(), "SIGINT sent to the group");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(!curl_running(&marker), "no curl is left behind");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let running = &report["scenarios"][0]["steps"][2];
    assert_eq!(running["outcome"], "skipped", "{running}");
    assert_eq!(report["summary"]["failed"], 0, "{}", report["summary"]);
}

#[test]
fn outputs_may_not_overwrite_scenarios_or_each_other() {
    let dir = TempDir::new("outputs");
    let scenario = format!("{HEADER}    - apply: {{bundled: sleep, namespace: default}}\n");
    let path = dir.write("victim.yaml", &scenario);
    let victim = path.to_str().expect("utf-8 path");
    let shared = dir.0.join("same.out");
    let shared = shared.to_str().expect("utf-8 path");
    let cases: [(&[&str], &str); 3] = [
        (
            &["run", "--json", victim, victim],
            "the JSON report would overwrite the scenario file",
        ),
        (
            &["run", "--json", shared, "--results", shared, victim],
            "the results file and the JSON report would both be written to",
        ),
        (
            &["graph", "-o", victim, victim],
            "the graph would overwrite the scenario file",
        ),
    ];
    for (arguments, message) in cases {
        let output = meshcheck(arguments, None);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{arguments:?}: {stderr}");
        assert!(stderr.contains(message), "{arguments:?}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("scenario"),
            scenario,
            "{arguments:?} changed the scenario file"
        );
    }
}

#[test]
fn translate_variable_hint_fits_standalone_manifests() {
    let dir = TempDir::new("translate-variable");
    let manifest = dir.write(
        "org.yaml",
        "apiVersion: api.tsb.tetrate.io/v2\nkind: Organization\nmetadata:\n  name: ${ORG}\n",
    );
    let output = meshcheck(&["translate", manifest.to_str().unwrap()], None);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":4:9: undefined variable `ORG`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("a manifest outside a scenario has no variables"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("--set"),
        "translate has no --set: {stderr}"
    );
}

#[test]
fn interrupted_graph_keeps_file_and_stops_curl() {
    let dir = TempDir::new("graph-interrupt");
    let marker = format!("meshcheck-graph-{}", std::process::id());
    let scenario = format!(
        "{HEADER}    - apply: {{bundled: httpbin, namespace: default}}\n    - apply: {{bundled: sleep, namespace: default}}\n    - exec: {{target: deploy/sleep, command: 'curl -s http://httpbin:8000/delay/9?{marker}'}}\n      expect: {{stdout: {{contains: url}}}}\n"
    );
    let path = dir.write("slow.yaml", &scenario);
    let graph = dir.write("graph.html", "earlier graph\n");

    let child = Command::new(env!("CARGO_BIN_EXE_meshcheck"))
        .args([
            "graph",
            "-o",
            graph.to_str().unwrap(),
            path.to_str().unwrap(),
        ])
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the slow probe's curl runs, the steps before it have finished.
    wait_for_curl(&marker);

    let pid = child.id().to_string();
    let signal = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(signal.success(), "SIGINT sent");

    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: the scenario was stopped"),
        "{stderr}"
    );
    assert!(!curl_running(&marker), "no curl is left behind");
    assert_eq!(
        std::fs::read_to_string(&graph).unwrap(),
        "earlier graph\n",
        "the earlier graph is kept"
    );
}
