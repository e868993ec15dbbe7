//! Sample manifests bundled with the mesh, in the resource shapes of Istio's samples, for
//! scenarios to deploy by name.

/// Manifests by name, in the order [`bundled_manifest_names`] lists them.
const MANIFESTS: &[(&str, &str)] = &[
    ("sleep", include_str!("manifests/sleep.yaml")),
    ("curl", include_str!("manifests/curl.yaml")),
    ("bookinfo", include_str!("manifests/bookinfo.yaml")),
    ("httpbin", include_str!("manifests/httpbin.yaml")),
    ("tcp-echo", include_str!("manifests/tcp-echo.yaml")),
];

const NAMES: &[&str] = &["sleep", "curl", "bookinfo", "httpbin", "tcp-echo"];

/// Returns the bundled sample manifest called `name`: "sleep", "bookinfo", "httpbin",
/// "tcp-echo" or "curl", or `None` for another name.
///
/// Each is a multi-document YAML stream of Kubernetes resources without a namespace, to be
/// applied in a namespace as `kubectl apply -n <namespace>` does.
pub fn bundled_manifest(name: &str) -> Option<&'static str> {
    MANIFESTS
        .iter()
        .find(|(manifest, _)| *manifest == name)
        .map(|(_, text)| *text)
}

/// Names of the bundled manifests.
pub fn bundled_manifest_names() -> &'static [&'static str] {
    NAMES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::{AppKind, HttpbinFlavor};

    /// The `kind` and `metadata.name` of one YAML document, with its container images and
    /// ports.
    #[derive(Debug)]
    struct Document {
        kind: String,
        name: String,
        images: Vec<String>,
        container_ports: Vec<u16>,
    }

    /// Reads the top-level `kind:`, the `name:` under the top-level `metadata:`, and every
    /// `image:` and `containerPort:` line of each `---`-separated document.
    ///
    /// mesh-sim has no YAML parser, so this reads lines. The harness parses the manifests
    /// with a YAML parser when it applies them.
    fn documents(manifest: &str) -> Vec<Document> {
        let mut documents = Vec::new();
        for text in manifest.split("\n---\n") {
            let lines: Vec<&str> = text.lines().collect();
            let kind = lines
                .iter()
                .find_map(|line| line.strip_prefix("kind: "))
                .unwrap_or_else(|| panic!("document without a kind:\n{text}"));
            let metadata = lines
                .iter()
                .position(|line| *line == "metadata:")
                .unwrap_or_else(|| panic!("document without metadata:\n{text}"));
            let name = lines[metadata + 1..]
                .iter()
                .take_while(|line| line.starts_with(' '))
                .find_map(|line| line.strip_prefix("  name: "))
                .unwrap_or_else(|| panic!("document without metadata.name:\n{text}"));
            let images = lines
                .iter()
                .filter_map(|line| line.trim_start().strip_prefix("image: "))
                .map(str::to_owned)
                .collect();
            let container_ports = lines
                .iter()
                .filter_map(|line| line.trim_start().strip_prefix("- containerPort: "))
                .map(|port| port.parse().expect("containerPort is a port number"))
                .collect();
            documents.push(Document {
                kind: kind.to_owned(),
                name: name.to_owned(),
                images,
                container_ports,
            });
        }
        documents
    }

    #[test]
    fn every_name_has_a_manifest() {
        for name in bundled_manifest_names() {
            assert!(bundled_manifest(name).is_some(), "manifest {name}");
        }
        assert_eq!(bundled_manifest_names().len(), MANIFESTS.len());
        assert_eq!(bundled_manifest("nginx"), None);
    }

    #[test]
    fn manifests_contain_expected_resources() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            (
                "sleep",
                &[
                    ("ServiceAccount", "sleep"),
                    ("Service", "sleep"),
                    ("Deployment", "sleep"),
                ],
            ),
            (
                "curl",
                &[
                    ("ServiceAccount", "curl"),
                    ("Service", "curl"),
                    ("Deployment", "curl"),
                ],
            ),
            (
                "bookinfo",
                &[
                    ("Service", "details"),
                    ("ServiceAccount", "bookinfo-details"),
                    ("Deployment", "details-v1"),
                    ("Service", "ratings"),
                    ("ServiceAccount", "bookinfo-ratings"),
                    ("Deployment", "ratings-v1"),
                    ("Service", "reviews"),
                    ("ServiceAccount", "bookinfo-reviews"),
                    ("Deployment", "reviews-v1"),
                    ("Deployment", "reviews-v2"),
                    ("Deployment", "reviews-v3"),
                    ("Service", "productpage"),
                    ("ServiceAccount", "bookinfo-productpage"),
                    ("Deployment", "productpage-v1"),
                ],
            ),
            (
                "httpbin",
                &[
                    ("ServiceAccount", "httpbin"),
                    ("Service", "httpbin"),
                    ("Deployment", "httpbin"),
                ],
            ),
            (
                "tcp-echo",
                &[("Service", "tcp-echo"), ("Deployment", "tcp-echo")],
            ),
        ];
        for (manifest, expected) in cases {
            let text = bundled_manifest(manifest).expect("the manifest is bundled");
            let found: Vec<(String, String)> = documents(text)
                .into_iter()
                .map(|document| (document.kind, document.name))
                .collect();
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(kind, name)| ((*kind).to_owned(), (*name).to_owned()))
                .collect();
            assert_eq!(found, expected, "resources of {manifest}");
        }
    }

    #[test]
    fn manifests_name_no_namespace() {
        for name in bundled_manifest_names() {
            let text = bundled_manifest(name).expect("the manifest is bundled");
            let namespace_line = text
                .lines()
                .find(|line| line.trim_start().starts_with("namespace:"));
            assert_eq!(namespace_line, None, "namespace in manifest {name}");
        }
    }

    #[test]
    fn deployment_images_map_to_apps() {
        let expected: &[(&str, &str, AppKind)] = &[
            ("sleep", "sleep", AppKind::Sleep),
            ("curl", "curl", AppKind::Sleep),
            ("bookinfo", "details-v1", AppKind::BookinfoDetails),
            ("bookinfo", "ratings-v1", AppKind::BookinfoRatings),
            (
                "bookinfo",
                "reviews-v1",
                AppKind::BookinfoReviews { version: 1 },
            ),
            (
                "bookinfo",
                "reviews-v2",
                AppKind::BookinfoReviews { version: 2 },
            ),
            (
                "bookinfo",
                "reviews-v3",
                AppKind::BookinfoReviews { version: 3 },
            ),
            ("bookinfo", "productpage-v1", AppKind::BookinfoProductpage),
            (
                "httpbin",
                "httpbin",
                AppKind::Httpbin {
                    flavor: HttpbinFlavor::Go,
                },
            ),
            ("tcp-echo", "tcp-echo", AppKind::TcpEcho),
        ];
        let mut checked = 0;
        for manifest in bundled_manifest_names() {
            let text = bundled_manifest(manifest).expect("the manifest is bundled");
            for document in documents(text) {
                if document.kind != "Deployment" {
                    assert!(
                        document.images.is_empty(),
                        "image outside a Deployment in {manifest}"
                    );
                    continue;
                }
                let (_, _, kind) = expected
                    .iter()
                    .find(|(file, name, _)| file == manifest && *name == document.name)
                    .unwrap_or_else(|| {
                        panic!("unexpected Deployment {} in {manifest}", document.name)
                    });
                assert_eq!(document.images.len(), 1, "images of {}", document.name);
                let image = &document.images[0];
                assert_eq!(
                    AppKind::from_image(image).as_ref(),
                    Some(kind),
                    "app of image {image}"
                );
                for port in kind.default_ports() {
                    assert!(
                        document.container_ports.contains(&port),
                        "{} declares {:?}, without the app's port {port}",
                        document.name,
                        document.container_ports
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, expected.len(), "Deployments checked");
    }
}
