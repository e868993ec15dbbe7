//! The controller: watches the cluster store, computes every sidecar's configuration, pushes
//! new versions to connected proxies and tracks their acknowledgements, so callers can wait
//! until the data plane has caught up with a change.

pub mod compute;
pub mod server;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::cluster::ClusterStore;
use crate::records::ConnectionRecord;
use crate::xds::{ConfigPush, ProxyConfig};

use self::compute::{ListenerMode, all_proxy_configs};

/// The state of one proxy as the controller tracks it.
#[derive(Debug)]
struct ProxyEntry {
    /// Latest version and configuration; sent to the proxy's watch stream.
    latest: watch::Sender<Option<Arc<ConfigPush>>>,
    /// Last version the proxy acknowledged as applied.
    acked: Option<u64>,
    /// The proxy's report on its last rejected version.
    rejected: Option<(u64, String)>,
}

impl ProxyEntry {
    fn version(&self) -> Option<u64> {
        self.latest.borrow().as_ref().map(|push| push.version)
    }
}

#[derive(Debug, Default)]
struct State {
    proxies: BTreeMap<String, ProxyEntry>,
    next_version: u64,
    /// Store revision the configurations were last computed from.
    computed_revision: u64,
}

/// Why waiting for the data plane failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Some proxies did not acknowledge their latest version in time.
    #[error(
        "timed out after {timeout:?} waiting for proxies to acknowledge their configuration: {pending}"
    )]
    Timeout {
        /// The limit.
        timeout: Duration,
        /// The lagging proxies with their acknowledged and latest versions.
        pending: String,
    },
    /// A proxy reported that it could not apply its configuration.
    #[error("proxy {pod} rejected configuration version {version}: {error}")]
    Rejected {
        /// `namespace/name` of the pod.
        pod: String,
        /// The rejected version.
        version: u64,
        /// The proxy's error.
        error: String,
    },
}

/// The mesh controller of one cluster.
#[derive(Debug)]
pub struct Controller {
    store: Arc<ClusterStore>,
    mode: ListenerMode,
    state: Mutex<State>,
    /// Bumped on every acknowledgement and recomputation, to wake waiters.
    progress: watch::Sender<u64>,
    records: Mutex<Vec<ConnectionRecord>>,
}

impl Controller {
    /// Creates a controller for `store`.
    pub fn new(store: Arc<ClusterStore>, mode: ListenerMode) -> Arc<Self> {
        Arc::new(Self {
            store,
            mode,
            state: Mutex::new(State::default()),
            progress: watch::Sender::new(0),
            records: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn bump_progress(&self) {
        self.progress.send_modify(|value| *value += 1);
    }

    /// Recomputes every proxy's configuration from the current store and pushes the ones that
    /// changed.
    pub fn recompute(&self) {
        let revision = *self.store.subscribe().borrow();
        let snapshot = self.store.snapshot();
        let configs: BTreeMap<String, ProxyConfig> = all_proxy_configs(&snapshot, self.mode);
        let mut state = self.lock();
        state.proxies.retain(|pod, _| configs.contains_key(pod));
        let mut pushed = Vec::new();
        for (pod, config) in configs {
            let unchanged = state
                .proxies
                .get(&pod)
                .and_then(|entry| {
                    entry
                        .latest
                        .borrow()
                        .as_ref()
                        .map(|push| push.config == config)
                })
                .unwrap_or(false);
            if unchanged {
                continue;
            }
            state.next_version += 1;
            let push = Arc::new(ConfigPush {
                version: state.next_version,
                config,
            });
            match state.proxies.get(&pod) {
                Some(entry) => {
                    entry.latest.send_replace(Some(push));
                }
                None => {
                    state.proxies.insert(
                        pod.clone(),
                        ProxyEntry {
                            latest: watch::Sender::new(Some(push)),
                            acked: None,
                            rejected: None,
                        },
                    );
                }
            }
            pushed.push(pod);
        }
        state.computed_revision = state.computed_revision.max(revision);
        drop(state);
        if !pushed.is_empty() {
            debug!(proxies = ?pushed, revision, "pushed new configuration versions");
        }
        self.bump_progress();
    }

    /// Recomputes on every store change until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut changes = self.store.subscribe();
        loop {
            changes.mark_unchanged();
            self.recompute();
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        debug!("controller stopped");
    }

    /// A receiver of a proxy's latest configuration, or `None` when the pod has no sidecar
    /// (or no longer exists).
    pub fn watch(&self, pod: &str) -> Option<watch::Receiver<Option<Arc<ConfigPush>>>> {
        self.lock()
            .proxies
            .get(pod)
            .map(|entry| entry.latest.subscribe())
    }

    /// Records a proxy's acknowledgement.
    pub fn acknowledge(&self, pod: &str, version: u64, error: Option<String>) {
        let mut state = self.lock();
        let Some(entry) = state.proxies.get_mut(pod) else {
            debug!(
                pod,
                version, "acknowledgement from a proxy the controller no longer tracks"
            );
            return;
        };
        match error {
            None => {
                entry.acked = Some(entry.acked.map_or(version, |acked| acked.max(version)));
                entry.rejected = None;
                debug!(pod, version, "proxy acknowledged configuration");
            }
            Some(error) => {
                warn!(pod, version, %error, "proxy rejected configuration");
                entry.rejected = Some((version, error));
            }
        }
        drop(state);
        self.bump_progress();
    }

    /// Whether a proxy acknowledged its latest version.
    pub fn is_synced(&self, pod: &str) -> bool {
        let state = self.lock();
        state
            .proxies
            .get(pod)
            .is_some_and(|entry| entry.acked.is_some() && entry.acked == entry.version())
    }

    /// The version a proxy acknowledged, if any.
    pub fn acked_version(&self, pod: &str) -> Option<u64> {
        self.lock().proxies.get(pod).and_then(|entry| entry.acked)
    }

    /// Waits until the controller has computed configurations from the store's current
    /// revision and every proxy acknowledged its latest version. `ignore` lists pods not to
    /// wait for (pods still starting, whose readiness the caller tracks separately).
    pub async fn wait_synced(&self, timeout: Duration, ignore: &[String]) -> Result<(), SyncError> {
        let target_revision = *self.store.subscribe().borrow();
        let deadline = Instant::now() + timeout;
        let mut progress = self.progress.subscribe();
        loop {
            progress.mark_unchanged();
            let pending = {
                let state = self.lock();
                if state.computed_revision < target_revision {
                    Some(format!(
                        "controller at store revision {} of {target_revision}",
                        state.computed_revision
                    ))
                } else {
                    let mut lagging = Vec::new();
                    for (pod, entry) in &state.proxies {
                        if ignore.contains(pod) {
                            continue;
                        }
                        if let Some((version, error)) = &entry.rejected
                            && Some(*version) == entry.version()
                        {
                            return Err(SyncError::Rejected {
                                pod: pod.clone(),
                                version: *version,
                                error: error.clone(),
                            });
                        }
                        if entry.acked != entry.version() {
                            lagging.push(format!(
                                "{pod} (acknowledged {}, latest {})",
                                entry.acked.map_or("none".to_owned(), |v| v.to_string()),
                                entry.version().unwrap_or_default()
                            ));
                        }
                    }
                    (!lagging.is_empty()).then(|| lagging.join(", "))
                }
            };
            let Some(pending) = pending else {
                return Ok(());
            };
            if tokio::time::timeout_at(deadline, progress.changed())
                .await
                .is_err()
            {
                return Err(SyncError::Timeout { timeout, pending });
            }
        }
    }

    /// Stores connection records reported by a proxy, naming the pods behind addresses the
    /// proxy could not attribute.
    pub fn add_records(&self, mut records: Vec<ConnectionRecord>) {
        let state = self.store.snapshot();
        for record in &mut records {
            for peer in [&mut record.source, &mut record.destination] {
                if peer.pod.is_none()
                    && let std::net::IpAddr::V4(ip) = peer.address.ip()
                {
                    peer.pod = state.pod_by_ip(ip).map(|pod| pod.id());
                }
            }
        }
        for record in &records {
            debug!(
                reporter = %record.reporter,
                direction = ?record.direction,
                source = %record.source.address,
                destination = %record.destination.address,
                transport = ?record.transport,
                outcome = ?record.outcome,
                "connection"
            );
        }
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(records);
    }

    /// Every connection record received so far, in arrival order.
    pub fn records(&self) -> Vec<ConnectionRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
