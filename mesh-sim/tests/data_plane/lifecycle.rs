//! Mesh and pod lifecycle: a deleted Deployment's processes are gone once the mesh settles,
//! and meshes started side by side in one process stay apart.

use std::io;
use std::net::SocketAddr;

use mesh_sim::cluster::addressing::AddressPlan;
use mesh_sim::resources::{ResourceKey, ResourceKind, Scope};
use mesh_sim::runtime::{Mesh, MeshOptions};

use crate::support::clients::{connect_from, exclude_child_processes, http_get};
use crate::support::manifests::{HTTPBIN_TARGET_PORT, httpbin, namespace, sleep};
use crate::support::{
    apply_and_settle, forwarded_client_cert, pod, settle, start_mesh, xfcc_fields,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_deployment_stops_its_sidecar() {
    let mut resources = vec![namespace("httpbin", true), namespace("legacy", false)];
    resources.extend(httpbin("httpbin"));
    resources.extend(sleep("legacy"));
    let mesh = start_mesh(resources).await;
    let client = pod(&mesh, "legacy", "sleep");
    let server = pod(&mesh, "httpbin", "httpbin");
    let sidecar = SocketAddr::new(server.ip.into(), HTTPBIN_TARGET_PORT);
    let application = SocketAddr::new(
        AddressPlan::app_address(server.ip).into(),
        HTTPBIN_TARGET_PORT,
    );
    for (what, address) in [("sidecar", sidecar), ("application", application)] {
        connect_from(client.ip, address)
            .await
            .unwrap_or_else(|error| panic!("the {what} at {address} accepts before: {error}"));
    }

    let deployment = ResourceKey {
        kind: ResourceKind::Deployment,
        scope: Scope::Namespace("httpbin".to_owned()),
        name: "httpbin".to_owned(),
    };
    mesh.delete(&[deployment]).expect("the Deployment exists");
    settle(&mesh).await;
    assert!(
        mesh.store().snapshot().pod(&server.id()).is_none(),
        "the pod is gone from the cluster"
    );
    let _no_children = exclude_child_processes().await;
    for (what, address) in [("sidecar", sidecar), ("application", application)] {
        let error = connect_from(client.ip, address)
            .await
            .expect_err("nothing listens on the deleted pod's address");
        assert_eq!(
            error.kind(),
            io::ErrorKind::ConnectionRefused,
            "connecting to the {what} at {address}: {error}"
        );
    }
    mesh.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_meshes_use_separate_blocks() {
    let (first, second) = tokio::join!(
        Mesh::start(MeshOptions::default()),
        Mesh::start(MeshOptions::default())
    );
    let first = first.expect("the first mesh starts");
    let second = second.expect("the second mesh starts");
    assert_ne!(
        first.block(),
        second.block(),
        "loopback blocks of the two meshes"
    );

    let workloads = || {
        let mut resources = vec![namespace("httpbin", true), namespace("frontend", true)];
        resources.extend(httpbin("httpbin"));
        resources.extend(sleep("frontend"));
        resources
    };
    tokio::join!(
        apply_and_settle(&first, workloads()),
        apply_and_settle(&second, workloads())
    );
    for mesh in [&first, &second] {
        for pod in mesh.store().snapshot().pods() {
            assert_eq!(
                pod.ip.octets()[1],
                mesh.block(),
                "pod {} address {} lies in its mesh's block",
                pod.id(),
                pod.ip
            );
        }
    }

    let url = "http://httpbin.httpbin:8000/headers";
    let (first_response, second_response) = tokio::join!(
        http_get(&first, "frontend", "sleep", url),
        http_get(&second, "frontend", "sleep", url)
    );
    for (name, response) in [("first", &first_response), ("second", &second_response)] {
        assert_eq!(response.exit_code, Some(0), "{name} mesh: {response:?}");
        assert_eq!(response.status, 200, "{name} mesh: {response:?}");
        let xfcc = forwarded_client_cert(&response.body)
            .unwrap_or_else(|| panic!("{name} mesh's server app got no XFCC: {}", response.body));
        assert_eq!(
            xfcc_fields(&xfcc).get("URI").map(String::as_str),
            Some("spiffe://cluster.local/ns/frontend/sa/sleep"),
            "{name} mesh's XFCC URI in {xfcc}"
        );
    }
    first.shutdown().await;
    second.shutdown().await;
}
