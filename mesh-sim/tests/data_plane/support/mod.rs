//! Shared set-up for the data plane tests: starting a mesh with workloads, finding pods and
//! services in it, and waiting for the connection records its sidecars report.

pub mod clients;
pub mod manifests;

use std::net::Ipv4Addr;
use std::time::Duration;

use mesh_sim::cluster::pods::PodInfo;
use mesh_sim::identity::SpiffeId;
use mesh_sim::records::ConnectionRecord;
use mesh_sim::resources::Resource;
use mesh_sim::runtime::{Mesh, MeshOptions, PodSelector};
use tokio::time::Instant;

/// Limit for pods to start and proxies to acknowledge their configuration after a change.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit for a sidecar's record of a connection to reach the controller.
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two looks at the records while waiting for one.
const RECORD_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Starts a mesh, applies `resources` in order and waits until every pod runs and every proxy
/// acknowledged its configuration. Panics when a pod fails to start.
pub async fn start_mesh(resources: Vec<Resource>) -> Mesh {
    let mesh = Mesh::start(MeshOptions::default())
        .await
        .expect("mesh starts");
    apply_and_settle(&mesh, resources).await;
    mesh
}

/// Applies `resources` and waits for the mesh to settle, with no failed pod.
pub async fn apply_and_settle(mesh: &Mesh, resources: Vec<Resource>) {
    mesh.apply(resources)
        .expect("the cluster accepts the objects");
    settle(mesh).await;
}

/// Waits for the mesh to settle, with no failed pod.
pub async fn settle(mesh: &Mesh) {
    let readiness = mesh
        .wait_ready(READY_TIMEOUT)
        .await
        .expect("pods start and proxies acknowledge their configuration");
    assert_eq!(readiness.failed, Vec::new(), "pods that failed to start");
}

/// Returns the ready pod of Deployment `namespace/deployment`.
pub fn pod(mesh: &Mesh, namespace: &str, deployment: &str) -> PodInfo {
    let target = mesh
        .exec_target(namespace, &PodSelector::Deployment(deployment.to_owned()))
        .unwrap_or_else(|error| panic!("{error}"));
    mesh.store()
        .snapshot()
        .pod(&target.pod)
        .cloned()
        .unwrap_or_else(|| panic!("pod {} is in the cluster state", target.pod))
}

/// Returns the SPIFFE identity of the pod of Deployment `namespace/deployment`.
pub fn identity(mesh: &Mesh, namespace: &str, deployment: &str) -> SpiffeId {
    let pod = pod(mesh, namespace, deployment);
    mesh.store().snapshot().identity_of(&pod)
}

/// Returns the ClusterIP of Service `namespace/name`.
pub fn cluster_ip(mesh: &Mesh, namespace: &str, name: &str) -> Ipv4Addr {
    mesh.store()
        .snapshot()
        .service(namespace, name)
        .unwrap_or_else(|| panic!("service {namespace}/{name} exists"))
        .cluster_ip
}

/// Waits until a record matching `predicate` has been reported and returns the first such
/// record. `what` describes the record for the timeout message.
pub async fn wait_for_record(
    mesh: &Mesh,
    what: &str,
    predicate: impl Fn(&ConnectionRecord) -> bool,
) -> ConnectionRecord {
    let deadline = Instant::now() + RECORD_TIMEOUT;
    loop {
        let records = mesh.records();
        if let Some(record) = records.iter().find(|record| predicate(record)) {
            return record.clone();
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {RECORD_TIMEOUT:?} waiting for {what}; records so far: \
                 {records:#?}"
            );
        }
        tokio::time::sleep(RECORD_POLL_INTERVAL).await;
    }
}

/// Extracts the `X-Forwarded-Client-Cert` header from the body of httpbin's `/headers`, or
/// returns `None` when the request carried none. Panics when `body` is not httpbin's JSON.
pub fn forwarded_client_cert(body: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|error| panic!("httpbin's body is not JSON ({error}): {body}"));
    let headers = json
        .get("headers")
        .and_then(serde_json::Value::as_object)
        .unwrap_or_else(|| panic!("httpbin's body has no headers object: {body}"));
    // go-httpbin lists each header's values in an array.
    let values = headers.get("X-Forwarded-Client-Cert")?.as_array()?;
    assert_eq!(values.len(), 1, "X-Forwarded-Client-Cert values in {body}");
    values[0].as_str().map(str::to_owned)
}

/// Splits one XFCC element into its `key=value` fields, such as `By`, `Hash` and `URI`.
pub fn xfcc_fields(element: &str) -> std::collections::BTreeMap<String, String> {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}
