//! Networking shared by the control plane and the data plane.

pub mod api;
pub mod https;
