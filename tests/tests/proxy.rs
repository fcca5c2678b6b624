//! The network-fault proxy the upload tests rely on: it forwards faithfully, keeps to a bandwidth
//! limit (never beyond it), cuts, stalls and refuses when told, and counts what it forwarded.

use std::{net::SocketAddr, time::Duration};

use lianxiao_tests::proxy::{self, Proxy};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// An upstream that echoes everything back.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn round_trip(stream: &mut TcpStream, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(payload).await?;
    let mut back = vec![0u8; payload.len()];
    stream.read_exact(&mut back).await?;
    Ok(back)
}

/// True when the connection is gone (reset or closed). A live one answers the ping at once
/// (the echo server); the bound only keeps a hang from hanging the test, and is generous so a
/// busy machine cannot make a cut link look alive.
async fn is_cut(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match tokio::time::timeout(Duration::from_secs(60), async {
        // A write may still succeed into the buffer; the read tells.
        let _ = stream.write_all(b"ping").await;
        stream.read(&mut buf).await
    })
    .await
    {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => false,
    }
}

#[tokio::test]
async fn forwards_both_ways_and_counts_the_bytes() {
    let proxy = Proxy::start(echo_server().await).await;
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(round_trip(&mut s, &payload).await.unwrap(), payload);
    assert_eq!(proxy.bytes_up(), payload.len() as u64);
    assert_eq!(proxy.bytes_down(), payload.len() as u64);
    assert_eq!(proxy.connections(), 1);
    proxy.reset_counters();
    assert_eq!(proxy.bytes_up(), 0);
    assert!(proxy.url().starts_with("http://127.0.0.1:"));
}

/// The shaper never sends faster than its limit. Only the upper bound is a test: how close to
/// the limit it comes depends on how busy the machine is (7.7 of 10 Mbit/s at a load of 5), so
/// that is measured by `cargo bench -p lianxiao-tests --bench proxy_shaping` (BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mbit_limit_is_never_exceeded() {
    let proxy = Proxy::start(proxy::sink().await).await;
    proxy.set_rate_up(Some(10_000_000));
    // 2.5 MB, about 2 s at the limit. Beyond the limit only by the bucket's burst (20 ms of
    // line) and one piece taken whole: under 2 % over this span.
    let rate = proxy::measure_up(&proxy, 2_500_000).await;
    assert!(rate <= 10_000_000.0 * 1.03, "{rate:.0} bit/s");
}

#[tokio::test]
async fn drop_all_cuts_open_connections_and_new_ones_work() {
    let proxy = Proxy::start(echo_server().await).await;
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut a, b"hello").await.unwrap();
    round_trip(&mut b, b"hello").await.unwrap();
    proxy.drop_all();
    assert!(is_cut(&mut a).await);
    assert!(is_cut(&mut b).await);
    assert_eq!(proxy.cuts(), 1);
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut c, b"again").await.unwrap(), b"again");
}

#[tokio::test]
async fn a_stalled_link_forwards_nothing_and_closes_nothing_until_it_resumes() {
    let proxy = Proxy::start(echo_server().await).await;
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut s, b"before").await.unwrap();
    proxy.set_stalled(true);
    s.write_all(b"during").await.unwrap();
    let mut buf = [0u8; 6];
    let waited = tokio::time::timeout(Duration::from_millis(300), s.read_exact(&mut buf)).await;
    assert!(waited.is_err(), "nothing may come back while stalled");
    assert_eq!(proxy.bytes_up(), 6);
    proxy.set_stalled(false);
    // Generous: a busy machine can be slow to forward, the test is only that it does.
    tokio::time::timeout(Duration::from_secs(60), s.read_exact(&mut buf))
        .await
        .expect("forwarded once resumed")
        .unwrap();
    assert_eq!(&buf, b"during");
}

#[tokio::test]
async fn a_refusing_proxy_resets_new_connections_until_it_accepts_again() {
    let proxy = Proxy::start(echo_server().await).await;
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut open, b"x").await.unwrap();
    proxy.set_refusing(true);
    // The listener still completes the handshake; the connection is reset at once.
    if let Ok(mut refused) = TcpStream::connect(proxy.addr()).await {
        assert!(round_trip(&mut refused, b"hello").await.is_err());
    }
    // Connections already open go on.
    round_trip(&mut open, b"still").await.unwrap();
    proxy.set_refusing(false);
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(round_trip(&mut s, b"back").await.unwrap(), b"back");
}

#[tokio::test]
async fn a_drop_schedule_cuts_again_and_again() {
    let proxy = Proxy::start(echo_server().await).await;
    proxy.set_drop_every(Some(Duration::from_millis(100)));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    round_trip(&mut s, b"x").await.unwrap();
    while proxy.cuts() < 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(is_cut(&mut s).await);
    while proxy.cuts() < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set_drop_every(None);
    let cuts = proxy.cuts();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(proxy.cuts(), cuts, "the schedule stopped");
    assert_eq!(round_trip(&mut s, b"calm").await.unwrap(), b"calm");
}
