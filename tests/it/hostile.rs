//! Slow and hostile clients on raw loopback sockets: half-sent headers, idle kept-alive
//! connections, trickled bodies, too many connections, huge strings echoed back, requests past
//! the deadline. Every wait is bounded.

use crate::common;

use std::time::{Duration, Instant};

use common::{Options, TestServer};
use embeddings::server::connections::ConnectionSettings;
use embeddings::service::Limits;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn quick_settings() -> ConnectionSettings {
    ConnectionSettings {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(600),
        max_connections: 64,
        shutdown_timeout: Duration::from_secs(5),
    }
}

async fn server(connections: ConnectionSettings, limits: Limits) -> TestServer {
    TestServer::tiny(Options {
        connections,
        limits,
        ..Options::default()
    })
    .await
}

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns what was read and
/// whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn half_sent_headers_are_closed_at_the_header_deadline() {
    let server = server(quick_settings(), Limits::default()).await;
    let started = Instant::now();
    let mut sockets = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(address(&server)).await.expect("connects");
        stream
            .write_all(b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
            .await
            .expect("writes");
        sockets.push(stream);
    }
    for stream in &mut sockets {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(5)).await;
        assert!(closed, "a half-sent header kept its connection open");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server still serves.
    let (status, _) = server.embed(json!({"model": "tiny", "input": "hello"})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    let server = server(quick_settings(), Limits::default()).await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connects");
    let body = json!({"model": "tiny", "input": "hello"}).to_string();
    let request = format!(
        "POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "the idle connection stayed open");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_secs(4),
        "closed after {waited:?}, not at the idle timeout"
    );
}

#[tokio::test]
async fn a_trickled_body_gets_408() {
    let limits = Limits {
        body_read_timeout: Duration::from_millis(300),
        body_min_bytes_per_second: 1000,
        ..Limits::default()
    };
    let server = server(ConnectionSettings::default(), limits).await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connects");
    stream
        .write_all(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{",
        )
        .await
        .expect("writes");
    let started = Instant::now();
    let trickle = async {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(800), trickle).await;
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_their_turn() {
    let settings = ConnectionSettings {
        max_connections: 2,
        idle_timeout: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        ..ConnectionSettings::default()
    };
    let server = server(settings, Limits::default()).await;
    let first = TcpStream::connect(address(&server)).await.expect("connects");
    let second = TcpStream::connect(address(&server)).await.expect("connects");
    let third = tokio::time::timeout(
        Duration::from_millis(500),
        server.embed(json!({"model": "tiny", "input": "hello"})),
    )
    .await;
    assert!(third.is_err(), "a third connection was served beyond the cap of 2");
    drop(first);
    drop(second);
    let served = tokio::time::timeout(
        Duration::from_secs(5),
        server.embed(json!({"model": "tiny", "input": "hello"})),
    )
    .await
    .expect("served once a slot is free");
    assert_eq!(served.0, 200);
}

#[tokio::test]
async fn a_megabyte_model_name_gets_a_short_error() {
    let server = server(ConnectionSettings::default(), Limits::default()).await;
    let huge = "m".repeat(1_000_000);
    for (path, body) in [
        ("/v1/embeddings", json!({"model": huge, "input": "x"})),
        ("/api/embed", json!({"model": huge, "input": "x"})),
        ("/embed", json!({"model": huge, "inputs": "x"})),
        (
            "/v1/embeddings",
            json!({"model": "tiny", "input": "x", "prompt_name": huge}),
        ),
        (
            "/v1/embeddings",
            json!({"model": "tiny", "input": "x", "dimensions": huge}),
        ),
    ] {
        let response = server
            .client
            .post(server.url(path))
            .json(&body)
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert!((400..500).contains(&status), "{path}: {status}");
        assert!(text.len() < 2048, "{path}: a {}-byte error body", text.len());
    }
    let long_path = format!("/{}", "p".repeat(20_000));
    let (status, body): (u16, Value) = server.get(&long_path).await;
    assert_eq!(status, 404);
    assert!(body.to_string().len() < 2048);
}

#[tokio::test]
async fn a_request_past_the_deadline_is_cancelled() {
    let limits = Limits {
        request_timeout: Duration::from_millis(1),
        ..Limits::default()
    };
    let server = server(ConnectionSettings::default(), limits).await;
    // Distinct texts: repeats inside one request are computed once.
    let texts: Vec<String> = (0..2000)
        .map(|i| format!("the quick brown fox jumps over the lazy dog {i}"))
        .collect();
    let (status, body) = server.embed(json!({"model": "tiny", "input": texts})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "timeout");
}

#[tokio::test]
async fn a_megabytes_long_text_is_embedded_from_its_beginning_without_reading_it_all() {
    let server = server(ConnectionSettings::default(), Limits::default()).await;
    let huge = "the quick brown fox   jumps over\tthe lazy dog ".repeat(150_000);
    let started = Instant::now();
    let (status, long) = server.embed(json!({"model": "tiny", "input": huge})).await;
    assert_eq!(status, 200, "{long}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let beginning: String = huge.chars().take(2000).collect();
    let (_, short) = server.embed(json!({"model": "tiny", "input": beginning})).await;
    assert_eq!(long["data"][0]["embedding"], short["data"][0]["embedding"]);
    assert_eq!(long["usage"], short["usage"]);
    // Too many inputs for the token budget are refused by counting, before tokenizing.
    let limits = Limits {
        max_request_tokens: 100,
        ..Limits::default()
    };
    let small = self::server(ConnectionSettings::default(), limits).await;
    let (status, body) = small.embed(json!({"model": "tiny", "input": vec!["x"; 60]})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "too_many_tokens");
}
