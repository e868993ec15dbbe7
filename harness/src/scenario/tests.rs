//! Tests of scenario loading against real files in a temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mesh_sim::resources::ResourceKind;

use super::*;

/// A directory under the system temporary directory, removed when dropped.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("meshcheck-{label}-{}-{unique}", std::process::id()));
        fs::create_dir_all(&path).expect("create the temporary directory");
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` to `relative` under the directory, creating parent directories.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, text).expect("write the file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // A leftover directory in the temporary directory is harmless, so a failure to
        // remove it does not fail the test.
        let _ = fs::remove_dir_all(&self.path);
    }
}

const SLEEP_MANIFEST: &str = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sleep
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleep
spec:
  replicas: 1
  selector:
    matchLabels: {app: sleep}
  template:
    metadata:
      labels: {app: sleep}
    spec:
      serviceAccountName: sleep
      containers:
        - name: sleep
          image: curlimages/curl
          command: [/bin/sleep, infinity]
";

/// A bundled manifest catalog with one entry, `sleep`.
struct TestBundled;

impl BundledManifests for TestBundled {
    fn manifest(&self, name: &str) -> Option<&'static str> {
        (name == "sleep").then_some(SLEEP_MANIFEST)
    }

    fn names(&self) -> Vec<&'static str> {
        vec!["httpbin", "sleep"]
    }
}

fn load_text(temp: &TempDir, text: &str) -> Result<Scenario, ScenarioError> {
    let path = temp.write("scenario.yaml", text);
    load_with_bundled(&path, &BTreeMap::new(), &TestBundled)
}

const FULL_SCENARIO: &str = r#"apiVersion: meshcheck.dev/v1alpha1
kind: Scenario
metadata:
  name: understanding-mtls
  description: Enforce mTLS with a TenantSetting
  tags: [tsb, mtls]
spec:
  cluster:
    name: cluster-1
    trustDomain: cluster-1.tsb.local
  variables:
    ORG: tetrate
    TEN: default
    PORT: 9080
  timeouts:
    sync: 45s
    success: 1m30s
  steps:
    - name: deploy sleep
      apply:
        bundled: sleep
        namespace: sleep
    - apply:
        files: manifests/namespace.yaml
    - apply:
        manifest: |
          apiVersion: api.tsb.tetrate.io/v2
          kind: TenantSetting
          metadata:
            organization: ${ORG}
            tenant: ${TEN}
            name: ${TEN}-setting
          spec:
            defaultSecuritySetting:
              authenticationSettings:
                trafficMode: REQUIRED
              authorization:
                mode: CLUSTER
          ---
          apiVersion: security.istio.io/v1
          kind: PeerAuthentication
          metadata: {name: default}
          spec: {mtls: {mode: STRICT}}
        namespace: bookinfo
    - exec:
        target: deploy/sleep
        namespace: sleep
        command: curl -sS "http://productpage.bookinfo:${PORT}/productpage"
      expect:
        exitCode: 56
        stderr: {regex: "Connection reset by peer"}
    - label:
        target: namespace/sleep
        set: {istio-injection: enabled}
        remove: old-label
    - rolloutRestart: {target: deploy/sleep, namespace: sleep}
    - exec:
        target: sleep-0
        container: sleep
        command: [curl, -sS, "http://productpage.bookinfo:9080/productpage"]
      expect:
        exitCode: [0]
        stdout:
          contains: "<title>Simple Bookstore App</title>"
          notContains: [RBAC, "403"]
      probe: once
    - delete:
        resources: [namespace/sleep, deploy/sleep]
        namespace: sleep
    - delete: {bundled: sleep, namespace: sleep}
"#;

const NAMESPACE_MANIFEST: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: bookinfo
  labels: {istio-injection: enabled}
";

fn objects(action: &Action) -> &[LocatedResource] {
    match action {
        Action::Apply(set) | Action::Delete(DeleteTarget::Objects(set)) => &set.objects,
        other => panic!("not a manifest action: {other:?}"),
    }
}

/// Kind, name, namespace and location of each object.
fn summarize(objects: &[LocatedResource]) -> Vec<(ResourceKind, String, Option<String>, String)> {
    objects
        .iter()
        .map(|object| {
            let namespace = object
                .resource
                .object_meta()
                .and_then(|meta| meta.namespace.clone());
            (
                object.resource.kind(),
                object.resource.name().to_owned(),
                namespace,
                object.location.to_string(),
            )
        })
        .collect()
}

#[test]
fn full_scenario_parses_into_model() {
    let temp = TempDir::new("full");
    let namespace_file = temp.write("manifests/namespace.yaml", NAMESPACE_MANIFEST);
    let path = temp.write("scenario.yaml", FULL_SCENARIO);
    let scenario = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap();
    let at = |line, column| format!("{}:{line}:{column}", path.display());

    assert_eq!(scenario.name, "understanding-mtls");
    assert_eq!(scenario.name_location.to_string(), at(4, 9));
    assert_eq!(
        scenario.description.as_deref(),
        Some("Enforce mTLS with a TenantSetting")
    );
    assert_eq!(scenario.tags, vec!["tsb", "mtls"]);
    assert_eq!(scenario.path, path);
    assert_eq!(
        scenario.cluster,
        ClusterSettings {
            name: "cluster-1".into(),
            trust_domain: "cluster-1.tsb.local".into(),
        }
    );
    assert_eq!(
        scenario.timeouts,
        Timeouts {
            sync: Duration::from_secs(45),
            success: Duration::from_secs(90),
        }
    );

    let names: Vec<&str> = scenario
        .steps
        .iter()
        .map(|step| step.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "deploy sleep",
            "apply -f manifests/namespace.yaml",
            "apply TenantSetting default-setting, PeerAuthentication default -n bookinfo",
            "exec deploy/sleep -n sleep -- curl -sS http://productpage.bookinfo:9080/productpage",
            "label namespace/sleep istio-injection=enabled old-label-",
            "rollout restart deploy/sleep -n sleep",
            "exec sleep-0 -c sleep -- curl -sS http://productpage.bookinfo:9080/productpage",
            "delete namespace/sleep deploy/sleep -n sleep",
            "delete bundled sleep -n sleep",
        ]
    );
    let locations: Vec<String> = scenario
        .steps
        .iter()
        .map(|step| step.location.to_string())
        .collect();
    let expected_locations = [
        (19, 7),
        (23, 7),
        (25, 7),
        (45, 7),
        (52, 7),
        (56, 7),
        (57, 7),
        (67, 7),
        (70, 7),
    ];
    let expected_locations: Vec<String> = expected_locations
        .iter()
        .map(|(line, column)| at(*line, *column))
        .collect();
    assert_eq!(locations, expected_locations);

    let bundled = "<bundled:sleep>";
    assert_eq!(
        summarize(objects(&scenario.steps[0].action)),
        vec![
            (
                ResourceKind::ServiceAccount,
                "sleep".into(),
                Some("sleep".into()),
                format!("{bundled}:2:1")
            ),
            (
                ResourceKind::Deployment,
                "sleep".into(),
                Some("sleep".into()),
                format!("{bundled}:7:1")
            ),
        ]
    );
    assert_eq!(
        summarize(objects(&scenario.steps[1].action)),
        vec![(
            ResourceKind::Namespace,
            "bookinfo".into(),
            None,
            format!("{}:2:1", namespace_file.display())
        )]
    );
    let inline = objects(&scenario.steps[2].action);
    assert_eq!(
        summarize(inline),
        vec![
            (
                ResourceKind::TenantSetting,
                "default-setting".into(),
                None,
                at(28, 11)
            ),
            (
                ResourceKind::PeerAuthentication,
                "default".into(),
                Some("bookinfo".into()),
                at(41, 11)
            ),
        ]
    );
    assert_eq!(
        inline[0].resource.key().unwrap().to_string(),
        "TenantSetting organizations/tetrate/tenants/default/settings/default-setting"
    );

    let Action::Exec(plain) = &scenario.steps[3].action else {
        panic!("step 3 is not exec: {:?}", scenario.steps[3].action);
    };
    assert_eq!(
        *plain,
        ExecStep {
            target: WorkloadRef {
                kind: WorkloadKind::Deployment,
                name: "sleep".into(),
                namespace: "sleep".into(),
            },
            container: None,
            argv: vec![
                "curl".into(),
                "-sS".into(),
                "http://productpage.bookinfo:9080/productpage".into()
            ],
            expect: Expectation {
                exit_codes: vec![56],
                stdout: vec![],
                stderr: vec![TextMatcher::Regex(
                    Pattern::new("Connection reset by peer").unwrap()
                )],
            },
            probe: ProbeMode::Once,
            stdin: None,
        }
    );

    assert_eq!(
        scenario.steps[4].action,
        Action::Label(LabelStep {
            target: ObjectRef {
                kind: ResourceKind::Namespace,
                namespace: None,
                name: "sleep".into(),
            },
            set: BTreeMap::from([("istio-injection".into(), "enabled".into())]),
            remove: vec!["old-label".into()],
        })
    );
    assert_eq!(
        scenario.steps[5].action,
        Action::RolloutRestart(WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "sleep".into(),
            namespace: "sleep".into(),
        })
    );

    let Action::Exec(meshed) = &scenario.steps[6].action else {
        panic!("step 6 is not exec: {:?}", scenario.steps[6].action);
    };
    assert_eq!(
        meshed.target,
        WorkloadRef {
            kind: WorkloadKind::Pod,
            name: "sleep-0".into(),
            namespace: "default".into(),
        }
    );
    assert_eq!(meshed.container.as_deref(), Some("sleep"));
    assert_eq!(
        meshed.expect,
        Expectation {
            exit_codes: vec![0],
            stdout: vec![
                TextMatcher::Contains("<title>Simple Bookstore App</title>".into()),
                TextMatcher::NotContains("RBAC".into()),
                TextMatcher::NotContains("403".into()),
            ],
            stderr: vec![],
        }
    );
    assert_eq!(meshed.probe, ProbeMode::Once);

    assert_eq!(
        scenario.steps[7].action,
        Action::Delete(DeleteTarget::Refs(vec![
            ObjectRef {
                kind: ResourceKind::Namespace,
                namespace: None,
                name: "sleep".into(),
            },
            ObjectRef {
                kind: ResourceKind::Deployment,
                namespace: Some("sleep".into()),
                name: "sleep".into(),
            },
        ]))
    );
    assert_eq!(objects(&scenario.steps[8].action).len(), 2);
}

#[test]
fn minimal_scenario_uses_defaults() {
    let temp = TempDir::new("minimal");
    let scenario = load_text(
        &temp,
        "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {name: minimal}\nspec:\n  \
         steps:\n    - exec: {target: sleep, command: 'curl -s http://x'}\n      expect: {}\n",
    )
    .unwrap();
    assert_eq!(scenario.description, None);
    assert!(scenario.tags.is_empty());
    assert_eq!(scenario.cluster, ClusterSettings::default());
    assert_eq!(scenario.cluster.name, "cluster-1");
    assert_eq!(scenario.cluster.trust_domain, "cluster.local");
    assert_eq!(scenario.timeouts.sync, Duration::from_secs(30));
    assert_eq!(scenario.timeouts.success, Duration::from_secs(10));
    let Action::Exec(exec) = &scenario.steps[0].action else {
        panic!("not exec: {:?}", scenario.steps[0].action);
    };
    assert_eq!(exec.expect, Expectation::default());
    assert_eq!(exec.target.namespace, "default");
    assert_eq!(exec.probe, ProbeMode::Consecutive);
}

/// The first six lines of every scenario built by [`with_steps`]; steps start on line 7.
const HEADER: &str = "\
apiVersion: meshcheck.dev/v1alpha1
kind: Scenario
metadata:
  name: case
spec:
  steps:
";

fn with_steps(steps: &str) -> String {
    format!("{HEADER}{steps}")
}

/// Builds a scenario with one exec step, on line 7, and the given `expect` block.
fn exec_expecting(expect: &str) -> String {
    with_steps(&format!(
        "    - exec: {{target: deploy/sleep, command: curl http://x}}\n      expect:\n{expect}"
    ))
}

/// Builds a top-level mapping `x` of nine lines whose aliases expand to about 10^9 nodes: each
/// line is a list of ten aliases of the line above.
fn alias_bomb() -> String {
    let mut text = "x:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
    for level in 1..9 {
        let aliases = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("  a{level}: &a{level} [{aliases}]\n"));
    }
    text
}

fn load_exec(temp: &TempDir, text: &str) -> ExecStep {
    let scenario = load_text(temp, text).unwrap();
    match scenario.steps.into_iter().next().map(|step| step.action) {
        Some(Action::Exec(exec)) => exec,
        other => panic!("not an exec step: {other:?}"),
    }
}

#[test]
fn exit_code_one_or_list() {
    let temp = TempDir::new("exit-codes");
    let cases: [(&str, &[i32]); 4] = [
        ("        exitCode: 7\n", &[7]),
        ("        exitCode: [7, 56]\n", &[7, 56]),
        ("        exitCode: [56, 7, 56]\n", &[56, 7]),
        ("        stdout: {contains: ok}\n", &[0]),
    ];
    for (expect, codes) in cases {
        let exec = load_exec(&temp, &exec_expecting(expect));
        assert_eq!(exec.expect.exit_codes, codes, "{expect}");
    }
}

#[test]
fn probe_mode_defaults() {
    let temp = TempDir::new("probe");
    let cases = [
        ("      expect: {exitCode: 0}\n", ProbeMode::Consecutive),
        ("      expect: {exitCode: [0]}\n", ProbeMode::Consecutive),
        ("      expect: {exitCode: 56}\n", ProbeMode::Once),
        ("      expect: {exitCode: [0, 56]}\n", ProbeMode::Once),
        (
            "      expect: {exitCode: 56}\n      probe: consecutive\n",
            ProbeMode::Consecutive,
        ),
        ("      expect: {}\n      probe: once\n", ProbeMode::Once),
        (
            "      expect: {stdout: {equals: \"403\"}}\n",
            ProbeMode::Once,
        ),
        (
            "      expect: {stdout: {contains: \"RBAC: access denied\"}}\n",
            ProbeMode::Once,
        ),
        (
            "      expect: {stdout: {equals: \"200\"}}\n",
            ProbeMode::Consecutive,
        ),
        (
            "      expect: {stdout: {notContains: \"RBAC: access denied\"}}\n",
            ProbeMode::Consecutive,
        ),
        (
            "      expect: {stdout: {equals: \"403\"}}\n      probe: consecutive\n",
            ProbeMode::Consecutive,
        ),
    ];
    for (tail, probe) in cases {
        let text = with_steps(&format!(
            "    - exec: {{target: deploy/sleep, command: curl http://x}}\n{tail}"
        ));
        let exec = load_exec(&temp, &text);
        assert_eq!(exec.probe, probe, "{tail}");
    }
}

#[test]
fn variables_expand_with_escape_and_overrides() {
    let temp = TempDir::new("variables");
    let text = "\
apiVersion: meshcheck.dev/v1alpha1
kind: Scenario
metadata: {name: vars}
spec:
  variables: {HOST: httpbin, PORT: 8000}
  steps:
    - name: call ${HOST}
      exec:
        target: deploy/${HOST}
        namespace: ${HOST}-ns
        command: curl -A '$${HOME}' http://${HOST}:${PORT}/get
      expect:
        stdout: {contains: '$${HOME} ${PORT}'}
";
    let path = temp.write("scenario.yaml", text);
    let scenario = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap();
    assert_eq!(scenario.steps[0].name, "call httpbin");
    let Action::Exec(exec) = &scenario.steps[0].action else {
        panic!("not exec: {:?}", scenario.steps[0].action);
    };
    assert_eq!(exec.target.name, "httpbin");
    assert_eq!(exec.target.namespace, "httpbin-ns");
    assert_eq!(
        exec.argv,
        vec!["curl", "-A", "${HOME}", "http://httpbin:8000/get"]
    );
    assert_eq!(
        exec.expect.stdout,
        vec![TextMatcher::Contains("${HOME} 8000".into())]
    );

    let overrides = BTreeMap::from([
        ("HOST".to_owned(), "echo".to_owned()),
        ("UNUSED".to_owned(), "x".to_owned()),
    ]);
    let scenario = load_with_bundled(&path, &overrides, &TestBundled).unwrap();
    assert_eq!(scenario.steps[0].name, "call echo");
    let Action::Exec(exec) = &scenario.steps[0].action else {
        panic!("not exec: {:?}", scenario.steps[0].action);
    };
    assert_eq!(exec.argv[3], "http://echo:8000/get");
}

#[test]
fn override_defines_missing_variable() {
    let temp = TempDir::new("override");
    let path = temp.write(
        "scenario.yaml",
        &with_steps("    - exec: {target: deploy/sleep, command: 'curl http://${HOST}/'}\n      expect: {}\n"),
    );
    let error = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap_err();
    let location = error.location().unwrap();
    assert_eq!((location.line, location.column), (7, 58));
    let overrides = BTreeMap::from([("HOST".to_owned(), "httpbin".to_owned())]);
    let scenario = load_with_bundled(&path, &overrides, &TestBundled).unwrap();
    let Action::Exec(exec) = &scenario.steps[0].action else {
        panic!("not exec: {:?}", scenario.steps[0].action);
    };
    assert_eq!(exec.argv, vec!["curl", "http://httpbin/"]);
}

#[test]
fn inline_manifest_locations_are_scenario_lines() {
    let temp = TempDir::new("inline");
    let text = with_steps(
        "    - apply:\n        namespace: apps\n        manifest: |\n\n          apiVersion: v1\n          \
         kind: Namespace\n          metadata: {name: apps}\n          ---\n          # a comment\n          \
         apiVersion: v1\n          kind: Service\n          metadata: {name: web}\n          spec:\n            \
         ports: [{port: 80}]\n",
    );
    let scenario = load_text(&temp, &text).unwrap();
    let path = temp.path().join("scenario.yaml");
    assert_eq!(
        summarize(objects(&scenario.steps[0].action)),
        vec![
            (
                ResourceKind::Namespace,
                "apps".into(),
                None,
                format!("{}:12:11", path.display())
            ),
            (
                ResourceKind::Service,
                "web".into(),
                Some("apps".into()),
                format!("{}:17:11", path.display())
            ),
        ]
    );
}

/// Loads `text` and returns the error's line, column and display, which must be one line.
fn error_of(temp: &TempDir, text: &str) -> (u64, u64, String) {
    let error = load_text(temp, text).expect_err("the scenario must be rejected");
    let display = error.to_string();
    assert!(!display.contains('\n'), "not one line: {display}");
    let location = error.location().expect("error has a location");
    let prefix = format!(
        "{}:{}:{}: ",
        location.file.display(),
        location.line,
        location.column
    );
    assert!(display.starts_with(&prefix), "{display}");
    (
        location.line,
        location.column,
        display[prefix.len()..].to_owned(),
    )
}

const EXEC: &str = "    - exec: {target: deploy/sleep, command: curl http://x}\n";

#[test]
fn scenario_error_table() {
    let temp = TempDir::new("errors");
    let deployment = "          apiVersion: apps/v1\n          kind: Deployment\n          \
                      metadata: {name: web}\n          spec:\n            replcas: 2\n";
    let cases: Vec<(String, u64, u64, &str)> = vec![
        (
            "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\n  metadata: x\n".into(),
            3,
            11,
            "invalid YAML: mapping values are not allowed in this context; fix the YAML syntax \
             at this position",
        ),
        (
            format!(
                "{HEADER}    - apply: {{bundled: sleep}}\n    - apply: {{bundled: sleep, bundled: x}}\n"
            ),
            8,
            31,
            "invalid YAML: duplicate key `bundled` in a mapping; remove one of them",
        ),
        (
            format!("{HEADER}{EXEC}{}", alias_bomb()),
            14,
            17,
            "invalid YAML: the document expands to more than 250000 nodes (sequences, mappings \
             and scalars), counting each alias as a full copy of its anchored value; use fewer \
             aliases (`*name`), alias smaller values, or make the document smaller",
        ),
        (
            exec_expecting("        exitcode: 0\n"),
            9,
            9,
            "unknown field `exitcode` in expect, expected one of `exitCode`, `stdout`, \
             `stderr`; check the spelling",
        ),
        (
            with_steps("    - aply: {bundled: sleep}\n"),
            7,
            7,
            "unknown field `aply` in step, expected an action (`apply`, `delete`, `label`, \
             `rolloutRestart`, `exec`, `matrix`, `traffic`) or `name`, `expect`, `probe`; check the spelling",
        ),
        (
            with_steps("    - name: nothing\n"),
            7,
            7,
            "a step has no action; add one of apply, delete, label, rolloutRestart, exec, matrix or traffic",
        ),
        (
            with_steps("    - exec: {target: deploy/sleep}\n      expect: {}\n"),
            7,
            13,
            "missing field `command` in exec; add `command`",
        ),
        (
            format!("{HEADER}{EXEC}      expect: {{}}\n  timeouts: {{sync: 10sec}}\n"),
            9,
            20,
            "invalid duration `10sec` for timeouts.sync: unknown unit; write a whole number \
             followed by ms, s, m or h, such as 500ms, 10s or 2m",
        ),
        (
            format!("{HEADER}{EXEC}      expect: {{}}\n  timeouts: {{success: 0s}}\n"),
            9,
            23,
            "invalid duration `0s` for timeouts.success: it must be greater than zero",
        ),
        (
            exec_expecting("        stderr: {regex: \"(abc\"}\n"),
            9,
            25,
            "invalid regex `(abc`: unclosed group; fix the pattern, which uses the Rust regex \
             crate's syntax",
        ),
        (
            exec_expecting("        exitCode: 300\n"),
            9,
            19,
            "exit code 300 is out of range; use a value from 0 to 255",
        ),
        (
            exec_expecting("        exitCode: [0, -1]\n"),
            9,
            23,
            "exit code -1 is out of range; use a value from 0 to 255",
        ),
        (
            exec_expecting("        exitCode: zero\n"),
            9,
            19,
            "invalid type for exitCode: found string \"zero\", expected an integer; write an \
             integer here",
        ),
        (
            exec_expecting("        exitCode: []\n"),
            9,
            19,
            "`exitCode` is empty; list at least one exit code",
        ),
        (
            exec_expecting("        stdout: {}\n"),
            9,
            17,
            "`stdout` has no matchers; add contains, notContains, regex or equals",
        ),
        (
            with_steps(
                "    - exec:\n        target: deploy/sleep\n        command: curl http://${HOST}:${PORT}/\n      expect: {}\n",
            ),
            9,
            30,
            "undefined variable `HOST` in `${HOST}`; define `HOST` under spec.variables, pass \
             --set HOST=VALUE, or write $${ for a literal ${",
        ),
        (
            with_steps(&format!("    - apply:\n        manifest: |\n{deployment}")),
            13,
            13,
            "unknown field `spec.replcas` in Deployment `web`; check the spelling against the \
             apps/v1 Deployment schema",
        ),
        (
            with_steps(
                "    - apply:\n        manifest: |\n          apiVersion: v1\n          kind: Gadget\n          metadata: {name: x}\n",
            ),
            10,
            17,
            "unsupported kind `Gadget`; supported kinds: AuthorizationPolicy, Cluster, \
             ConfigMap, Deployment, DestinationRule, Group, Namespace, Organization,",
        ),
        (
            with_steps(
                "    - apply:\n        manifest: |\n          apiVersion: v1\n          kind: Namespace\n          metadata:\n            name: ${TEAM}\n",
            ),
            12,
            19,
            "undefined variable `TEAM` in `${TEAM}`",
        ),
        (
            with_steps(
                "    - apply:\n        manifest: |\n          apiVersion: v1\n          kind: \
                 Namespace\n            metadata: x\n",
            ),
            11,
            21,
            "invalid YAML: mapping values are not allowed in this context",
        ),
        (
            with_steps("    - apply:\n        manifest: \"apiVersion: v1\\nkind: Gadget\\n\"\n"),
            8,
            19,
            "unsupported kind `Gadget`",
        ),
        (
            with_steps("    - apply:\n        manifest: |\n          # nothing here\n"),
            9,
            11,
            "the inline manifest contains no objects; add at least one document with \
             apiVersion and kind",
        ),
        (
            with_steps("    - apply: {bundled: sleeep}\n"),
            7,
            24,
            "unknown bundled manifest `sleeep`; use one of `httpbin`, `sleep`",
        ),
        (
            with_steps("    - apply: {bundled: sleep, files: x.yaml}\n"),
            7,
            31,
            "apply has both `bundled` and `files`; keep only one of them, and use separate \
             steps for several sources",
        ),
        (
            with_steps("    - apply: {namespace: sleep}\n"),
            7,
            14,
            "apply has no source; add one of `bundled`, `files`, `manifest`",
        ),
        (
            with_steps("    - apply: {bundled: sleep, namepsace: sleep}\n"),
            7,
            31,
            "unknown field `namepsace` in apply, expected one of `bundled`, `files`, \
             `manifest`, `namespace`; check the spelling",
        ),
        (
            with_steps("    - apply: {files: [missing.yaml]}\n"),
            7,
            23,
            "failed to read manifest file",
        ),
        (
            with_steps("    - label: {target: ns/sleep, set: {a: b}}\n      expect: {}\n"),
            8,
            7,
            "`expect` is only allowed on exec steps, not on label; remove `expect` or make \
             this an exec step",
        ),
        (
            with_steps("    - exec: {target: deploy/sleep, command: curl}\n"),
            7,
            7,
            "the exec step has no `expect`; add `expect` next to `exec`, such as `expect: \
             {exitCode: 0}`",
        ),
        (
            with_steps("    - apply: {bundled: sleep}\n      exec: {target: x, command: y}\n"),
            8,
            7,
            "a step has more than one action: `apply` and `exec`; split them into separate \
             steps",
        ),
        (
            format!("{HEADER}{EXEC}      expect: {{}}\n      probe: twice\n"),
            9,
            14,
            "unknown value `twice` for probe, expected one of `consecutive`, `once`; check the \
             spelling",
        ),
        (
            with_steps(
                "    - exec: {target: deploy/sleep, command: 'curl \"http://x'}\n      expect: {}\n",
            ),
            7,
            45,
            "invalid command `curl \"http://x`: a quote is not closed",
        ),
        (
            with_steps("    - exec: {target: svc/sleep, command: curl}\n      expect: {}\n"),
            7,
            22,
            "unsupported exec target `svc/sleep`; write deploy/NAME, deployment/NAME, \
             pod/NAME or a pod name",
        ),
        (
            with_steps("    - label: {target: ns/sleep, set: {istio-injection: ena bled}}\n"),
            7,
            56,
            "invalid value `ena bled` for label `istio-injection`",
        ),
        (
            with_steps("    - label: {target: ns/sleep}\n"),
            7,
            14,
            "the label step changes no label; add `set` or `remove`",
        ),
        (
            with_steps("    - rolloutRestart: {target: pod/sleep}\n"),
            7,
            32,
            "cannot restart `pod/sleep`: rollout restart applies to deployments only",
        ),
        (
            with_steps("    - delete: {resources: [ns/sleep, gadget/x]}\n"),
            7,
            38,
            "unsupported kind `gadget` in `gadget/x`",
        ),
        (
            HEADER.replace("meshcheck.dev/v1alpha1", "meshcheck.dev/v1") + EXEC,
            1,
            13,
            "unsupported apiVersion `meshcheck.dev/v1`; use `meshcheck.dev/v1alpha1`",
        ),
        (
            HEADER.replace("kind: Scenario", "kind: Deployment") + EXEC,
            2,
            7,
            "unsupported kind `Deployment` for a scenario file",
        ),
        (
            HEADER.replace("name: case", "name: Case_1") + EXEC,
            4,
            9,
            "invalid scenario name `Case_1`; use lowercase letters, digits and `-`, starting \
             and ending with a letter or digit",
        ),
        (
            HEADER.replace("  name: case\n", "") + EXEC,
            3,
            9,
            "invalid type for metadata: found null, expected a mapping with name, description \
             and tags",
        ),
        (
            HEADER.replace("spec:\n", "spec:\n  variables: {9LIVES: x}\n") + EXEC,
            6,
            15,
            "invalid variable name `9LIVES`",
        ),
        (
            HEADER.replace("spec:\n", "specs:\n") + EXEC,
            5,
            1,
            "unknown field `specs` in scenario, expected one of `apiVersion`, `kind`, \
             `metadata`, `spec`; check the spelling",
        ),
        (
            HEADER.replace("spec:\n", "spec:\n  cluster: {trustdomain: x}\n") + EXEC,
            6,
            13,
            "unknown field `trustdomain` in cluster, expected one of `name`, `trustDomain`; \
             check the spelling",
        ),
        (
            HEADER.to_owned(),
            6,
            8,
            "`steps` must be a sequence, found null; write each step as a list entry starting \
             with `-`",
        ),
        (
            format!("{HEADER}{EXEC}      expect: {{}}\n---\nkind: Other\n"),
            10,
            1,
            "the scenario file contains more than one YAML document",
        ),
        ("# nothing\n".into(), 1, 1, "the scenario file is empty"),
    ];
    for (text, line, column, message) in cases {
        let (actual_line, actual_column, display) = error_of(&temp, &text);
        assert!(
            display.starts_with(message),
            "expected {message:?}, got {display:?}\n{text}"
        );
        assert_eq!(
            (actual_line, actual_column),
            (line, column),
            "{display}\n{text}"
        );
    }
}

#[test]
fn manifest_file_errors_point_into_the_file() {
    let temp = TempDir::new("file-errors");
    let manifest = temp.write(
        "manifests/app.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\napiVersion: apps/v1beta1\n\
         kind: Deployment\nmetadata: {name: web}\n",
    );
    let (line, column, message) = error_of(
        &temp,
        &with_steps("    - apply: {files: manifests/app.yaml}\n"),
    );
    assert_eq!(
        message,
        "unsupported apiVersion `apps/v1beta1` for kind `Deployment`; expected apps/v1"
    );
    assert_eq!((line, column), (5, 13));
    let error = load_text(
        &temp,
        &with_steps("    - apply: {files: manifests/app.yaml}\n"),
    )
    .unwrap_err();
    assert_eq!(error.location().unwrap().file, manifest);

    temp.write(
        "manifests/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    \
         spec:\n      containers:\n        - name: web\n          imagePullPolicyy: Always\n",
    );
    let (line, column, message) = error_of(
        &temp,
        &with_steps("    - apply: {files: [manifests/deploy.yaml]}\n"),
    );
    assert_eq!((line, column), (10, 11));
    assert!(
        message.starts_with("unknown field `spec.template.spec.containers[0].imagePullPolicyy`"),
        "{message}"
    );
}

#[test]
fn read_error_names_the_scenario_file() {
    let temp = TempDir::new("read-error");
    let path = temp.path().join("absent.yaml");
    let error = load(&path).unwrap_err();
    assert!(matches!(error, ScenarioError::Read { .. }), "{error}");
    assert!(error.location().is_none());
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: failed to read scenario file", path.display())),
        "{error}"
    );
}

#[test]
fn non_utf8_scenario_is_located() {
    let temp = TempDir::new("latin1-scenario");
    let path = temp.path().join("latin1.yaml");
    let mut bytes = with_steps("    - name: caf").into_bytes();
    bytes.extend(b"\xe9\n      apply: {bundled: sleep}\n");
    fs::write(&path, bytes).expect("write the file");
    let error = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}:7:16: the scenario file is not valid UTF-8: invalid byte 0xE9 at byte offset \
             103; save the file as UTF-8",
            path.display()
        )
    );
}

#[test]
fn non_utf8_manifest_file_is_located() {
    let temp = TempDir::new("latin1-manifest");
    let manifest = temp.path().join("manifests/ns.yaml");
    fs::create_dir_all(manifest.parent().unwrap()).expect("create the manifest directory");
    fs::write(
        &manifest,
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: caf\xe9\n",
    )
    .expect("write the manifest");
    let error = load_text(
        &temp,
        &with_steps("    - apply: {files: manifests/ns.yaml}\n"),
    )
    .unwrap_err();
    assert_eq!(
        error.location(),
        Some(&SourceLocation::new(&manifest, 4, 12)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("the manifest file is not valid UTF-8: invalid byte 0xE9 at byte offset 52"),
        "{error}"
    );
}

#[test]
fn matrix_table_maps_rows_and_columns_by_name() {
    let temp = TempDir::new("matrix");
    let text = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {name: m}\nspec:\n  steps:\n    - matrix:\n        sources:\n          out: {target: deploy/sleep, namespace: sleep}\n          in: {target: deploy/sleep, namespace: inside}\n        requests:\n          a: http://a:80/\n          b: {url: \"https://b:443/\", args: [-k]}\n        expect: |\n          .    b    a\n          in   E35  200\n          out  -    reset\n";
    let path = temp.write("scenario.yaml", text);
    let scenario = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap();
    let Action::Matrix(matrix) = &scenario.steps[0].action else {
        panic!("not a matrix: {:?}", scenario.steps[0].action);
    };
    assert_eq!(matrix.sources[0].name, "out");
    assert_eq!(matrix.sources[1].target.namespace, "inside");
    assert_eq!(matrix.requests[1].args, vec!["-k"]);
    assert_eq!(
        matrix.requests[1].argv().last().map(String::as_str),
        Some("https://b:443/")
    );
    assert_eq!(
        matrix.expected,
        vec![
            vec![MatrixCell::Exit(56), MatrixCell::Any],
            vec![MatrixCell::Status(200), MatrixCell::Exit(35)],
        ],
        "cells follow the sources and requests order, not the table's"
    );
}

#[test]
fn matrix_table_errors_point_into_the_block() {
    let temp = TempDir::new("matrix-errors");
    let base = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {name: m}\nspec:\n  steps:\n    - matrix:\n        sources:\n          out: {target: deploy/sleep, namespace: sleep}\n        requests:\n          a: http://a:80/\n        expect: |\n";
    let cases = [
        (
            "          .    a\n          out  20x\n",
            13,
            16,
            "invalid cell `20x`",
        ),
        (
            "          .    a\n          other  200\n",
            13,
            11,
            "unknown source `other`",
        ),
        (
            "          .    b\n          out  200\n",
            12,
            16,
            "unknown request `b`",
        ),
        ("          .    a\n", 12, 11, "no row for source `out`"),
        (
            "          .    a\n          out  200  200\n",
            13,
            11,
            "row `out` has 2 cells",
        ),
    ];
    for (table, line, column, message) in cases {
        let path = temp.write("scenario.yaml", &format!("{base}{table}"));
        let error = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap_err();
        let location = error.location().expect("located");
        assert_eq!(
            (location.line, location.column),
            (line, column),
            "{message}: {error}"
        );
        assert!(error.to_string().contains(message), "{error}");
    }
}

#[test]
fn traffic_step_reads_ends_and_properties() {
    let temp = TempDir::new("traffic");
    let text = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  steps:\n    - traffic:\n        from: {target: deploy/sleep, namespace: sleep}\n        to: {service: productpage, namespace: bookinfo}\n        transport: mtls\n        outcome: allowed\n        sourceIdentity: spiffe://cluster.local/ns/sleep/sa/sleep\n";
    let path = temp.write("scenario.yaml", text);
    let scenario = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap();
    let Action::Traffic(traffic) = &scenario.steps[0].action else {
        panic!("not traffic: {:?}", scenario.steps[0].action);
    };
    assert_eq!(traffic.from.name, "sleep");
    assert_eq!(
        traffic.to,
        TrafficDestination::Service {
            namespace: "bookinfo".into(),
            name: "productpage".into()
        }
    );
    assert_eq!(traffic.transport, Some(crate::traffic::EdgeTransport::Mtls));
    assert_eq!(traffic.outcome, Some(crate::traffic::EdgeOutcome::Allowed));
    assert_eq!(traffic.destination_identity, None);
}

#[test]
fn traffic_step_errors_are_located() {
    let temp = TempDir::new("traffic-errors");
    let base = "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {name: t}\nspec:\n  steps:\n    - traffic:\n";
    let cases = [
        (
            "        from: {service: sleep}\n        to: {service: a}\n",
            7,
            25,
            "`from` names a workload",
        ),
        (
            "        from: {target: deploy/a}\n        to: {service: b}\n        transport: quic\n",
            9,
            20,
            "unknown value `quic` for transport",
        ),
        (
            "        from: {target: deploy/a}\n        to: {service: b}\n        sourceIdentity: cluster.local/ns/a/sa/b\n",
            9,
            25,
            "missing the spiffe:// scheme",
        ),
        (
            "        from: {target: deploy/a}\n",
            7,
            9,
            "missing field `to`",
        ),
    ];
    for (body, line, column, message) in cases {
        let path = temp.write("scenario.yaml", &format!("{base}{body}"));
        let error = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap_err();
        let location = error.location().expect("located");
        assert!(error.to_string().contains(message), "{error}");
        assert_eq!(
            (location.line, location.column),
            (line, column),
            "{message}: {error}"
        );
    }
}

#[test]
fn api_server_validation_is_located_at_the_field() {
    let temp = TempDir::new("validation");
    let scenario = |manifest: &str| {
        format!(
            "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: v}}\nspec:\n  steps:\n    - apply:\n        manifest: |\n{manifest}"
        )
    };
    let cases = [
        (
            "          apiVersion: security.istio.io/v1\n          kind: PeerAuthentication\n          metadata: {name: a, namespace: foo}\n          spec:\n            portLevelMtls:\n              8080: {mode: DISABLE}\n",
            12,
            13,
            "portLevelMtls requires a workload selector",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - from:\n                  - source: {principals: [\"*/ns/bar/*\"]}\n",
            14,
            30,
            "a wildcard is allowed only at the start or the end",
        ),
        (
            "          apiVersion: api.tsb.tetrate.io/v2\n          kind: Workspace\n          metadata: {organization: o, tenant: t, name: w}\n          spec:\n            namespaceSelector: {names: [foo]}\n",
            12,
            33,
            "`foo` is not a cluster/namespace pattern",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            selector: {matchLabels: {app: x}}\n            targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]\n",
            13,
            13,
            "selector and targetRefs cannot both be set",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            targetRefs: [{group: \"\", kind: Deployment, name: x}]\n",
            12,
            38,
            "target reference to group `` kind `Deployment` is not supported",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            targetRef: {kind: Service, name: s, namespace: other}\n",
            12,
            49,
            "target namespace `other` is not the policy's namespace `foo`",
        ),
        (
            "          apiVersion: apps/v1\n          kind: Deployment\n          metadata: {name: d, namespace: default}\n          spec:\n            replicas: -1\n            selector: {matchLabels: {app: d}}\n            template:\n              metadata: {labels: {app: d}}\n              spec: {containers: [{name: c, image: curlimages/curl}]}\n",
            12,
            13,
            "spec.replicas -1 is negative",
        ),
        (
            "          apiVersion: apps/v1\n          kind: Deployment\n          metadata: {name: d, namespace: default}\n          spec:\n            selector: {matchLabels: {app: d}}\n            template:\n              metadata: {labels: {app: d}}\n              spec:\n                containers:\n                - name: c\n                  image: curlimages/curl\n                  ports: [{containerPort: 70000}]\n",
            19,
            28,
            "containerPort 70000 is out of range",
        ),
        (
            "          apiVersion: v1\n          kind: Service\n          metadata: {name: s, namespace: default}\n          spec:\n            ports: [{port: 70000}]\n",
            12,
            22,
            "port 70000 is out of range",
        ),
        (
            "          apiVersion: v1\n          kind: Service\n          metadata: {name: s, namespace: default}\n          spec:\n            ports: [{port: 80, targetPort: 0}]\n",
            12,
            32,
            "targetPort 0 is out of range",
        ),
        (
            "          apiVersion: v1\n          kind: Service\n          metadata: {name: s, namespace: default}\n          spec:\n            ports: [{name: a, port: 80}, {port: 81}]\n",
            12,
            43,
            "a Service with more than one port must name each port",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: destination.namespace\n                    values: [foo]\n",
            14,
            21,
            "`destination.namespace`: this attribute is replaced by the policy's metadata.namespace",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: destination.user\n                    values: [sleep]\n",
            14,
            21,
            "`destination.user`: this attribute was removed after security.istio.io v1alpha1",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: source.ips\n                    values: [10.0.0.1]\n",
            14,
            21,
            "`source.ips`: unknown attribute",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: request.headers\n                    values: [x]\n",
            14,
            21,
            "`request.headers`: should have the form a[b]",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: source.namespace\n",
            14,
            21,
            "condition `source.namespace` needs values or notValues",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: source.ip\n                    values: [10.0.0.1, 10.0.0.0/40]\n",
            15,
            40,
            "`10.0.0.0/40` is not an IP address or CIDR range for `source.ip`",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: remote.ip\n                    notValues: [example.com]\n",
            15,
            33,
            "`example.com` is not an IP address or CIDR range for `remote.ip`",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: destination.port\n                    notValues: [\"70000\"]\n",
            15,
            33,
            "`70000` is not a port number for `destination.port`",
        ),
        (
            "          apiVersion: security.istio.io/v1\n          kind: AuthorizationPolicy\n          metadata: {name: a, namespace: foo}\n          spec:\n            rules:\n              - when:\n                  - key: request.auth.claims[groups]\n                    values: [\"\"]\n",
            15,
            30,
            "condition `request.auth.claims[groups]` has an empty value in values",
        ),
        (
            "          apiVersion: api.tsb.tetrate.io/v2\n          kind: TenantSetting\n          metadata: {organization: o, tenant: t, name: s}\n          spec:\n            defaultSecuritySetting:\n              authorization:\n                mode: RULES\n                rules:\n                  allow:\n                    - from: {fqn: organizations/o/tenants/t}\n                      to: {fqn: organizations/o/tenants/t/}\n",
            18,
            28,
            "`organizations/o/tenants/t/` is not the FQN of a TSB hierarchy level",
        ),
        (
            "          apiVersion: security.tsb.tetrate.io/v2\n          kind: SecuritySetting\n          metadata: {organization: o, tenant: t, workspace: w, group: g, name: s}\n          spec:\n            authorization:\n              mode: RULES\n              rules:\n                deny:\n                  - from: {fqn: organizations/o/workspaces/w}\n                    to: {fqn: organizations/o/tenants/t}\n",
            16,
            28,
            "`organizations/o/workspaces/w` is not the FQN of a TSB hierarchy level",
        ),
        (
            "          apiVersion: apps/v1\n          kind: Deployment\n          metadata: {name: d, namespace: default}\n          spec:\n            template:\n              metadata: {labels: {app: d}}\n              spec: {containers: [{name: c, image: curlimages/curl}]}\n",
            11,
            11,
            "a Deployment needs a non-empty spec.selector",
        ),
        (
            "          apiVersion: apps/v1\n          kind: Deployment\n          metadata: {name: d, namespace: default}\n          spec:\n            selector: {matchLabels: {}}\n            template:\n              metadata: {labels: {app: d}}\n              spec: {containers: [{name: c, image: curlimages/curl}]}\n",
            12,
            13,
            "a Deployment needs a non-empty spec.selector",
        ),
        (
            "          apiVersion: v1\n          kind: Service\n          metadata: {name: s, namespace: default}\n          spec:\n            ports: [{name: http, port: 80}, {name: http, port: 81}]\n",
            12,
            46,
            "port name `http` is declared twice",
        ),
        (
            "          apiVersion: v1\n          kind: Service\n          metadata: {name: s, namespace: default}\n          spec:\n            ports: [{name: http_web, port: 80}]\n",
            12,
            22,
            "invalid port name `http_web`",
        ),
    ];
    for (manifest, line, column, message) in cases {
        let path = temp.write("scenario.yaml", &scenario(manifest));
        let error = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap_err();
        assert!(error.to_string().contains(message), "{error}");
        let location = error.location().expect("located");
        assert_eq!(
            (location.line, location.column),
            (line, column),
            "{message}: {error}"
        );
    }
}

/// Builds a scenario with one matrix step: `sources` start on line 8, `requests` on the line
/// after them, and the table follows.
fn matrix_scenario(sources: &str, requests: &str, table: &str) -> String {
    format!(
        "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: m}}\nspec:\n  steps:\n    - matrix:\n        sources:\n{sources}        requests:\n{requests}        expect: |\n{table}"
    )
}

/// Loads `text`, expecting an error at `line`:`column` whose text contains `message`.
fn assert_load_error(temp: &TempDir, text: &str, line: u64, column: u64, message: &str) {
    let path = temp.write("scenario.yaml", text);
    let error = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).unwrap_err();
    assert!(error.to_string().contains(message), "{message}: {error}");
    let location = error.location().expect("located");
    assert_eq!(
        (location.line, location.column),
        (line, column),
        "{message}: {error}"
    );
}

const MATRIX_SOURCE: &str = "          out: {target: deploy/sleep, namespace: sleep}\n";
const MATRIX_TABLE: &str = "          .    a\n          out  200\n";

#[test]
fn matrix_request_rejects_shell_syntax() {
    let temp = TempDir::new("matrix-shell");
    let cases = [
        (
            "          a: {url: \"http://a/\", args: [-sS, \"|\", grep]}\n",
            45,
            "matrix runs curl without a shell, so `|` would reach curl as an argument; remove \
             the shell operator, because a matrix cell checks only the HTTP status or curl's \
             exit code",
        ),
        (
            "          a: {url: \"http://a/\", args: \"-sS ; curl http://b/\"}\n",
            39,
            "matrix runs curl without a shell, so `;` would reach curl as an argument",
        ),
        (
            "          a: {url: \"http://a/\", args: [-H, \"X-Id: $(id)\"]}\n",
            44,
            "matrix runs curl without a shell, so the command substitution in `X-Id: $(id)` \
             would reach curl unexpanded; write the value itself, or a scenario variable such \
             as `${NAME}`",
        ),
        (
            "          a: \"http://a/`id`\"\n",
            14,
            "so the command substitution in `http://a/`id`` would reach curl unexpanded",
        ),
        (
            "          a: {url: \"http://a/\", args: [file:///etc/passwd, --next]}\n",
            60,
            "`--next` is not supported in matrix steps, because the transfers before it would \
             run without meshcheck's protocol limit; write one request per transfer",
        ),
    ];
    for (requests, column, message) in cases {
        let text = matrix_scenario(MATRIX_SOURCE, requests, MATRIX_TABLE);
        assert_load_error(&temp, &text, 10, column, message);
    }
}

#[test]
fn matrix_request_rejects_other_schemes() {
    let temp = TempDir::new("matrix-scheme");
    let cases = [
        (
            "          a: file:///etc/passwd\n",
            14,
            "unsupported scheme `file` in URL `file:///etc/passwd`; use http://, https://, \
             telnet:// or gopher://, the only protocols curl may use in a scenario",
        ),
        (
            "          a: {url: \"ftp://a/\"}\n",
            20,
            "unsupported scheme `ftp` in URL `ftp://a/`",
        ),
        (
            "          a: a.example:80/\n",
            14,
            "URL `a.example:80/` has no scheme; start the URL with http://, https://, \
             telnet:// or gopher://",
        ),
    ];
    for (requests, column, message) in cases {
        let text = matrix_scenario(MATRIX_SOURCE, requests, MATRIX_TABLE);
        assert_load_error(&temp, &text, 10, column, message);
    }
}

#[test]
fn matrix_cell_rejects_signs() {
    let temp = TempDir::new("matrix-sign");
    for cell in ["E+56", "+200", "e-7", "-404"] {
        let table = format!("          .    a\n          out  {cell}\n");
        let text = matrix_scenario(MATRIX_SOURCE, "          a: http://a/\n", &table);
        let message = format!(
            "invalid cell `{cell}`: a status or exit code has no sign; write the number as \
             digits only, such as 200 or E56"
        );
        assert_load_error(&temp, &text, 13, 16, &message);
    }
}

#[test]
fn matrix_cell_parse_takes_digits_only() {
    assert_eq!(MatrixCell::parse("E56"), Some(MatrixCell::Exit(56)));
    assert_eq!(MatrixCell::parse("200"), Some(MatrixCell::Status(200)));
    for text in ["E+56", "+200", "E", "E 7", "2_00", "E-1"] {
        assert_eq!(MatrixCell::parse(text), None, "{text}");
    }
}

#[test]
fn matrix_names_reject_table_separators() {
    let temp = TempDir::new("matrix-names");
    assert_load_error(
        &temp,
        &matrix_scenario(
            "          \"out side\": {target: deploy/sleep, namespace: sleep}\n",
            "          a: http://a/\n",
            MATRIX_TABLE,
        ),
        8,
        11,
        "source name `out side` contains whitespace, which separates the cells of the table; \
         rename the source without whitespace, such as `out-side`",
    );
    assert_load_error(
        &temp,
        &matrix_scenario(
            MATRIX_SOURCE,
            "          \"a#1\": http://a/\n",
            MATRIX_TABLE,
        ),
        10,
        11,
        "request name `a#1` contains `#`, which starts a comment in the table; rename the \
         request without `#`",
    );
    assert_load_error(
        &temp,
        &matrix_scenario(
            "          \"\": {target: deploy/sleep, namespace: sleep}\n",
            "          a: http://a/\n",
            MATRIX_TABLE,
        ),
        8,
        11,
        "a source name is empty",
    );
}

#[test]
fn exec_command_rejects_shell_syntax() {
    let temp = TempDir::new("exec-shell");
    let cases = [
        (
            "    - exec: {target: deploy/sleep, command: curl http://x | grep y}\n",
            45,
            "exec runs curl without a shell, so `|` would reach curl as an argument; remove the \
             shell operator and check the output with `expect.stdout` or `expect.stderr`",
        ),
        (
            "    - exec: {target: deploy/sleep, command: [curl, http://x, \">\", out]}\n",
            62,
            "exec runs curl without a shell, so `>` would reach curl as an argument",
        ),
        (
            "    - exec: {target: deploy/sleep, command: 'curl -H \"X-Id: `id`\" http://x'}\n",
            45,
            "exec runs curl without a shell, so the command substitution in `X-Id: `id`` would \
             reach curl unexpanded",
        ),
        (
            "    - exec: {target: deploy/sleep, command: 'curl file:///etc/passwd -: http://x'}\n",
            45,
            "`-:` (curl's --next) is not supported in exec steps, because the transfers before it would run \
             without meshcheck's protocol limit; write one exec step per transfer",
        ),
    ];
    for (step, column, message) in cases {
        let text = with_steps(&format!("{step}      expect: {{}}\n"));
        assert_load_error(&temp, &text, 7, column, message);
    }
}

#[test]
fn cluster_names_and_trust_domains_follow_istio() {
    let temp = TempDir::new("cluster-settings");
    let scenario = |cluster: &str| {
        format!(
            "apiVersion: meshcheck.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: c}}\nspec:\n  cluster: {cluster}\n  steps:\n    - apply: {{bundled: sleep, namespace: default}}\n"
        )
    };
    let cases = [
        ("{name: -east}", 5, 19, "invalid cluster name `-east`"),
        ("{name: East}", 5, 19, "invalid cluster name `East`"),
        (
            "{trustDomain: td_1.local}",
            5,
            26,
            "invalid trust domain `td_1.local`",
        ),
        ("{trustDomain: a..b}", 5, 26, "invalid trust domain `a..b`"),
    ];
    for (cluster, line, column, message) in cases {
        assert_load_error(&temp, &scenario(cluster), line, column, message);
    }
    let path = temp.write(
        "valid.yaml",
        &scenario("{name: east-1, trustDomain: east-1.tsb.local}"),
    );
    let loaded = load_with_bundled(&path, &BTreeMap::new(), &TestBundled).expect("valid cluster");
    assert_eq!(loaded.cluster.name, "east-1");
    assert_eq!(loaded.cluster.trust_domain, "east-1.tsb.local");
}
