//! TSB API checks of namespace selectors, CUSTOM service accounts and RULES FQNs.

use super::{Invalid, invalid};
use crate::resources::tsb::AuthorizationSettings;

pub(super) fn namespace_selector(names: &[String], path: &[&str]) -> Result<(), Invalid> {
    match names.iter().find(|name| {
        name.split_once('/')
            .is_none_or(|(cluster, namespace)| cluster.is_empty() || namespace.is_empty())
    }) {
        Some(name) => Err(invalid(
            path,
            format!("`{name}` is not a cluster/namespace pattern"),
            "write `*/namespace`, `cluster/namespace`, `cluster/*` or `*/*`",
        )),
        None => Ok(()),
    }
}

/// TSB's pattern for CUSTOM service accounts: `./*`, `namespace/*` or `namespace/account`.
pub(super) fn service_account_pattern(account: &str) -> bool {
    if account == "./*" {
        return true;
    }
    let Some((namespace, name)) = account.split_once('/') else {
        return false;
    };
    let plain = |text: &str| !text.is_empty() && !text.contains(['.', '*']);
    plain(namespace) && (name == "*" || (!name.is_empty() && !name.contains('*')))
}

/// Checks an `authorization` block at `at`: CUSTOM service accounts and RULES FQNs.
pub(super) fn authorization(
    authorization: &Option<AuthorizationSettings>,
    at: &[&str],
) -> Result<(), Invalid> {
    let Some(authorization) = authorization else {
        return Ok(());
    };
    if let Some(account) = authorization
        .service_accounts
        .iter()
        .find(|account| !service_account_pattern(account))
    {
        let path: Vec<&str> = at.iter().copied().chain(["serviceAccounts"]).collect();
        return Err(invalid(
            &path,
            format!("`{account}` is not a service account pattern"),
            "write `./*`, `namespace/*` or `namespace/account`",
        ));
    }
    let Some(rules) = &authorization.rules else {
        return Ok(());
    };
    for (list, entries) in [("allow", &rules.allow), ("deny", &rules.deny)] {
        for (index, rule) in entries.iter().enumerate() {
            for (end, endpoint) in [("from", &rule.from), ("to", &rule.to)] {
                if is_rule_fqn(&endpoint.fqn) {
                    continue;
                }
                let index = index.to_string();
                let path: Vec<&str> = at
                    .iter()
                    .copied()
                    .chain(["rules", list, &index, end, "fqn"])
                    .collect();
                return Err(invalid(
                    &path,
                    format!("`{}` is not the FQN of a TSB hierarchy level", endpoint.fqn),
                    "write `organizations/O/tenants/T`, optionally followed by `/workspaces/W` \
                     and then `/securitygroups/G`",
                ));
            }
        }
    }
    Ok(())
}

/// Checks whether `fqn` names a level that RULES can match: `organizations/O`, then optionally
/// `/tenants/T`, `/workspaces/W` and `/securitygroups/G`, each only after the one before.
/// The rule matcher compares these by path prefix with the FQNs of stored objects, so any other
/// form, such as a trailing `/`, a `*` or a `clusters/` segment, would match nothing.
// NOTE: TSB documents rule FQNs as tenants, workspaces or security groups. An organization
// FQN is accepted because the matcher handles it and a bundled scenario uses one. Whether
// TSB's own API server accepts it has not been checked.
pub(super) fn is_rule_fqn(fqn: &str) -> bool {
    const LEVELS: [&str; 4] = ["organizations", "tenants", "workspaces", "securitygroups"];
    let parts: Vec<&str> = fqn.split('/').collect();
    if !parts.len().is_multiple_of(2) || parts.len() > 2 * LEVELS.len() {
        return false;
    }
    parts
        .chunks(2)
        .zip(LEVELS)
        .all(|(pair, level)| pair[0] == level && !pair[1].is_empty() && !pair[1].contains('*'))
}
