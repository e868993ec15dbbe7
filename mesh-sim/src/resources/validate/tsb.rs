//! TSB API checks of namespace selectors and CUSTOM service accounts.

use super::{Invalid, invalid};

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

pub(super) fn service_accounts(
    authorization: &Option<crate::resources::tsb::AuthorizationSettings>,
    path: &[&str],
) -> Result<(), Invalid> {
    let Some(authorization) = authorization else {
        return Ok(());
    };
    match authorization
        .service_accounts
        .iter()
        .find(|account| !service_account_pattern(account))
    {
        Some(account) => Err(invalid(
            path,
            format!("`{account}` is not a service account pattern"),
            "write `./*`, `namespace/*` or `namespace/account`",
        )),
        None => Ok(()),
    }
}
