use std::path::Path;

use super::*;

/// An organization and tenant with two workspaces: `bookinfo-ws` owns `bookinfo` and
/// `reviews`, with a security group on `bookinfo` only; `other-ws` owns `other`.
const HIERARCHY: &str = r#"
apiVersion: api.tsb.tetrate.io/v2
kind: Organization
metadata:
  name: tetrate
---
apiVersion: api.tsb.tetrate.io/v2
kind: Tenant
metadata:
  organization: tetrate
  name: default
---
apiVersion: api.tsb.tetrate.io/v2
kind: Workspace
metadata:
  organization: tetrate
  tenant: default
  name: bookinfo-ws
spec:
  namespaceSelector:
    names: ["*/bookinfo", "cluster-1/reviews"]
---
apiVersion: api.tsb.tetrate.io/v2
kind: Workspace
metadata:
  organization: tetrate
  tenant: default
  name: other-ws
spec:
  namespaceSelector:
    names: ["*/other"]
---
apiVersion: security.tsb.tetrate.io/v2
kind: Group
metadata:
  organization: tetrate
  tenant: default
  workspace: bookinfo-ws
  name: bookinfo-group
spec:
  namespaceSelector:
    names: ["*/bookinfo"]
"#;

fn workspace_setting(authorization: &str) -> String {
    format!(
        r#"
apiVersion: api.tsb.tetrate.io/v2
kind: WorkspaceSetting
metadata:
  organization: tetrate
  tenant: default
  workspace: bookinfo-ws
  name: bookinfo-ws-setting
spec:
  defaultSecuritySetting:
    authenticationSettings:
      trafficMode: REQUIRED
    authorization:
{authorization}
"#
    )
}

fn translated(settings: &str) -> String {
    let text = format!("{HIERARCHY}---{settings}");
    let objects = scenario::load_manifest_text(&text, Path::new("fixture.yaml"), None).unwrap();
    let options = TranslateOptions {
        cluster: ClusterSettings {
            name: "cluster-1".to_owned(),
            trust_domain: "cluster-1.tsb.local".to_owned(),
        },
        namespaces: Vec::new(),
    };
    render(&translate_objects(&objects, &options).unwrap()).unwrap()
}

#[test]
fn translation_per_authorization_mode() {
    let cases = [
        ("unset", "      mode: UNSET"),
        ("disabled", "      mode: DISABLED"),
        ("namespace", "      mode: NAMESPACE"),
        ("group", "      mode: GROUP"),
        ("workspace", "      mode: WORKSPACE"),
        ("cluster", "      mode: CLUSTER"),
        (
            "custom",
            "      mode: CUSTOM\n      serviceAccounts: [\"other/sleep\", \"./*\"]",
        ),
        (
            "rules",
            "      mode: RULES\n      rules:\n        allow:\n          - from: {fqn: organizations/tetrate/tenants/default/workspaces/other-ws}\n            to: {fqn: organizations/tetrate/tenants/default/workspaces/bookinfo-ws}",
        ),
    ];
    for (name, authorization) in cases {
        insta::assert_snapshot!(
            format!("authorization_{name}"),
            translated(&workspace_setting(authorization))
        );
    }
}

#[test]
fn nothing_set_generates_nothing() {
    assert_eq!(
        translated("\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: unrelated\n"),
        ""
    );
}

#[test]
fn group_security_setting_overrides_workspace() {
    let group = r#"
apiVersion: security.tsb.tetrate.io/v2
kind: SecuritySetting
metadata:
  organization: tetrate
  tenant: default
  workspace: bookinfo-ws
  group: bookinfo-group
  name: bookinfo-group-setting
spec:
  authenticationSettings:
    trafficMode: OPTIONAL
  authorization:
    mode: NAMESPACE
"#;
    let text = format!("{}---{group}", workspace_setting("      mode: WORKSPACE"));
    insta::assert_snapshot!("group_overrides_workspace", translated(&text));
}

#[test]
fn missing_parent_is_located() {
    let text = "apiVersion: api.tsb.tetrate.io/v2\nkind: TenantSetting\nmetadata:\n  organization: tetrate\n  tenant: default\n  name: s\n";
    let objects = scenario::load_manifest_text(text, Path::new("settings.yaml"), None).unwrap();
    let error = translate_objects(&objects, &TranslateOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("settings.yaml:2:1: "), "{message}");
    assert!(
        message.contains("organizations/tetrate/tenants/default does not exist"),
        "{message}"
    );
}
