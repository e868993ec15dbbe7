//! Integration tests of the in-process mesh's data plane: real sockets, real TLS and the real
//! curl binary against sidecars configured by PeerAuthentication, DestinationRule and
//! AuthorizationPolicy. Each test starts its own mesh in its own loopback block.

mod authorization;
mod destination_rule;
mod lifecycle;
mod mtls;
mod peer_authentication;
mod resolution;
mod support;
