//! The in-process address plan: every mesh instance owns one `127.B.0.0/16` block of the
//! loopback network, so pods keep their real ports and parallel instances never collide.
//!
//! Linux routes all of `127.0.0.0/8` to the loopback interface, so any of these addresses can
//! be bound without configuration. Inside the block:
//!
//! | third octet | use |
//! |---|---|
//! | 0 | control plane (controller and CA) |
//! | 1 to 31 | pod addresses, the address other pods connect to |
//! | 32 to 63 | the address an injected pod's application listens on, behind its sidecar (pod address + 32 in the third octet) |
//! | 64 to 79 | service ClusterIPs, where kube-proxy listens on each port that has ready endpoints; any other port is refused |
//! | 128 to 255 | outbound listeners: one per injected pod and service, where that pod's sidecar captures traffic for the service |

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Third octet where pod addresses start.
const POD_FIRST: u8 = 1;
/// Third octet after the last pod address.
const POD_END: u8 = 32;
/// Offset from a pod address to its application address, in the third octet.
const APP_OFFSET: u8 = 32;
/// Third octet where service cluster IPs start.
const SERVICE_FIRST: u8 = 64;
/// Third octet after the last service cluster IP.
const SERVICE_END: u8 = 80;
/// Third octet where outbound listener addresses start.
const OUTBOUND_FIRST: u8 = 128;

/// An address range ran out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the in-process address range for {range} in 127.{block}.0.0/16 is exhausted after \
     {capacity} addresses, which are not reused within a mesh; use fewer replicas, pod \
     restarts or services in one scenario, or split it"
)]
pub struct AddressExhausted {
    range: &'static str,
    block: u8,
    capacity: u16,
}

/// Hands out the addresses of one mesh instance.
#[derive(Clone, Debug)]
pub struct AddressPlan {
    block: u8,
    next_pod: u16,
    next_service: u16,
    next_outbound: u16,
    outbound: BTreeMap<(String, String), Ipv4Addr>,
}

impl AddressPlan {
    /// Creates the plan for block `127.<block>.0.0/16`.
    pub fn new(block: u8) -> Self {
        Self {
            block,
            next_pod: 0,
            next_service: 0,
            next_outbound: 0,
            outbound: BTreeMap::new(),
        }
    }

    /// The second octet of this instance's block.
    pub fn block(&self) -> u8 {
        self.block
    }

    /// The control plane address.
    pub fn control_plane(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.block, 0, 1)
    }

    fn take(
        &self,
        counter: &mut u16,
        first: u8,
        end: u8,
        range: &'static str,
    ) -> Result<Ipv4Addr, AddressExhausted> {
        // Host octets 1..=254 of each third-octet value; .0 and .255 are skipped so addresses
        // never look like network or broadcast addresses.
        let per_octet = 254u16;
        let capacity = u16::from(end - first) * per_octet;
        if *counter >= capacity {
            return Err(AddressExhausted {
                range,
                block: self.block,
                capacity,
            });
        }
        let index = *counter;
        *counter += 1;
        let third = first + (index / per_octet) as u8;
        let fourth = (index % per_octet) as u8 + 1;
        Ok(Ipv4Addr::new(127, self.block, third, fourth))
    }

    /// Allocates a new pod address. Addresses are not reused within an instance, so a
    /// connection to a deleted pod can never reach its replacement.
    pub fn allocate_pod(&mut self) -> Result<Ipv4Addr, AddressExhausted> {
        let mut counter = self.next_pod;
        let address = self.take(&mut counter, POD_FIRST, POD_END, "pods")?;
        self.next_pod = counter;
        Ok(address)
    }

    /// The address an injected pod's application listens on, behind its sidecar.
    pub fn app_address(pod: Ipv4Addr) -> Ipv4Addr {
        let [a, b, c, d] = pod.octets();
        Ipv4Addr::new(a, b, c + APP_OFFSET, d)
    }

    /// Allocates a service cluster IP.
    pub fn allocate_service(&mut self) -> Result<Ipv4Addr, AddressExhausted> {
        let mut counter = self.next_service;
        let address = self.take(&mut counter, SERVICE_FIRST, SERVICE_END, "services")?;
        self.next_service = counter;
        Ok(address)
    }

    /// The address where `pod`'s sidecar captures traffic for `service` (both given as
    /// `namespace/name`), allocated on first use.
    pub fn outbound(&mut self, pod: &str, service: &str) -> Result<Ipv4Addr, AddressExhausted> {
        let key = (pod.to_owned(), service.to_owned());
        if let Some(address) = self.outbound.get(&key) {
            return Ok(*address);
        }
        let mut counter = self.next_outbound;
        let address = self.take(&mut counter, OUTBOUND_FIRST, 255, "outbound listeners")?;
        self.next_outbound = counter;
        self.outbound.insert(key, address);
        Ok(address)
    }

    /// The outbound listener address of `pod` for `service`, if one was allocated.
    pub fn existing_outbound(&self, pod: &str, service: &str) -> Option<Ipv4Addr> {
        self.outbound
            .get(&(pod.to_owned(), service.to_owned()))
            .copied()
    }

    /// Forgets the outbound addresses of a deleted pod.
    pub fn release_pod(&mut self, pod: &str) {
        self.outbound.retain(|(owner, _), _| owner != pod);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_addresses_skip_network_and_broadcast() {
        let mut plan = AddressPlan::new(42);
        let addresses: Vec<Ipv4Addr> = (0..256).map(|_| plan.allocate_pod().unwrap()).collect();
        assert_eq!(addresses[0], Ipv4Addr::new(127, 42, 1, 1));
        assert_eq!(addresses[253], Ipv4Addr::new(127, 42, 1, 254));
        assert_eq!(addresses[254], Ipv4Addr::new(127, 42, 2, 1));
    }

    #[test]
    fn app_address_mirrors_pod_address() {
        let pod = Ipv4Addr::new(127, 42, 3, 9);
        assert_eq!(AddressPlan::app_address(pod), Ipv4Addr::new(127, 42, 35, 9));
    }

    #[test]
    fn outbound_addresses_are_stable_per_pod_and_service() {
        let mut plan = AddressPlan::new(7);
        let first = plan
            .outbound("sleep/sleep-1", "bookinfo/productpage")
            .unwrap();
        let again = plan
            .outbound("sleep/sleep-1", "bookinfo/productpage")
            .unwrap();
        let other = plan.outbound("sleep/sleep-1", "bookinfo/details").unwrap();
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!(first.octets()[2], OUTBOUND_FIRST);
    }

    #[test]
    fn pod_range_reports_exhaustion() {
        let mut plan = AddressPlan::new(9);
        let capacity = usize::from(POD_END - POD_FIRST) * 254;
        for _ in 0..capacity {
            plan.allocate_pod().unwrap();
        }
        let error = plan.allocate_pod().unwrap_err();
        assert_eq!(
            error,
            AddressExhausted {
                range: "pods",
                block: 9,
                capacity: 7874,
            }
        );
        assert!(error.to_string().contains("use fewer replicas"), "{error}");
    }
}
