//! The scenario model: what a scenario file describes, validated and with variables expanded.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use mesh_sim::resources::{Resource, ResourceKind};

use super::error::SourceLocation;
use super::expect::Expectation;

/// A scenario: a cluster, the steps that change it, and the commands whose results are
/// checked.
///
/// # File format
///
/// A scenario file contains one YAML document in the Kubernetes style. Unknown fields are
/// rejected everywhere, and every error names the file, line and column.
///
/// ```yaml
/// apiVersion: meshcheck.dev/v1alpha1
/// kind: Scenario
/// metadata:
///   name: understanding-mtls      # required: lowercase letters, digits and '-'
///   description: Enforce mTLS with a TSB TenantSetting   # optional
///   tags: [tsb, mtls]             # optional
/// spec:
///   cluster:                      # optional
///     name: cluster-1             # default cluster-1
///     trustDomain: cluster-1.tsb.local   # default cluster.local
///   variables:                    # optional
///     ORG: tetrate
///   timeouts:                     # optional
///     sync: 30s                   # default 30s
///     success: 10s                # default 10s
///   steps:
///     - name: deploy bookinfo     # optional
///       apply:
///         bundled: bookinfo
///         namespace: bookinfo
///     - exec:
///         target: deploy/sleep
///         namespace: sleep
///         command: curl -sS "http://productpage.bookinfo:9080/productpage"
///       expect:
///         stdout: {contains: "<title>Simple Bookstore App</title>"}
/// ```
///
/// `spec.variables` defines values for `${NAME}` references, which are replaced in every
/// string of `spec.steps` and of the manifests the steps apply or delete, mapping keys
/// included. `$${` writes a literal `${`, for example `$${HOME}` for a shell variable in a
/// command. References are expanded only inside strings, so `replicas: ${N}` yields the string
/// `"3"`, not a number. Variable values are taken literally. A reference to a variable that is
/// neither defined nor overridden (see [`load_with`](super::load_with)) is an error.
///
/// Durations are a whole number followed by `ms`, `s`, `m` or `h`, or several such parts in
/// decreasing order (`1m30s`); zero is rejected.
///
/// See [`Step`] for the step kinds.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// `metadata.name`: lowercase ASCII letters, digits and `-`, starting and ending with a
    /// letter or digit.
    pub name: String,
    /// The position of the `metadata.name` value in the scenario file.
    pub name_location: SourceLocation,
    /// `metadata.description`.
    pub description: Option<String>,
    /// `metadata.tags`, in file order.
    pub tags: Vec<String>,
    /// The scenario file, as the path was given to the loader.
    pub path: PathBuf,
    /// `spec.cluster`.
    pub cluster: ClusterSettings,
    /// `spec.timeouts`.
    pub timeouts: Timeouts,
    /// `spec.steps`, in file order; never empty.
    pub steps: Vec<Step>,
    /// Names of the variables the scenario defines under `spec.variables` or references,
    /// which `--set` may set.
    pub variables: std::collections::BTreeSet<String>,
}

/// The simulated cluster (`spec.cluster`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `name`: the cluster name, which TSB namespace selectors such as `cluster-1/bookinfo`
    /// refer to. Defaults to `cluster-1`.
    pub name: String,
    /// `trustDomain`: the SPIFFE trust domain of workload identities. Defaults to
    /// `cluster.local`.
    pub trust_domain: String,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            name: "cluster-1".to_owned(),
            trust_domain: "cluster.local".to_owned(),
        }
    }
}

/// Time limits (`spec.timeouts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `sync`: how long to wait for pods and proxies to pick up a change before the next step.
    /// Defaults to 30 seconds.
    pub sync: Duration,
    /// `success`: how long an expected success may take to become stable. Defaults to 10
    /// seconds.
    pub success: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            sync: Duration::from_secs(30),
            success: Duration::from_secs(10),
        }
    }
}

/// One entry of `spec.steps`.
///
/// A step is a mapping with an optional `name` and exactly one action key: `apply`, `delete`,
/// `label`, `rolloutRestart` or `exec`. Only `exec` steps take `expect` (required there) and
/// `probe`.
///
/// ```yaml
/// - apply:
///     bundled: sleep              # exactly one of bundled, files, manifest
///     files: [manifests/x.yaml]   # a string or a list, relative to the scenario file
///     manifest: |                 # inline; several documents separated by ---
///       apiVersion: v1
///       kind: Namespace
///       metadata: {name: sleep}
///     namespace: sleep            # for namespaced objects without one, as kubectl apply -n
/// - delete: {bundled: sleep, namespace: sleep}   # the objects of a manifest, or:
/// - delete:
///     resources: [namespace/sleep, deploy/sleep]
///     namespace: sleep
/// - label:
///     target: namespace/sleep
///     set: {istio-injection: enabled}
///     remove: [some-label]
/// - rolloutRestart: {target: deploy/sleep, namespace: sleep}
/// - exec:
///     target: deploy/sleep        # deploy/NAME, deployment/NAME, pod/NAME or NAME (a pod)
///     namespace: sleep            # default "default"
///     container: sleep            # optional
///     command: curl -sS http://productpage.bookinfo:9080/productpage   # or a list
///     stdin: "ping\n"             # optional text for the command's standard input
///   expect:
///     exitCode: 0                 # a code or a list of accepted codes; default 0
///     stdout: {contains: "<title>Simple Bookstore App</title>"}
///     stderr: {regex: "Connection reset by peer"}
///   probe: consecutive            # or once; see ProbeMode
/// ```
///
/// Object references (`kind/name`) accept these kinds, in any letter case and also in plural:
/// `namespace` (`ns`), `deployment` (`deploy`), `pod` (`po`), `service` (`svc`),
/// `serviceaccount` (`sa`), `configmap` (`cm`), `secret`, `peerauthentication` (`pa`),
/// `authorizationpolicy` and `destinationrule` (`dr`). Namespaced kinds take the step's
/// `namespace`, which defaults to `default`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// `name`, or a name derived from the action such as `exec curl -sS ... in deploy/sleep`.
    pub name: String,
    /// Position in the scenario file where the step starts.
    pub location: SourceLocation,
    /// Action the step performs.
    pub action: Action,
}

/// Action of a step.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `apply`: creates or replaces the objects, as `kubectl apply -f` and `tctl apply -f` do.
    Apply(ManifestSet),
    /// `delete`: deletes objects.
    Delete(DeleteTarget),
    /// `label`: sets and removes labels on one object, as `kubectl label` does.
    Label(LabelStep),
    /// `rolloutRestart`: replaces the pods of a deployment, as `kubectl rollout restart`
    /// does.
    RolloutRestart(WorkloadRef),
    /// `exec`: runs a command in a pod and checks its result.
    Exec(ExecStep),
    /// `matrix`: runs every request from every source and compares the results with a
    /// truth table.
    Matrix(MatrixStep),
    /// `traffic`: checks the connections the mesh recorded since the last change.
    Traffic(TrafficStep),
}

impl Action {
    /// The action's key in the scenario file: `apply`, `delete`, `label`, `rolloutRestart`,
    /// `exec` or `matrix`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Apply(_) => "apply",
            Self::Delete(_) => "delete",
            Self::Label(_) => "label",
            Self::RolloutRestart(_) => "rolloutRestart",
            Self::Exec(_) => "exec",
            Self::Matrix(_) => "matrix",
            Self::Traffic(_) => "traffic",
        }
    }
}

/// The objects of one `apply` or `delete` source, in document order.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestSet {
    /// The objects, with the step's `namespace` already set on namespaced objects that had
    /// none.
    pub objects: Vec<LocatedResource>,
}

/// An object read from a manifest, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct LocatedResource {
    /// The object.
    pub resource: Resource,
    /// The `kind:` line of the object's document: in the scenario file for inline manifests,
    /// in the manifest file for `files`, and in `<bundled:NAME>` for bundled manifests.
    pub location: SourceLocation,
}

/// Objects a `delete` step removes.
#[derive(Clone, Debug, PartialEq)]
pub enum DeleteTarget {
    /// The objects of a manifest (`bundled`, `files` or `manifest`), as `kubectl delete -f`.
    Objects(ManifestSet),
    /// The objects named in `resources`.
    Refs(Vec<ObjectRef>),
}

/// A reference to one object by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The kind.
    pub kind: ResourceKind,
    /// The namespace for namespaced kinds, `None` for cluster-scoped kinds such as Namespace.
    pub namespace: Option<String>,
    /// The object name.
    pub name: String,
}

impl fmt::Display for ObjectRef {
    /// Formats the reference as `Kind namespace/name`, or `Kind name` when cluster-scoped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {}/{}", self.kind, namespace, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A `label` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelStep {
    /// The object to label.
    pub target: ObjectRef,
    /// `set`: labels to add or overwrite.
    pub set: BTreeMap<String, String>,
    /// `remove`: label keys to remove; removing a missing label is not an error.
    pub remove: Vec<String>,
}

/// The kind of workload an `exec` or `rolloutRestart` step targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// A Deployment; `exec` runs in one of its ready pods, as `kubectl exec deploy/NAME`.
    Deployment,
    /// A single pod.
    Pod,
}

/// A Deployment or Pod in a namespace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadRef {
    /// Deployment or Pod.
    pub kind: WorkloadKind,
    /// The Deployment or Pod name.
    pub name: String,
    /// The namespace; `default` when the step gives none.
    pub namespace: String,
}

impl fmt::Display for WorkloadRef {
    /// Formats the reference the way kubectl names it: `deploy/sleep` or `pod/sleep-0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            WorkloadKind::Deployment => "deploy",
            WorkloadKind::Pod => "pod",
        };
        write!(f, "{kind}/{}", self.name)
    }
}

impl WorkloadRef {
    /// Returns the reference to the Deployment or Pod object.
    pub fn object(&self) -> ObjectRef {
        ObjectRef {
            kind: match self.kind {
                WorkloadKind::Deployment => ResourceKind::Deployment,
                WorkloadKind::Pod => ResourceKind::Pod,
            },
            namespace: Some(self.namespace.clone()),
            name: self.name.clone(),
        }
    }
}

/// An `exec` step: a command to run in a pod, and the result expected of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecStep {
    /// `target` and `namespace`.
    pub target: WorkloadRef,
    /// `container`; the pod's first container when `None`, as kubectl does.
    pub container: Option<String>,
    /// `command`: the program and its arguments. A string is split into words with POSIX
    /// shell quoting rules and no expansion; a list is taken as it is. Never empty.
    pub argv: Vec<String>,
    /// `expect`.
    pub expect: Expectation,
    /// `probe`.
    pub probe: ProbeMode,
    /// `stdin`: text written to the command's standard input, which is then closed; empty
    /// input when `None`. A `telnet://` request to a TCP service sends this text.
    pub stdin: Option<String>,
}

/// How an `exec` step's command is judged (`probe`).
///
/// When `probe` is omitted, it is `consecutive` if the expectation accepts only exit code 0,
/// and `once` otherwise. Retrying a request that is expected to fail could let a stale
/// configuration pass, so an expected failure is probed once, after the mesh has synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeMode {
    /// `consecutive`: the command is repeated until its result has matched the expectation
    /// several times in a row, within the success timeout.
    Consecutive,
    /// `once`: the command runs once, after the sync wait, and that result is judged.
    Once,
}

/// A `matrix` step: every request from every source, compared with a truth table.
///
/// ```yaml
/// - matrix:
///     sources:                      # rows, in order
///       outside: {target: deploy/sleep, namespace: sleep-2}
///       inside: {target: deploy/sleep, namespace: sleep}
///     requests:                     # columns, in order: a URL, or url and curl args
///       productpage: http://productpage.bookinfo:9080/productpage
///       https: {url: "https://productpage.bookinfo:9080/productpage", args: [-k]}
///     expect: |                     # a header row, then one row per source
///       .         productpage  https
///       outside   reset        E56
///       inside    200          E56
/// ```
///
/// Each cell runs `curl -sS -o /dev/null -w '%{http_code}' -m 10 ARGS URL` in a pod of the
/// row's source, all cells at the same time. A cell is an HTTP status (curl exits 0 with that
/// status), `E<code>` for a curl exit code, `reset` (`E56`), `refused` (`E7`), or `-` for
/// not checked. Cells that expect a 2xx status must hold three times in a row, as an
/// expected success of an exec step; the others are probed once.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixStep {
    /// The rows.
    pub sources: Vec<MatrixSource>,
    /// The columns.
    pub requests: Vec<MatrixRequest>,
    /// The truth table: `expected[row][column]`.
    pub expected: Vec<Vec<MatrixCell>>,
}

/// A row of a matrix: where the requests run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixSource {
    /// The row name.
    pub name: String,
    /// The pod the requests run in.
    pub target: WorkloadRef,
}

/// A column of a matrix: one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixRequest {
    /// The column name.
    pub name: String,
    /// The URL.
    pub url: String,
    /// Extra curl arguments, before the URL.
    pub args: Vec<String>,
}

impl MatrixRequest {
    /// The curl command of this request's probe.
    pub fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = [
            "curl",
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-m",
            "10",
        ]
        .iter()
        .map(|word| (*word).to_owned())
        .collect();
        argv.extend(self.args.iter().cloned());
        argv.push(self.url.clone());
        argv
    }
}

/// One cell of a matrix truth table, or an observed result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatrixCell {
    /// curl exited 0 with this HTTP status.
    Status(u16),
    /// curl exited with this non-zero code.
    Exit(i32),
    /// Not checked.
    Any,
}

impl MatrixCell {
    /// Parses a cell as written in a truth table.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "-" => return Some(Self::Any),
            "reset" => return Some(Self::Exit(56)),
            "refused" => return Some(Self::Exit(7)),
            _ => {}
        }
        // Rust's integer parsing accepts a leading `+`, which a cell must not have.
        let digits =
            |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
        if let Some(code) = text.strip_prefix(['E', 'e']) {
            if !digits(code) {
                return None;
            }
            return code
                .parse::<i32>()
                .ok()
                .filter(|code| (1..=255).contains(code))
                .map(Self::Exit);
        }
        if !digits(text) {
            return None;
        }
        text.parse::<u16>()
            .ok()
            .filter(|status| (100..=599).contains(status))
            .map(Self::Status)
    }

    /// Whether an observed result satisfies this expectation.
    pub fn accepts(self, observed: Self) -> bool {
        self == Self::Any || self == observed
    }

    /// Whether this expects a success (a 2xx status), which must hold several times in a row.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Status(status) if (200..300).contains(&status))
    }
}

impl fmt::Display for MatrixCell {
    /// Formats the cell as a truth table writes it: `200`, `E56` or `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "{status}"),
            Self::Exit(code) => write!(f, "E{code}"),
            Self::Any => f.write_str("-"),
        }
    }
}

/// A `traffic` step: an assertion on the connections the mesh's sidecars recorded since the
/// last change step (`apply`, `delete`, `label` or `rolloutRestart`).
///
/// ```yaml
/// - traffic:
///     from: {target: deploy/sleep, namespace: sleep}
///     to: {service: productpage, namespace: bookinfo}   # or {target: deploy/reviews-v2, ...}
///     transport: mtls              # optional: mtls, plaintext or tls
///     outcome: allowed             # optional: allowed, denied, rejected or failed
///     sourceIdentity: spiffe://cluster.local/ns/sleep/sa/sleep          # optional
///     destinationIdentity: spiffe://cluster.local/ns/bookinfo/sa/...    # optional
/// ```
///
/// At least one recorded connection must go from `from` to `to`, and every one of them must
/// have the given transport, outcome and identities. `from` and `to` name workloads: a
/// Deployment (`deploy/NAME`, matching all its pods, replaced ones included) or a pod created
/// on its own (`pod/NAME`). Records arrive shortly after the connection ends, so the step
/// waits for a matching one for up to the success timeout. When the cluster contains no object
/// named by `from` or `to`, the step is inconclusive at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficStep {
    /// The client workload.
    pub from: WorkloadRef,
    /// The server.
    pub to: TrafficDestination,
    /// The transport every matching connection used.
    pub transport: Option<crate::traffic::EdgeTransport>,
    /// The outcome of every matching connection.
    pub outcome: Option<crate::traffic::EdgeOutcome>,
    /// The client's SPIFFE id in every matching connection.
    pub source_identity: Option<String>,
    /// The server's SPIFFE id in every matching connection.
    pub destination_identity: Option<String>,
}

/// The server side of a `traffic` step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrafficDestination {
    /// Connections to this service (`{service: NAME, namespace: NS}`).
    Service {
        /// Namespace.
        namespace: String,
        /// Service name.
        name: String,
    },
    /// Connections to this workload (`{target: deploy/NAME, namespace: NS}`).
    Workload(WorkloadRef),
}
