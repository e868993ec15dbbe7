//! meshcheck: a conformance test harness for service-mesh security policy. Scenarios (YAML)
//! apply Kubernetes, Istio and TSB resources to a mesh, run curl from pods, and check the
//! results; backends supply the mesh.

pub mod backend;
pub mod exit_code;
pub mod graph;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod traffic;
pub mod translate;
