//! Reading `traffic` steps: the two ends and the properties every matching connection must
//! have.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::de::Located;
use super::error::ScenarioError;
use super::model::{Action, TrafficDestination, TrafficStep};
use super::refs;
use super::steps::{DEFAULT_NAMESPACE, StepContext};
use super::yaml::Node;
use crate::traffic::{EdgeOutcome, EdgeTransport};

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a mapping with from and to, and optional transport, outcome, sourceIdentity \
                 and destinationIdentity"
)]
struct RawTraffic {
    #[expect(dead_code, reason = "read from the node")]
    from: IgnoredAny,
    #[expect(dead_code, reason = "read from the node")]
    to: IgnoredAny,
    transport: Option<EdgeTransport>,
    outcome: Option<EdgeOutcome>,
    source_identity: Option<Located<String>>,
    destination_identity: Option<Located<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with target (or service, for to) and an optional namespace"
)]
struct RawEnd {
    target: Option<Located<String>>,
    service: Option<Located<String>>,
    #[expect(dead_code, reason = "read by StepContext::read_namespace")]
    namespace: Option<IgnoredAny>,
}

fn read_end(
    context: &StepContext<'_>,
    parent: &Node,
    field: &str,
) -> Result<TrafficDestination, ScenarioError> {
    let Some(node) = parent.get(field) else {
        return Err(context.error(
            parent.pos,
            format!("missing field `{field}` in traffic"),
            format!("add `{field}`"),
        ));
    };
    let raw: RawEnd = context.read(node, field)?;
    let namespace = context
        .read_namespace(node)?
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    match (raw.target, raw.service) {
        (Some(target), None) => {
            let workload = refs::parse_exec_target(&target.value, &namespace)
                .map_err(|problem| context.problem(target.pos, problem))?;
            Ok(TrafficDestination::Workload(workload))
        }
        (None, Some(service)) if field == "to" => Ok(TrafficDestination::Service {
            namespace,
            name: service.value,
        }),
        (None, Some(service)) => Err(context.error(
            service.pos,
            "`from` names a workload, not a service",
            "write `target: deploy/NAME`",
        )),
        (Some(_), Some(service)) => Err(context.error(
            service.pos,
            format!("`{field}` has both target and service"),
            "keep one of them",
        )),
        (None, None) => Err(context.error(
            node.pos,
            format!("`{field}` names no workload"),
            "add `target: deploy/NAME` (or `service: NAME` for `to`)",
        )),
    }
}

fn check_identity(
    context: &StepContext<'_>,
    identity: Option<Located<String>>,
) -> Result<Option<String>, ScenarioError> {
    let Some(identity) = identity else {
        return Ok(None);
    };
    identity
        .value
        .parse::<mesh_sim::identity::SpiffeId>()
        .map_err(|error| {
            context.error(
                identity.pos,
                error.to_string(),
                "write it as spiffe://<trust domain>/ns/<namespace>/sa/<account>",
            )
        })?;
    Ok(Some(identity.value))
}

/// Reads a traffic step: `action` is the value of its `traffic` key.
pub(crate) fn read_traffic(
    context: &StepContext<'_>,
    action: &Node,
) -> Result<(Action, String), ScenarioError> {
    let raw: RawTraffic = context.read(action, "traffic")?;
    let from = match read_end(context, action, "from")? {
        TrafficDestination::Workload(workload) => workload,
        TrafficDestination::Service { .. } => {
            return Err(context.error(
                action.pos,
                "`from` names a workload, not a service",
                "write `target: deploy/NAME`",
            ));
        }
    };
    let to = read_end(context, action, "to")?;
    let to_text = match &to {
        TrafficDestination::Service { namespace, name } => format!("svc/{name} -n {namespace}"),
        TrafficDestination::Workload(workload) => format!("{workload} -n {}", workload.namespace),
    };
    let mut name = format!("traffic {from} -n {} -> {to_text}", from.namespace);
    if let Some(transport) = raw.transport {
        name.push_str(&format!(" over {}", transport.name()));
    }
    let step = TrafficStep {
        from,
        to,
        transport: raw.transport,
        outcome: raw.outcome,
        source_identity: check_identity(context, raw.source_identity)?,
        destination_identity: check_identity(context, raw.destination_identity)?,
    };
    Ok((Action::Traffic(step), name))
}
