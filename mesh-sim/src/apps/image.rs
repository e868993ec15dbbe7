//! The mapping from container images to built-in apps, and the ports each app listens on by
//! default.

use super::{AppKind, HttpbinFlavor};

/// Registry host names under which Docker Hub images are also known.
const DOCKER_HUB_REGISTRIES: &[&str] = &["docker.io/", "index.docker.io/", "registry-1.docker.io/"];

/// Docker Hub repositories and the app each image contains.
const REPOSITORIES: &[(&str, AppKind)] = &[
    (
        "istio/examples-bookinfo-productpage-v1",
        AppKind::BookinfoProductpage,
    ),
    (
        "istio/examples-bookinfo-details-v1",
        AppKind::BookinfoDetails,
    ),
    (
        "istio/examples-bookinfo-ratings-v1",
        AppKind::BookinfoRatings,
    ),
    (
        "istio/examples-bookinfo-reviews-v1",
        AppKind::BookinfoReviews { version: 1 },
    ),
    (
        "istio/examples-bookinfo-reviews-v2",
        AppKind::BookinfoReviews { version: 2 },
    ),
    (
        "istio/examples-bookinfo-reviews-v3",
        AppKind::BookinfoReviews { version: 3 },
    ),
    (
        "mccutchen/go-httpbin",
        AppKind::Httpbin {
            flavor: HttpbinFlavor::Go,
        },
    ),
    (
        "kong/httpbin",
        AppKind::Httpbin {
            flavor: HttpbinFlavor::Python,
        },
    ),
    (
        "kennethreitz/httpbin",
        AppKind::Httpbin {
            flavor: HttpbinFlavor::Python,
        },
    ),
    ("istio/tcp-echo-server", AppKind::TcpEcho),
    ("curlimages/curl", AppKind::Sleep),
    ("governmentpaas/curl-ssl", AppKind::Sleep),
    ("tutum/curl", AppKind::Sleep),
];

impl AppKind {
    /// Maps a container image reference to a built-in app, or None for an unknown image.
    ///
    /// The reference may carry any tag and digest, and the Docker Hub registry name
    /// (`docker.io/`) or none. Images from other registries return `None`, because a
    /// repository of the same name elsewhere may contain something else.
    pub fn from_image(image: &str) -> Option<AppKind> {
        let repository = docker_hub_repository(image)?;
        REPOSITORIES
            .iter()
            .find(|(name, _)| *name == repository)
            .map(|(_, kind)| kind.clone())
    }

    /// Returns the ports the app listens on when the container declares none, which are the
    /// ports the images listen on: 9080 for bookinfo, 8080 for go-httpbin, 80
    /// for the Python httpbin, 9000 for tcp-echo, and none for sleep.
    pub fn default_ports(&self) -> Vec<u16> {
        match self {
            Self::BookinfoProductpage
            | Self::BookinfoDetails
            | Self::BookinfoReviews { .. }
            | Self::BookinfoRatings => vec![9080],
            Self::Httpbin {
                flavor: HttpbinFlavor::Go,
            } => vec![8080],
            Self::Httpbin {
                flavor: HttpbinFlavor::Python,
            } => vec![80],
            Self::TcpEcho => vec![9000],
            Self::Sleep => Vec::new(),
        }
    }
}

/// Returns the repository path of a Docker Hub image reference (`istio/tcp-echo-server` for
/// `docker.io/istio/tcp-echo-server:1.3`), or `None` for another registry or an empty tag or
/// digest.
fn docker_hub_repository(image: &str) -> Option<&str> {
    let name = match image.split_once('@') {
        Some((_, "")) => return None,
        Some((name, _digest)) => name,
        None => image,
    };
    // A tag follows the last ':' unless a '/' comes after it, in which case the ':' separates
    // a registry host from its port.
    let name = match name.rsplit_once(':') {
        Some((_, "")) => return None,
        Some((repository, tag)) if !tag.contains('/') => repository,
        _ => name,
    };
    let repository = DOCKER_HUB_REGISTRIES
        .iter()
        .find_map(|registry| name.strip_prefix(registry))
        .unwrap_or(name);
    // Any other first component with a '.' or ':', or `localhost`, names another registry.
    let first = repository.split('/').next()?;
    let names_registry = repository.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    (!names_registry && !repository.is_empty()).then_some(repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_HTTPBIN: AppKind = AppKind::Httpbin {
        flavor: HttpbinFlavor::Go,
    };
    const PYTHON_HTTPBIN: AppKind = AppKind::Httpbin {
        flavor: HttpbinFlavor::Python,
    };

    #[test]
    fn from_image_maps_known_images() {
        let cases: &[(&str, Option<AppKind>)] = &[
            (
                "docker.io/istio/examples-bookinfo-productpage-v1:1.20.3",
                Some(AppKind::BookinfoProductpage),
            ),
            (
                "istio/examples-bookinfo-details-v1:1.20.3",
                Some(AppKind::BookinfoDetails),
            ),
            (
                "istio/examples-bookinfo-ratings-v1",
                Some(AppKind::BookinfoRatings),
            ),
            (
                "docker.io/istio/examples-bookinfo-reviews-v1:1.18.0",
                Some(AppKind::BookinfoReviews { version: 1 }),
            ),
            (
                "istio/examples-bookinfo-reviews-v2:1.20.3",
                Some(AppKind::BookinfoReviews { version: 2 }),
            ),
            (
                "index.docker.io/istio/examples-bookinfo-reviews-v3:latest",
                Some(AppKind::BookinfoReviews { version: 3 }),
            ),
            ("docker.io/mccutchen/go-httpbin:v2.15.0", Some(GO_HTTPBIN)),
            ("mccutchen/go-httpbin", Some(GO_HTTPBIN)),
            ("kong/httpbin:0.1.0", Some(PYTHON_HTTPBIN)),
            ("docker.io/kennethreitz/httpbin", Some(PYTHON_HTTPBIN)),
            (
                "docker.io/istio/tcp-echo-server:1.3",
                Some(AppKind::TcpEcho),
            ),
            (
                "istio/tcp-echo-server@sha256:0123456789abcdef",
                Some(AppKind::TcpEcho),
            ),
            (
                "istio/tcp-echo-server:1.3@sha256:0123456789abcdef",
                Some(AppKind::TcpEcho),
            ),
            ("curlimages/curl:8.16.0", Some(AppKind::Sleep)),
            ("docker.io/curlimages/curl", Some(AppKind::Sleep)),
            ("governmentpaas/curl-ssl", Some(AppKind::Sleep)),
            ("tutum/curl:latest", Some(AppKind::Sleep)),
        ];
        for (image, expected) in cases {
            assert_eq!(&AppKind::from_image(image), expected, "image {image}");
        }
    }

    #[test]
    fn from_image_rejects_unknown_images() {
        let images = [
            "",
            "nginx",
            "docker.io/library/nginx:1.27",
            // The database-backed ratings needs MongoDB or MySQL, which the mesh does not run.
            "istio/examples-bookinfo-ratings-v2:1.20.3",
            "istio/examples-bookinfo-mongodb",
            // Other registries may contain different images under the same repository name.
            "gcr.io/istio-release/examples-bookinfo-details-v1:1.20.3",
            "quay.io/curlimages/curl",
            "localhost:5000/istio/tcp-echo-server:1.3",
            "localhost/mccutchen/go-httpbin",
            // An empty tag or digest is not a valid reference.
            "curlimages/curl:",
            "curlimages/curl@",
            // Prefixes and suffixes of known names are other repositories.
            "istio/examples-bookinfo-details",
            "mccutchen/go-httpbin-extra",
        ];
        for image in images {
            assert_eq!(AppKind::from_image(image), None, "image {image:?}");
        }
    }

    #[test]
    fn default_ports_per_app() {
        let cases = [
            (AppKind::BookinfoProductpage, vec![9080]),
            (AppKind::BookinfoDetails, vec![9080]),
            (AppKind::BookinfoReviews { version: 2 }, vec![9080]),
            (AppKind::BookinfoRatings, vec![9080]),
            (GO_HTTPBIN, vec![8080]),
            (PYTHON_HTTPBIN, vec![80]),
            (AppKind::TcpEcho, vec![9000]),
            (AppKind::Sleep, vec![]),
        ];
        for (kind, expected) in cases {
            assert_eq!(kind.default_ports(), expected, "default ports of {kind}");
        }
    }
}
