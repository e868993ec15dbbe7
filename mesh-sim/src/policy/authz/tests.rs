use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn policy(
    name: &str,
    action: AuthorizationAction,
    rules: Option<Vec<AuthorizationRule>>,
) -> AppliedPolicy {
    AppliedPolicy {
        name: name.to_owned(),
        action,
        rules,
    }
}

fn from_principals(principals: &[&str]) -> AuthorizationRule {
    AuthorizationRule {
        from: vec![RuleFrom {
            source: Source {
                principals: principals.iter().map(|p| (*p).to_owned()).collect(),
                ..Default::default()
            },
        }],
        ..Default::default()
    }
}

fn http_request(principal: Option<&str>, method: &str, path: &str) -> RequestAttributes {
    RequestAttributes {
        principal: principal.map(str::to_owned),
        source_ip: IpAddr::V4(Ipv4Addr::new(127, 1, 1, 1)),
        port: 9080,
        http: Some(HttpAttributes {
            method: method.to_owned(),
            path: path.to_owned(),
            host: "productpage".to_owned(),
            headers: vec![("x-user".to_owned(), "jason".to_owned())],
        }),
    }
}

fn tcp_request(principal: Option<&str>) -> RequestAttributes {
    RequestAttributes {
        http: None,
        ..http_request(principal, "", "")
    }
}

const SLEEP: &str = "cluster.local/ns/sleep/sa/sleep";
const PRODUCTPAGE: &str = "cluster.local/ns/bookinfo/sa/bookinfo-productpage";

#[test]
fn no_policies_allow_everything() {
    assert_eq!(
        evaluate(&[], &http_request(None, "GET", "/")),
        Decision::Allowed
    );
}

#[test]
fn allow_policy_denies_unmatched_requests() {
    let policies = [policy(
        "ns/allow",
        AuthorizationAction::Allow,
        Some(vec![from_principals(&[PRODUCTPAGE])]),
    )];
    assert_eq!(
        evaluate(&policies, &http_request(Some(PRODUCTPAGE), "GET", "/")),
        Decision::Allowed
    );
    assert_eq!(
        evaluate(&policies, &http_request(Some(SLEEP), "GET", "/")),
        Decision::NotAllowed
    );
    assert_eq!(
        evaluate(&policies, &http_request(None, "GET", "/")),
        Decision::NotAllowed,
        "a plaintext client has no principal"
    );
}

#[test]
fn deny_wins_over_allow() {
    let policies = [
        policy(
            "ns/allow-all",
            AuthorizationAction::Allow,
            Some(vec![AuthorizationRule::default()]),
        ),
        policy(
            "ns/deny-sleep",
            AuthorizationAction::Deny,
            Some(vec![from_principals(&["cluster.local/ns/sleep/*"])]),
        ),
    ];
    assert_eq!(
        evaluate(&policies, &http_request(Some(SLEEP), "GET", "/")),
        Decision::DeniedByPolicy {
            policy: "ns/deny-sleep".to_owned()
        }
    );
    assert_eq!(
        evaluate(&policies, &http_request(Some(PRODUCTPAGE), "GET", "/")),
        Decision::Allowed
    );
}

#[test]
fn empty_allow_policy_denies_all_and_empty_rule_allows_all() {
    let nothing = [policy("ns/allow-nothing", AuthorizationAction::Allow, None)];
    assert_eq!(
        evaluate(&nothing, &http_request(Some(SLEEP), "GET", "/")),
        Decision::NotAllowed
    );
    let everything = [policy(
        "ns/allow-all",
        AuthorizationAction::Allow,
        Some(vec![AuthorizationRule::default()]),
    )];
    assert_eq!(
        evaluate(&everything, &http_request(None, "GET", "/")),
        Decision::Allowed
    );
}

#[test]
fn not_principals_match_plaintext_clients() {
    let rule = AuthorizationRule {
        from: vec![RuleFrom {
            source: Source {
                not_principals: vec![PRODUCTPAGE.to_owned()],
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let policies = [policy(
        "ns/deny-others",
        AuthorizationAction::Deny,
        Some(vec![rule]),
    )];
    assert!(!evaluate(&policies, &http_request(None, "GET", "/")).is_allowed());
    assert!(!evaluate(&policies, &http_request(Some(SLEEP), "GET", "/")).is_allowed());
    assert!(evaluate(&policies, &http_request(Some(PRODUCTPAGE), "GET", "/")).is_allowed());
}

#[test]
fn namespaces_come_from_the_principal() {
    let rule = AuthorizationRule {
        from: vec![RuleFrom {
            source: Source {
                namespaces: vec!["sleep".to_owned()],
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let policies = [policy(
        "ns/allow-sleep",
        AuthorizationAction::Allow,
        Some(vec![rule]),
    )];
    assert!(evaluate(&policies, &http_request(Some(SLEEP), "GET", "/")).is_allowed());
    assert!(!evaluate(&policies, &http_request(Some(PRODUCTPAGE), "GET", "/")).is_allowed());
    assert!(!evaluate(&policies, &http_request(None, "GET", "/")).is_allowed());
}

#[test]
fn operations_match_methods_paths_and_ports() {
    let rule = AuthorizationRule {
        to: vec![RuleTo {
            operation: Operation {
                methods: vec!["GET".to_owned()],
                paths: vec!["/api/*".to_owned(), "/health".to_owned()],
                ports: vec!["9080".to_owned()],
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let policies = [policy(
        "ns/allow-get",
        AuthorizationAction::Allow,
        Some(vec![rule]),
    )];
    let cases = [
        ("GET", "/api/v1/products", true),
        ("GET", "/health", true),
        ("GET", "/healthz", false),
        ("POST", "/api/v1/products", false),
        ("GET", "/productpage", false),
    ];
    for (method, path, expected) in cases {
        assert_eq!(
            evaluate(&policies, &http_request(None, method, path)).is_allowed(),
            expected,
            "{method} {path}"
        );
    }
}

#[test]
fn http_only_rules_on_tcp_never_allow_but_still_deny() {
    let http_rule = AuthorizationRule {
        to: vec![RuleTo {
            operation: Operation {
                methods: vec!["GET".to_owned()],
                ..Default::default()
            },
        }],
        ..Default::default()
    };
    let allow = [policy(
        "ns/allow-get",
        AuthorizationAction::Allow,
        Some(vec![http_rule.clone()]),
    )];
    assert_eq!(
        evaluate(&allow, &tcp_request(Some(SLEEP))),
        Decision::NotAllowed
    );
    let deny = [policy(
        "ns/deny-get",
        AuthorizationAction::Deny,
        Some(vec![http_rule]),
    )];
    assert!(!evaluate(&deny, &tcp_request(Some(SLEEP))).is_allowed());
}

#[test]
fn when_conditions_read_headers_and_source() {
    let rule = AuthorizationRule {
        when: vec![
            Condition {
                key: "request.headers[X-User]".to_owned(),
                values: vec!["jason".to_owned()],
                ..Default::default()
            },
            Condition {
                key: "source.namespace".to_owned(),
                not_values: vec!["bookinfo".to_owned()],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let policies = [policy(
        "ns/allow-jason",
        AuthorizationAction::Allow,
        Some(vec![rule]),
    )];
    assert!(evaluate(&policies, &http_request(Some(SLEEP), "GET", "/")).is_allowed());
    assert!(!evaluate(&policies, &http_request(Some(PRODUCTPAGE), "GET", "/")).is_allowed());
}

#[test]
fn cidr_matching() {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    assert!(cidr_contains("10.1.0.0/16", ip));
    assert!(cidr_contains("10.1.2.3", ip));
    assert!(!cidr_contains("10.2.0.0/16", ip));
    assert!(cidr_contains("0.0.0.0/0", ip));
    assert!(!cidr_contains("not-an-ip", ip));
}
