use super::istio::wildcard;
use super::kubernetes::{is_dns_label, is_dns_subdomain, is_trust_domain};
use super::tsb::{is_rule_fqn, service_account_pattern};

#[test]
fn wildcards_only_at_the_ends() {
    let cases = [
        ("*", true),
        ("cluster.local/ns/foo/*", true),
        ("*/sa/sleep", true),
        ("exact", true),
        ("*/ns/bar/*", false),
        ("a*b", false),
    ];
    for (value, expected) in cases {
        assert_eq!(wildcard(value), expected, "{value}");
    }
}

#[test]
fn kubernetes_names() {
    let long = "x".repeat(64);
    let cases = [
        ("bookinfo", true, true),
        ("a-b-1", true, true),
        ("UPPER", false, false),
        ("a<script>", false, false),
        ("-lead", false, false),
        ("reviews.v1", false, true),
        (long.as_str(), false, true),
    ];
    for (name, label, subdomain) in cases {
        assert_eq!(is_dns_label(name), label, "label {name}");
        assert_eq!(is_dns_subdomain(name), subdomain, "subdomain {name}");
    }
}

#[test]
fn trust_domains() {
    let long_label = format!("{}.local", "x".repeat(64));
    let long_name = ["abcdefghi"; 26].join(".");
    let cases = [
        ("cluster.local", true),
        ("cluster-1.tsb.local", true),
        ("td", true),
        ("", false),
        (".", false),
        ("a..b", false),
        (".cluster.local", false),
        ("cluster.local.", false),
        ("Cluster.local", false),
        ("cluster_1.local", false),
        ("-a.local", false),
        ("a b", false),
        ("td/ns", false),
        (long_label.as_str(), false),
        (long_name.as_str(), false),
    ];
    for (name, expected) in cases {
        assert_eq!(is_trust_domain(name), expected, "{name:?}");
    }
}

#[test]
fn service_account_patterns_follow_tsb() {
    let cases = [
        ("./*", true),
        ("ns1/*", true),
        ("ns1/sa1", true),
        ("*/*", false),
        ("bar", false),
        ("./sa", false),
        ("ns1/sa*", false),
    ];
    for (account, expected) in cases {
        assert_eq!(service_account_pattern(account), expected, "{account}");
    }
}

#[test]
fn rule_fqns_name_hierarchy_levels() {
    let cases = [
        ("organizations/o", true),
        ("organizations/o/tenants/t", true),
        ("organizations/o/tenants/t/workspaces/w", true),
        (
            "organizations/o/tenants/t/workspaces/w/securitygroups/g",
            true,
        ),
        ("", false),
        ("organizations", false),
        ("organizations/", false),
        ("organizations/o/tenants/t/", false),
        ("organizations/o/tenants", false),
        ("organizations/o/workspaces/w", false),
        ("organizations/o/tenants/t/securitygroups/g", false),
        ("tenants/t", false),
        ("/organizations/o/tenants/t", false),
        ("organizations/o/tenants/*", false),
        ("organizations/o/tenants/t/workspaces/w/groups/g", false),
        (
            "organizations/o/tenants/t/workspaces/w/securitygroups/g/x/y",
            false,
        ),
        ("organizations/o/tenants/t/clusters/c", false),
    ];
    for (fqn, expected) in cases {
        assert_eq!(is_rule_fqn(fqn), expected, "{fqn:?}");
    }
}
