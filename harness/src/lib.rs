//! meshcheck: a conformance test harness for service-mesh security policy.

pub mod scenario;
