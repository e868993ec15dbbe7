//! The bookinfo reviews service: two reviews of the book, with star ratings from the ratings
//! service in versions 2 (black stars) and 3 (red stars).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;
use tracing::warn;

use super::{
    JSON, SERVICE_PORT, StatusBody, TRACE_HEADERS, backend_host, copy_headers, json_response,
    method_not_allowed, not_found,
};
use crate::apps::http_util::{self, HttpResponse, error_chain, http_handler, is_get_or_head};
use crate::apps::python_json::OrderedJson;
use crate::apps::running::ConnectionHandler;
use crate::apps::{AppContext, PodNetwork};

/// Headers reviews copies to its ratings request besides [`TRACE_HEADERS`].
const USER_HEADERS: &[&str] = &["end-user", "user-agent"];

/// Ratings request timeout of the black-star build (version 2).
const BLACK_STARS_TIMEOUT: Duration = Duration::from_secs(10);
/// Ratings request timeout of every other star color (version 3 is red).
const OTHER_STARS_TIMEOUT: Duration = Duration::from_millis(2500);

/// The error a review carries in place of stars when the ratings request failed.
pub(super) const RATINGS_UNAVAILABLE: &str = "Ratings service is currently unavailable";

/// Text of the two reviews, by reviewer.
const REVIEWS: [(&str, &str); 2] = [
    (
        "Reviewer1",
        "A delightful farce: two pairs of twins and a day of mistaken identities kept me laughing.",
    ),
    (
        "Reviewer2",
        "Great fun on stage, though it has less depth than Shakespeare's later comedies.",
    ),
];

struct Reviews {
    ratings_enabled: bool,
    star_color: String,
    ratings_host: String,
    pod_name: String,
    cluster_name: String,
    network: Arc<dyn PodNetwork>,
}

/// Builds the reviews service of `version` (1, 2 or 3).
///
/// The container environment can override what the image sets: `ENABLE_RATINGS` (`true` in
/// versions 2 and 3), `STAR_COLOR` (`black`, or `red` in version 3), `RATINGS_HOSTNAME`,
/// `SERVICES_DOMAIN`, `HOSTNAME` (the pod name) and `CLUSTER_NAME`.
///
/// # Errors
///
/// Returns [`io::ErrorKind::InvalidInput`] for a version other than 1, 2 or 3.
pub(in crate::apps) fn handler(version: u8, context: &AppContext) -> io::Result<ConnectionHandler> {
    if !(1..=3).contains(&version) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bookinfo reviews has versions 1, 2 and 3, not {version}"),
        ));
    }
    let env = &context.env;
    let ratings_enabled = env
        .get("ENABLE_RATINGS")
        .map_or(version >= 2, |value| value.eq_ignore_ascii_case("true"));
    let default_color = if version == 3 { "red" } else { "black" };
    let reviews = Arc::new(Reviews {
        ratings_enabled,
        star_color: env
            .get("STAR_COLOR")
            .cloned()
            .unwrap_or_else(|| default_color.to_owned()),
        ratings_host: backend_host(env, "RATINGS_HOSTNAME", "ratings"),
        pod_name: env
            .get("HOSTNAME")
            .cloned()
            .unwrap_or_else(|| context.pod_name.clone()),
        // The Java service prints an unset variable as "null", and productpage hides that.
        cluster_name: env
            .get("CLUSTER_NAME")
            .cloned()
            .unwrap_or_else(|| "null".to_owned()),
        network: Arc::clone(&context.network),
    });
    Ok(http_handler(move |request: Request<Incoming>, _peer| {
        let reviews = Arc::clone(&reviews);
        async move { reviews.respond(request).await }
    }))
}

#[derive(Serialize)]
struct ReviewsBody<'a> {
    id: String,
    podname: &'a str,
    clustername: &'a str,
    reviews: Vec<Review<'a>>,
}

#[derive(Serialize)]
struct Review<'a> {
    reviewer: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rating: Option<Rating<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Rating<'a> {
    Stars { stars: i64, color: &'a str },
    Error { error: &'a str },
}

impl Reviews {
    async fn respond(&self, request: Request<Incoming>) -> HttpResponse {
        let path = request.uri().path();
        let is_route = path == "/health" || path.starts_with("/reviews/");
        if !is_route {
            return not_found();
        }
        if !is_get_or_head(request.method()) {
            return method_not_allowed();
        }
        if path == "/health" {
            return json_response(
                StatusCode::OK,
                &StatusBody {
                    status: "Reviews is healthy",
                },
            );
        }
        // The id is a Java int path parameter, so anything else matches no route.
        let Some(product_id) = path
            .strip_prefix("/reviews/")
            .and_then(|id| id.parse::<i32>().ok())
        else {
            return not_found();
        };
        let stars = if self.ratings_enabled {
            self.fetch_stars(product_id, request.headers()).await
        } else {
            [None, None]
        };
        json_response(StatusCode::OK, &self.body(product_id, stars))
    }

    fn body(&self, product_id: i32, stars: [Option<i64>; 2]) -> ReviewsBody<'_> {
        let reviews = REVIEWS
            .iter()
            .zip(stars)
            .map(|((reviewer, text), stars)| Review {
                reviewer,
                text,
                rating: self.ratings_enabled.then(|| match stars {
                    Some(stars) => Rating::Stars {
                        stars,
                        color: &self.star_color,
                    },
                    None => Rating::Error {
                        error: RATINGS_UNAVAILABLE,
                    },
                }),
            })
            .collect();
        ReviewsBody {
            id: product_id.to_string(),
            podname: &self.pod_name,
            clustername: &self.cluster_name,
            reviews,
        }
    }

    /// Fetches both reviewers' stars, with `None` for a reviewer whose rating is unavailable.
    async fn fetch_stars(&self, product_id: i32, incoming: &HeaderMap) -> [Option<i64>; 2] {
        let mut headers = HeaderMap::new();
        copy_headers(incoming, TRACE_HEADERS, &mut headers);
        copy_headers(incoming, USER_HEADERS, &mut headers);
        headers.insert(ACCEPT, HeaderValue::from_static(JSON));
        let timeout = if self.star_color == "black" {
            BLACK_STARS_TIMEOUT
        } else {
            OTHER_STARS_TIMEOUT
        };
        let path = format!("/ratings/{product_id}");
        let host = &self.ratings_host;
        let response =
            http_util::get(&*self.network, host, SERVICE_PORT, &path, headers, timeout).await;
        let ratings = match response {
            Ok(response) if response.status == StatusCode::OK => {
                match OrderedJson::parse(&response.body) {
                    Ok(body) => body,
                    Err(error) => {
                        warn!(backend = %host, %error, "ratings returned invalid JSON");
                        return [None, None];
                    }
                }
            }
            Ok(response) => {
                warn!(backend = %host, status = response.status.as_u16(), "ratings request failed");
                return [None, None];
            }
            Err(error) => {
                warn!(backend = %host, error = error_chain(&error), "ratings request failed");
                return [None, None];
            }
        };
        let stars_of = |reviewer: &str| {
            ratings
                .get("ratings")
                .and_then(|ratings| ratings.get(reviewer))
                .and_then(OrderedJson::as_i64)
        };
        [stars_of(REVIEWS[0].0), stars_of(REVIEWS[1].0)]
    }
}
