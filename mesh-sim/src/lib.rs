//! An in-process service mesh made of real components: a certificate authority issuing SPIFFE
//! certificates, a controller pushing proxy configuration over the network, sidecar proxies
//! terminating mTLS with rustls, and sample applications.

pub mod apps;
pub mod ca;
pub mod cluster;
pub mod controller;
pub mod identity;
pub mod net;
pub mod policy;
pub mod proxy;
pub mod records;
pub mod resources;
pub mod runtime;
pub mod tls;
pub mod token;
pub mod xds;
