use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::productpage::{DETAILS_UNAVAILABLE, REVIEWS_UNAVAILABLE};
use super::reviews::RATINGS_UNAVAILABLE;
use super::*;
use crate::apps::test_support::{StaticNetwork, bounded, context, context_with_network, http_get};
use crate::apps::{AppKind, RunningApp, start};

fn ip(third: u8, fourth: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 77, third, fourth))
}

fn service_address(ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, SERVICE_PORT)
}

async fn start_app(kind: AppKind, ip: IpAddr, network: &Arc<StaticNetwork>) -> RunningApp {
    let network: Arc<dyn crate::apps::PodNetwork> = network.clone();
    let context = context_with_network(&format!("{kind}-pod"), ip, &[], network);
    bounded(start(kind, context)).await.expect("the app starts")
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[tokio::test]
async fn productpage_renders_details_and_stars() {
    let network = Arc::new(StaticNetwork::default());
    let (productpage_ip, details_ip, reviews_ip, ratings_ip) =
        (ip(10, 1), ip(10, 2), ip(10, 3), ip(10, 4));
    network.insert("details", details_ip);
    network.insert("reviews", reviews_ip);
    network.insert("ratings", ratings_ip);
    let ratings = start_app(AppKind::BookinfoRatings, ratings_ip, &network).await;
    let details = start_app(AppKind::BookinfoDetails, details_ip, &network).await;
    let reviews = start_app(
        AppKind::BookinfoReviews { version: 2 },
        reviews_ip,
        &network,
    )
    .await;
    let productpage = start_app(AppKind::BookinfoProductpage, productpage_ip, &network).await;
    let page_address = service_address(productpage_ip);

    let page = bounded(http_get(page_address, "/productpage", &[])).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<title>Simple Bookstore App</title>"),
        "title in {}",
        page.body
    );
    assert!(
        page.body.contains("BookInfo Sample"),
        "navigation in {}",
        page.body
    );
    assert!(
        page.body.contains("Book Details"),
        "details heading in {}",
        page.body
    );
    assert!(
        page.body.contains("PublisherA"),
        "publisher in {}",
        page.body
    );
    assert!(
        page.body.contains("123-1234567890"),
        "ISBN-13 in {}",
        page.body
    );
    // Reviewer1 has 5 stars and Reviewer2 has 4, in black from reviews v2.
    assert_eq!(
        count(&page.body, "glyphicon glyphicon-star\""),
        9,
        "full stars in {}",
        page.body
    );
    assert_eq!(
        count(&page.body, "glyphicon glyphicon-star-empty\""),
        1,
        "empty stars in {}",
        page.body
    );
    assert_eq!(
        count(&page.body, "<font color=\"black\">"),
        2,
        "star color in {}",
        page.body
    );
    assert!(
        page.body.contains("bookinfo-reviews-v2-pod"),
        "reviews pod name in {}",
        page.body
    );

    bounded(details.stop()).await;
    let page = bounded(http_get(page_address, "/productpage", &[])).await;
    assert_eq!(page.status, StatusCode::OK, "status without details");
    assert!(
        page.body.contains("Error fetching product details"),
        "details error in {}",
        page.body
    );
    assert!(
        page.body.contains(DETAILS_UNAVAILABLE),
        "details message in {}",
        page.body
    );
    assert!(
        !page.body.contains("PublisherA"),
        "details still shown in {}",
        page.body
    );
    assert!(
        page.body.contains("Book Reviews"),
        "reviews still shown in {}",
        page.body
    );

    bounded(productpage.stop()).await;
    bounded(reviews.stop()).await;
    bounded(ratings.stop()).await;
}

#[tokio::test]
async fn productpage_without_reviews_shows_error() {
    let network = Arc::new(StaticNetwork::default());
    let (productpage_ip, details_ip) = (ip(11, 1), ip(11, 2));
    network.insert("details", details_ip);
    // `reviews` resolves to an address where nothing listens, so each attempt is refused.
    network.insert("reviews", ip(11, 3));
    let details = start_app(AppKind::BookinfoDetails, details_ip, &network).await;
    let productpage = start_app(AppKind::BookinfoProductpage, productpage_ip, &network).await;

    let page = bounded(http_get(
        service_address(productpage_ip),
        "/productpage",
        &[],
    ))
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Error fetching product reviews"),
        "reviews error in {}",
        page.body
    );
    assert!(
        page.body.contains(REVIEWS_UNAVAILABLE),
        "reviews message in {}",
        page.body
    );
    assert!(page.body.contains("PublisherA"), "details in {}", page.body);

    let api = bounded(http_get(
        service_address(productpage_ip),
        "/api/v1/products/0/reviews",
        &[],
    ))
    .await;
    assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        api.body,
        format!("{{\"error\": \"{REVIEWS_UNAVAILABLE}\"}}")
    );

    bounded(productpage.stop()).await;
    bounded(details.stop()).await;
}

#[tokio::test]
async fn reviews_v3_without_ratings_reports_unavailable() {
    let network = Arc::new(StaticNetwork::default());
    let (productpage_ip, details_ip, reviews_ip) = (ip(12, 1), ip(12, 2), ip(12, 3));
    network.insert("details", details_ip);
    network.insert("reviews", reviews_ip);
    network.insert("ratings", ip(12, 4));
    let details = start_app(AppKind::BookinfoDetails, details_ip, &network).await;
    let reviews = start_app(
        AppKind::BookinfoReviews { version: 3 },
        reviews_ip,
        &network,
    )
    .await;
    let productpage = start_app(AppKind::BookinfoProductpage, productpage_ip, &network).await;

    let response = bounded(http_get(service_address(reviews_ip), "/reviews/0", &[])).await;
    assert_eq!(response.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    for review in body["reviews"].as_array().unwrap() {
        assert_eq!(
            review["rating"]["error"], RATINGS_UNAVAILABLE,
            "rating of {review}"
        );
    }

    let page = bounded(http_get(
        service_address(productpage_ip),
        "/productpage",
        &[],
    ))
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        count(&page.body, RATINGS_UNAVAILABLE),
        2,
        "rating errors in {}",
        page.body
    );
    assert_eq!(
        count(&page.body, "glyphicon-star"),
        0,
        "stars in {}",
        page.body
    );

    bounded(productpage.stop()).await;
    bounded(reviews.stop()).await;
    bounded(details.stop()).await;
}

#[tokio::test]
async fn reviews_v3_has_red_stars() {
    let network = Arc::new(StaticNetwork::default());
    let (reviews_ip, ratings_ip) = (ip(13, 1), ip(13, 2));
    network.insert("ratings", ratings_ip);
    let ratings = start_app(AppKind::BookinfoRatings, ratings_ip, &network).await;
    let reviews = start_app(
        AppKind::BookinfoReviews { version: 3 },
        reviews_ip,
        &network,
    )
    .await;

    let response = bounded(http_get(service_address(reviews_ip), "/reviews/0", &[])).await;
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["id"], "0");
    assert_eq!(body["podname"], "bookinfo-reviews-v3-pod");
    assert_eq!(body["reviews"][0]["reviewer"], "Reviewer1");
    assert_eq!(
        body["reviews"][0]["rating"],
        serde_json::json!({"stars": 5, "color": "red"})
    );
    assert_eq!(
        body["reviews"][1]["rating"],
        serde_json::json!({"stars": 4, "color": "red"})
    );

    bounded(reviews.stop()).await;
    bounded(ratings.stop()).await;
}

#[tokio::test]
async fn reviews_v1_calls_no_ratings() {
    let reviews_ip = ip(14, 1);
    let reviews = bounded(start(
        AppKind::BookinfoReviews { version: 1 },
        context("reviews-v1-0", reviews_ip, &[]),
    ))
    .await
    .unwrap();
    let response = bounded(http_get(service_address(reviews_ip), "/reviews/0", &[])).await;
    assert_eq!(response.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    let reviews_list = body["reviews"].as_array().unwrap();
    assert_eq!(reviews_list.len(), 2);
    for review in reviews_list {
        assert!(review.get("rating").is_none(), "rating in {review}");
    }
    let health = bounded(http_get(service_address(reviews_ip), "/health", &[])).await;
    assert_eq!(health.body, r#"{"status":"Reviews is healthy"}"#);
    let invalid = bounded(http_get(service_address(reviews_ip), "/reviews/abc", &[])).await;
    assert_eq!(invalid.status, StatusCode::NOT_FOUND);
    bounded(reviews.stop()).await;
}

#[tokio::test]
async fn ratings_and_details_return_their_json() {
    let (details_ip, ratings_ip) = (ip(15, 1), ip(15, 2));
    let details = bounded(start(
        AppKind::BookinfoDetails,
        context("details-0", details_ip, &[]),
    ))
    .await
    .unwrap();
    let ratings = bounded(start(
        AppKind::BookinfoRatings,
        context("ratings-0", ratings_ip, &[]),
    ))
    .await
    .unwrap();
    let cases = [
        (
            details_ip,
            "/details/0",
            StatusCode::OK,
            r#"{"id":0,"author":"William Shakespeare","year":1595,"type":"paperback","pages":200,"publisher":"PublisherA","language":"English","ISBN-10":"1234567890","ISBN-13":"123-1234567890"}"#,
        ),
        (
            details_ip,
            "/details/abc",
            StatusCode::BAD_REQUEST,
            r#"{"error":"please provide numeric product id"}"#,
        ),
        (
            details_ip,
            "/health",
            StatusCode::OK,
            r#"{"status":"Details is healthy"}"#,
        ),
        (
            ratings_ip,
            "/ratings/1",
            StatusCode::OK,
            r#"{"id":1,"ratings":{"Reviewer1":5,"Reviewer2":4}}"#,
        ),
        (
            ratings_ip,
            "/ratings/x",
            StatusCode::BAD_REQUEST,
            r#"{"error":"please provide numeric product ID"}"#,
        ),
        (
            ratings_ip,
            "/health",
            StatusCode::OK,
            r#"{"status":"Ratings is healthy"}"#,
        ),
    ];
    for (ip, path, status, body) in cases {
        let response = bounded(http_get(service_address(ip), path, &[])).await;
        assert_eq!(response.status, status, "status of {path}");
        assert_eq!(response.body, body, "body of {path}");
        let content_type = response.headers.get("content-type").unwrap();
        assert_eq!(content_type, "application/json", "content type of {path}");
    }
    bounded(details.stop()).await;
    bounded(ratings.stop()).await;
}

#[tokio::test]
async fn productpage_api_and_health() {
    let network = Arc::new(StaticNetwork::default());
    let (productpage_ip, details_ip) = (ip(16, 1), ip(16, 2));
    network.insert("details", details_ip);
    let details = start_app(AppKind::BookinfoDetails, details_ip, &network).await;
    let productpage = start_app(AppKind::BookinfoProductpage, productpage_ip, &network).await;
    let address = service_address(productpage_ip);

    let health = bounded(http_get(address, "/health", &[])).await;
    assert_eq!(health.body, "Product page is healthy");

    let product = bounded(http_get(address, "/api/v1/products/0", &[])).await;
    assert_eq!(product.status, StatusCode::OK);
    assert_eq!(
        product.body,
        r#"{"id": 0, "author": "William Shakespeare", "year": 1595, "type": "paperback", "pages": 200, "publisher": "PublisherA", "language": "English", "ISBN-10": "1234567890", "ISBN-13": "123-1234567890"}"#
    );

    let invalid = bounded(http_get(address, "/api/v1/products/abc", &[])).await;
    assert_eq!(
        invalid.status,
        StatusCode::BAD_REQUEST,
        "details status passed through"
    );
    assert_eq!(
        invalid.body,
        format!("{{\"error\": \"{DETAILS_UNAVAILABLE}\"}}")
    );

    let products = bounded(http_get(address, "/api/v1/products", &[])).await;
    let products: serde_json::Value = serde_json::from_str(&products.body).unwrap();
    assert_eq!(products[0]["id"], 0);
    assert_eq!(products[0]["title"], "The Comedy of Errors");

    let missing = bounded(http_get(address, "/missing", &[])).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    bounded(productpage.stop()).await;
    bounded(details.stop()).await;
}

/// Accepts one connection, replies with an empty JSON object, and returns the request head it
/// read, lowercased.
async fn record_one_request(listener: TcpListener) -> String {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.unwrap();
        assert_ne!(
            read, 0,
            "the client closed before the end of the request head"
        );
        head.extend_from_slice(&buffer[..read]);
    }
    let response = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
    stream.write_all(response.as_bytes()).await.unwrap();
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[tokio::test]
async fn productpage_forwards_tracing_headers_and_user() {
    let network = Arc::new(StaticNetwork::default());
    let (productpage_ip, details_ip) = (ip(17, 1), ip(17, 2));
    network.insert("details.bookinfo.svc.cluster.local", details_ip);
    let details = TcpListener::bind(service_address(details_ip))
        .await
        .unwrap();
    let recorded = tokio::spawn(record_one_request(details));

    let mut context = context_with_network("productpage-0", productpage_ip, &[], network);
    context.env = BTreeMap::from([(
        "SERVICES_DOMAIN".to_owned(),
        "bookinfo.svc.cluster.local".to_owned(),
    )]);
    let productpage = bounded(start(AppKind::BookinfoProductpage, context))
        .await
        .unwrap();

    let headers = [
        ("x-request-id", "request-7"),
        ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
        ("x-b3-spanid", "e457b5a2e4d86bd1"),
        (
            "traceparent",
            "00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01",
        ),
        ("cookie", "theme=dark; user=jason"),
        ("x-not-forwarded", "1"),
    ];
    let product = bounded(http_get(
        service_address(productpage_ip),
        "/api/v1/products/0",
        &headers,
    ))
    .await;
    assert_eq!(product.status, StatusCode::OK, "body {}", product.body);

    let head = bounded(recorded).await.unwrap();
    for expected in [
        "get /details/0 http/1.1\r\n",
        "host: details.bookinfo.svc.cluster.local:9080\r\n",
        "x-request-id: request-7\r\n",
        "x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7\r\n",
        "x-b3-spanid: e457b5a2e4d86bd1\r\n",
        "traceparent: 00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01\r\n",
        "cookie: user=jason\r\n",
    ] {
        assert!(
            head.contains(expected),
            "{expected:?} in request head {head:?}"
        );
    }
    assert!(
        !head.contains("x-not-forwarded"),
        "unlisted header in {head:?}"
    );
    assert!(!head.contains("theme=dark"), "other cookies in {head:?}");
    bounded(productpage.stop()).await;
}

#[test]
fn backend_host_follows_environment() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "details"),
        (
            &[("SERVICES_DOMAIN", "bookinfo.svc.cluster.local")],
            "details.bookinfo.svc.cluster.local",
        ),
        (&[("DETAILS_HOSTNAME", "details-v2")], "details-v2"),
        (
            &[("DETAILS_HOSTNAME", "info"), ("SERVICES_DOMAIN", "shop")],
            "info.shop",
        ),
    ];
    for (variables, expected) in cases {
        let env = variables
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        assert_eq!(
            backend_host(&env, "DETAILS_HOSTNAME", "details"),
            *expected,
            "env {variables:?}"
        );
    }
}

#[test]
fn parse_int_prefix_reads_leading_digits() {
    let cases = [
        ("1", Some(1)),
        (" 12abc", Some(12)),
        ("-3", Some(-3)),
        ("1?x=2", Some(1)),
        ("abc", None),
        ("", None),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_int_prefix(text), expected, "parseInt({text:?})");
    }
}
