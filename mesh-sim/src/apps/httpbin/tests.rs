use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::echo::header_name;
use super::*;
use crate::apps::test_support::{bounded, context, http_get, http_request};
use crate::apps::{AppKind, RunningApp, start};

const XFCC: &str = "By=spiffe://cluster.local/ns/default/sa/httpbin;Hash=4d2b;Subject=\"\";URI=spiffe://cluster.local/ns/default/sa/sleep";

/// Starts httpbin on 127.77.`third`.1. The Python flavor gets port 8080 because its default,
/// 80, needs privileges.
async fn start_httpbin(flavor: HttpbinFlavor, third: u8) -> (RunningApp, SocketAddr) {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 77, third, 1));
    let ports: &[u16] = match flavor {
        HttpbinFlavor::Go => &[],
        HttpbinFlavor::Python => &[8080],
    };
    let app = bounded(start(
        AppKind::Httpbin { flavor },
        context("httpbin-0", ip, ports),
    ))
    .await
    .expect("httpbin starts");
    let address = app.listening()[0];
    (app, address)
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("invalid JSON {body:?}: {error}"))
}

#[tokio::test]
async fn go_headers_echo_client_certificate() {
    let (app, address) = start_httpbin(HttpbinFlavor::Go, 20).await;
    assert_eq!(address.port(), 8080, "go-httpbin default port");

    let response = bounded(http_get(
        address,
        "/headers",
        &[("x-forwarded-client-cert", XFCC), ("x-b3-sampled", "1")],
    ))
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.headers["content-type"],
        "application/json; charset=utf-8"
    );
    assert!(
        response.body.ends_with("}\n"),
        "final newline in {:?}",
        response.body
    );
    let headers = &parse(&response.body)["headers"];
    assert_eq!(headers["X-Forwarded-Client-Cert"], json!([XFCC]));
    assert_eq!(headers["X-B3-Sampled"], json!(["1"]));
    assert_eq!(headers["Host"], json!([address.to_string()]));
    bounded(app.stop()).await;
}

#[tokio::test]
async fn python_headers_are_strings_without_proxy_headers() {
    let (app, address) = start_httpbin(HttpbinFlavor::Python, 21).await;
    let request_headers = [
        ("x-forwarded-client-cert", XFCC),
        ("x-forwarded-for", "10.1.2.3"),
    ];

    let response = bounded(http_get(address, "/headers", &request_headers)).await;
    assert_eq!(response.headers["content-type"], "application/json");
    let headers = &parse(&response.body)["headers"];
    assert_eq!(headers["X-Forwarded-Client-Cert"], XFCC);
    assert_eq!(headers.get("X-Forwarded-For"), None, "proxy header shown");

    let response = bounded(http_get(address, "/headers?show_env=1", &request_headers)).await;
    assert_eq!(
        parse(&response.body)["headers"]["X-Forwarded-For"],
        "10.1.2.3"
    );
    bounded(app.stop()).await;
}

#[tokio::test]
async fn status_returns_requested_code() {
    let (app, address) = start_httpbin(HttpbinFlavor::Go, 22).await;
    let cases = [
        ("/status/418", StatusCode::IM_A_TEAPOT),
        ("/status/200", StatusCode::OK),
        ("/status/503,200", StatusCode::SERVICE_UNAVAILABLE),
        ("/status/404:0.5,200:0.5", StatusCode::NOT_FOUND),
        ("/status/abc", StatusCode::BAD_REQUEST),
        ("/status/600", StatusCode::BAD_REQUEST),
    ];
    for (path, expected) in cases {
        let response = bounded(http_get(address, path, &[])).await;
        assert_eq!(response.status, expected, "status of {path}");
    }
    let teapot = bounded(http_get(address, "/status/418", &[])).await;
    assert_eq!(teapot.body, "I'm a teapot!");
    let redirect = bounded(http_get(address, "/status/302", &[])).await;
    assert_eq!(redirect.headers["location"], "/redirect/1");
    bounded(app.stop()).await;
}

#[tokio::test]
async fn ip_honours_forwarded_for() {
    let (go, go_address) = start_httpbin(HttpbinFlavor::Go, 23).await;
    let (python, python_address) = start_httpbin(HttpbinFlavor::Python, 24).await;
    let forwarded = [("x-forwarded-for", "10.1.2.3, 10.9.9.9")];

    let response = bounded(http_get(go_address, "/ip", &forwarded)).await;
    assert_eq!(parse(&response.body), json!({"origin": "10.1.2.3"}));
    let response = bounded(http_get(python_address, "/ip", &forwarded)).await;
    assert_eq!(
        parse(&response.body),
        json!({"origin": "10.1.2.3, 10.9.9.9"})
    );

    let response = bounded(http_get(go_address, "/ip", &[])).await;
    let origin = parse(&response.body)["origin"].as_str().unwrap().to_owned();
    let origin: IpAddr = origin.parse().expect("origin is the peer address");
    assert!(origin.is_loopback(), "origin {origin}");

    bounded(go.stop()).await;
    bounded(python.stop()).await;
}

#[tokio::test]
async fn get_and_anything_describe_the_request() {
    let (app, address) = start_httpbin(HttpbinFlavor::Go, 25).await;

    let response = bounded(http_get(
        address,
        "/get?a=1&a=2&b=x+y",
        &[("user-agent", "curl/8.16.0")],
    ))
    .await;
    let body = parse(&response.body);
    assert_eq!(body["args"], json!({"a": ["1", "2"], "b": ["x y"]}));
    assert_eq!(body["method"], "GET");
    assert_eq!(body["url"], format!("http://{address}/get?a=1&a=2&b=x+y"));
    assert_eq!(body["headers"]["User-Agent"], json!(["curl/8.16.0"]));

    let json_body = r#"{"answer": 42}"#;
    let response = bounded(http_request(
        address,
        Method::POST,
        "/anything/path",
        &[("content-type", "application/json")],
        json_body,
    ))
    .await;
    assert_eq!(response.status, StatusCode::OK);
    let body = parse(&response.body);
    assert_eq!(body["method"], "POST");
    assert_eq!(body["data"], json_body);
    assert_eq!(body["json"], json!({"answer": 42}));

    let response = bounded(http_request(
        address,
        Method::PUT,
        "/anything",
        &[("content-type", "application/x-www-form-urlencoded")],
        "name=a+b&name=c",
    ))
    .await;
    assert_eq!(parse(&response.body)["form"], json!({"name": ["a b", "c"]}));

    let response = bounded(http_get(
        address,
        "/user-agent",
        &[("user-agent", "curl/8.16.0")],
    ))
    .await;
    assert_eq!(parse(&response.body), json!({"user-agent": "curl/8.16.0"}));

    let response = bounded(http_get(address, "/delay/0", &[])).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(parse(&response.body)["method"], "GET");

    let response = bounded(http_request(address, Method::POST, "/get", &[], "")).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);

    let response = bounded(http_get(address, "/missing", &[])).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(
        parse(&response.body),
        json!({"status_code": 404, "error": "Not Found"})
    );
    bounded(app.stop()).await;
}

#[tokio::test]
async fn python_get_args_are_strings_unless_repeated() {
    let (app, address) = start_httpbin(HttpbinFlavor::Python, 26).await;
    let response = bounded(http_get(address, "/get?a=1&a=2&b=3", &[])).await;
    let body = parse(&response.body);
    assert_eq!(body["args"], json!({"a": ["1", "2"], "b": "3"}));
    assert_eq!(body.get("method"), None, "method in Python /get");
    bounded(app.stop()).await;
}

#[test]
fn header_names_per_flavor() {
    let cases = [
        (
            "x-forwarded-client-cert",
            "X-Forwarded-Client-Cert",
            "X-Forwarded-Client-Cert",
        ),
        ("x-b3-traceid", "X-B3-Traceid", "X-B3-Traceid"),
        ("x-b3sampled", "X-B3sampled", "X-B3Sampled"),
        ("host", "Host", "Host"),
    ];
    for (name, go, python) in cases {
        assert_eq!(
            header_name(HttpbinFlavor::Go, name),
            go,
            "Go name of {name}"
        );
        assert_eq!(
            header_name(HttpbinFlavor::Python, name),
            python,
            "Python name of {name}"
        );
    }
}

#[test]
fn delay_limits_per_flavor() {
    let cases = [
        (HttpbinFlavor::Go, "1.5", Some(Duration::from_millis(1500))),
        (HttpbinFlavor::Go, "500ms", Some(Duration::from_millis(500))),
        (HttpbinFlavor::Go, "10", Some(Duration::from_secs(10))),
        (HttpbinFlavor::Go, "11", None),
        (HttpbinFlavor::Go, "-1", None),
        (HttpbinFlavor::Go, "soon", None),
        (HttpbinFlavor::Python, "2", Some(Duration::from_secs(2))),
        (HttpbinFlavor::Python, "30", Some(Duration::from_secs(10))),
        (HttpbinFlavor::Python, "-1", None),
        (HttpbinFlavor::Python, "500ms", None),
    ];
    for (flavor, value, expected) in cases {
        assert_eq!(
            delay_of(flavor, value),
            expected,
            "{flavor:?} delay {value:?}"
        );
    }
    let rejected = [
        (HttpbinFlavor::Go, "11", StatusCode::BAD_REQUEST),
        (
            HttpbinFlavor::Python,
            "x",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ];
    for (flavor, value, status) in rejected {
        let response = invalid_delay(flavor, value);
        assert_eq!(
            response.status(),
            status,
            "{flavor:?} status for delay {value:?}"
        );
    }
}

#[test]
fn routes_by_path() {
    let cases = [
        ("/", Some(Route::Index)),
        ("/anything/a/b", Some(Route::Anything)),
        ("/status/200,201", Some(Route::Status("200,201"))),
        ("/status/", None),
        ("/status/200/extra", None),
        ("/delay/3", Some(Route::Delay("3"))),
        ("/headers/", None),
        ("/post", Some(Route::MethodEcho("POST"))),
        ("/delete", Some(Route::MethodEcho("DELETE"))),
    ];
    for (path, expected) in cases {
        assert_eq!(route(path), expected, "route of {path}");
    }
}
