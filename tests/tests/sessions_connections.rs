//! Connections that hold the server: a client trickling its request headers, or sitting idle on
//! a kept-alive connection, is cut off after the header timeout; one account opens at most its
//! share of realtime sockets.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use futures::StreamExt;
use lianxiao_tests::{Backend, TestServer, api::Api, logins::*};
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

fn server_with(env: &[(&str, &str)]) -> TestServer {
    let server = TestServer::start_with_env(&Backend::from_env(), env);
    server.import_demo_roster();
    server
}

/// How long the server may take to cut a connection off after its 2 s header timeout, on a
/// loaded machine; only a bound: the tests end as soon as it happens.
const GENEROUS: Duration = Duration::from_secs(60);

/// Whether the server closed the connection: a read gives end of file (or a reset), or a write
/// fails.
fn is_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => true,
        // Hyper may answer before closing (408); then the close follows.
        Ok(_) => is_closed(stream),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(_) => true,
    }
}

#[test]
fn a_client_trickling_its_headers_is_cut_off() {
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[("LIANXIAO_HEADER_TIMEOUT_SECS", "2")],
    );
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let start = Instant::now();
    let mut closed = false;
    let mut n = 0u32;
    while start.elapsed() < GENEROUS {
        // One header byte at a time, never finishing: each byte alone is well within any
        // per-read timeout, so only a deadline on the whole head ends this.
        let byte = [b'a' + (n % 26) as u8];
        n += 1;
        if stream.write_all(&byte).is_err() || is_closed(&mut stream) {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the server still held a trickling client after {GENEROUS:?}"
    );
}

#[test]
fn an_idle_connection_is_closed() {
    let server = TestServer::start_with_env(
        &Backend::from_env(),
        &[("LIANXIAO_HEADER_TIMEOUT_SECS", "2")],
    );
    // A request answered on a kept-alive connection, then nothing.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(GENEROUS)).unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert!(
        closed_within(&mut stream, GENEROUS),
        "the idle connection was never closed"
    );
    // And one that never sends anything.
    let mut silent = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    assert!(
        closed_within(&mut silent, GENEROUS),
        "a silent connection is closed"
    );
}

/// Reads (and drops) whatever comes until the server closes the connection or `limit` passes.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
    false
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn try_connect(ws_base: &str, api: &Api) -> Result<Socket, tungstenite::Error> {
    let mut req = format!("{ws_base}/v1/events")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", api.access).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    // The hello: the socket is really open.
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => return Ok(ws),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e),
            None => return Err(tungstenite::Error::ConnectionClosed),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_opens_at_most_its_share_of_realtime_sockets() {
    let server = server_with(&[("LIANXIAO_SOCKETS_PER_ACCOUNT", "3")]);
    let base = server.url();
    let parent = Api::login(&base, PARENT_ONE_CHILD).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(try_connect(&server.ws_url(), &parent).await.unwrap());
    }
    match try_connect(&server.ws_url(), &parent).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], "rate_limited");
        }
        other => panic!("a fourth socket was not refused: {:?}", other.map(|_| ())),
    }
    // Other accounts are not held back.
    let other = Api::login(&base, PARENT_MAIN_2).await;
    try_connect(&server.ws_url(), &other).await.unwrap();

    // A closed socket frees its place (once the server has seen it close).
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    let start = Instant::now();
    loop {
        match try_connect(&server.ws_url(), &parent).await {
            Ok(ws) => {
                open.push(ws);
                break;
            }
            Err(tungstenite::Error::Http(r)) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                assert!(start.elapsed() < GENEROUS, "the place was never freed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}
