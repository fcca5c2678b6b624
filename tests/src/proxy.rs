//! A TCP proxy inside the test process that plays a bad network between the core and the
//! server (there is no netem here): a bandwidth limit per direction (token bucket), cutting
//! every open connection at once or on a schedule, stalling (nothing moves, nothing closes),
//! refusing new connections (the server looks down), and counters of the bytes forwarded.
//!
//! Cuts reset the connections (RST), as a dropped mobile link looks to the phone once its
//! stack notices; a stall is what it looks like before that.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
    task::JoinHandle,
};

/// Largest piece forwarded at once: small, so a limited link sends evenly.
const PIECE: usize = 16 * 1024;

/// A token bucket in bytes that may go into debt: a piece is always taken whole and its
/// sender then sleeps off the debt, so the long-run rate is exact whatever the piece sizes.
#[derive(Debug)]
struct Bucket {
    bytes_per_sec: f64,
    tokens: f64,
    burst: f64,
    last: Instant,
}

#[derive(Debug, Default)]
struct Limiter(Mutex<Option<Bucket>>);

impl Limiter {
    fn set(&self, bits_per_sec: Option<u64>) {
        *self.0.lock().unwrap() = bits_per_sec.map(|bits| {
            let bytes_per_sec = bits as f64 / 8.0;
            // About 20 ms of line, at least one piece.
            let burst = (bytes_per_sec * 0.02).max(PIECE as f64);
            Bucket {
                bytes_per_sec,
                tokens: 0.0,
                burst,
                last: Instant::now(),
            }
        });
    }

    async fn take(&self, n: usize) {
        let wait = {
            let mut guard = self.0.lock().unwrap();
            let Some(b) = guard.as_mut() else {
                return;
            };
            let now = Instant::now();
            let refill = now.duration_since(b.last).as_secs_f64() * b.bytes_per_sec;
            b.last = now;
            b.tokens = (b.tokens + refill).min(b.burst) - n as f64;
            if b.tokens >= 0.0 {
                return;
            }
            Duration::from_secs_f64(-b.tokens / b.bytes_per_sec)
        };
        tokio::time::sleep(wait).await;
    }
}

#[derive(Debug)]
struct Inner {
    upstream: SocketAddr,
    up: Limiter,
    down: Limiter,
    stalled: watch::Sender<bool>,
    refusing: AtomicBool,
    /// Bumped to cut every connection open now.
    cuts: watch::Sender<u64>,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    accepted: AtomicU64,
    schedule: Mutex<Option<JoinHandle<()>>>,
}

/// See the module docs. Dropping it stops listening and cuts every connection.
#[derive(Debug)]
pub struct Proxy {
    inner: Arc<Inner>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`. Needs a tokio runtime.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let inner = Arc::new(Inner {
            upstream,
            up: Limiter::default(),
            down: Limiter::default(),
            stalled: watch::channel(false).0,
            refusing: AtomicBool::new(false),
            cuts: watch::channel(0).0,
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            schedule: Mutex::new(None),
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone()));
        Proxy {
            inner,
            addr,
            accept,
        }
    }

    /// For a server URL given as `http://host:port`.
    pub async fn to_url(server_url: &str) -> Proxy {
        let authority = server_url
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let upstream = tokio::net::lookup_host(authority)
            .await
            .expect("resolve the server")
            .next()
            .expect("an address for the server");
        Proxy::start(upstream).await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to give the core instead of the server's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Limits both directions to `bits_per_sec` each (`None`: unlimited).
    pub fn set_rate(&self, bits_per_sec: Option<u64>) {
        self.set_rate_up(bits_per_sec);
        self.set_rate_down(bits_per_sec);
    }

    /// Limits client → server.
    pub fn set_rate_up(&self, bits_per_sec: Option<u64>) {
        self.inner.up.set(bits_per_sec);
    }

    /// Limits server → client.
    pub fn set_rate_down(&self, bits_per_sec: Option<u64>) {
        self.inner.down.set(bits_per_sec);
    }

    /// Cuts every open connection now (both sides see a reset).
    pub fn drop_all(&self) {
        self.inner.cuts.send_modify(|n| *n += 1);
    }

    /// How many times connections were cut (by `drop_all` or the schedule).
    pub fn cuts(&self) -> u64 {
        *self.inner.cuts.borrow()
    }

    /// While stalled nothing is forwarded and nothing is closed: a link that went silent.
    pub fn set_stalled(&self, stalled: bool) {
        self.inner.stalled.send_replace(stalled);
    }

    /// While refusing, new connections are reset at once (as if the server were down);
    /// open ones go on.
    pub fn set_refusing(&self, refusing: bool) {
        self.inner.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Cuts every connection every `period` from now on (`None` stops it).
    pub fn set_drop_every(&self, period: Option<Duration>) {
        let mut schedule = self.inner.schedule.lock().unwrap();
        if let Some(task) = schedule.take() {
            task.abort();
        }
        if let Some(period) = period {
            let cuts = self.inner.cuts.clone();
            *schedule = Some(tokio::spawn(async move {
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    ticks.tick().await;
                    cuts.send_modify(|n| *n += 1);
                }
            }));
        }
    }

    /// Bytes forwarded client → server so far.
    pub fn bytes_up(&self) -> u64 {
        self.inner.bytes_up.load(Ordering::SeqCst)
    }

    /// Bytes forwarded server → client so far.
    pub fn bytes_down(&self) -> u64 {
        self.inner.bytes_down.load(Ordering::SeqCst)
    }

    /// Connections accepted (refused ones included).
    pub fn connections(&self) -> u64 {
        self.inner.accepted.load(Ordering::SeqCst)
    }

    pub fn reset_counters(&self) {
        self.inner.bytes_up.store(0, Ordering::SeqCst);
        self.inner.bytes_down.store(0, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(task) = self.inner.schedule.lock().unwrap().take() {
            task.abort();
        }
        self.drop_all();
    }
}

/// Closing with a zero linger sends RST: the peer learns at once that the link is gone.
/// (Tokio deprecates `set_linger` because a non-zero linger blocks on drop; zero does not.)
#[allow(deprecated)]
fn reset_on_close(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    let _ = stream.set_nodelay(true);
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        inner.accepted.fetch_add(1, Ordering::SeqCst);
        reset_on_close(&client);
        if inner.refusing.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        tokio::spawn(connection(client, inner.clone()));
    }
}

async fn connection(client: TcpStream, inner: Arc<Inner>) {
    let mut cuts = inner.cuts.subscribe();
    cuts.borrow_and_update();
    let server = tokio::select! {
        s = TcpStream::connect(inner.upstream) => s,
        _ = cuts.changed() => return,
    };
    let Ok(server) = server else {
        return;
    };
    reset_on_close(&server);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pipe(
        client_read,
        server_write,
        &inner.up,
        &inner.bytes_up,
        &inner,
    );
    let down = pipe(
        server_read,
        client_write,
        &inner.down,
        &inner.bytes_down,
        &inner,
    );
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = cuts.changed() => {}
    }
    // Both halves of both sockets drop here: reset.
}

/// Waits while the proxy is stalled.
async fn unstalled(inner: &Inner) {
    let mut stalled = inner.stalled.subscribe();
    let _ = stalled.wait_for(|s| !*s).await;
}

async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    limit: &Limiter,
    counter: &AtomicU64,
    inner: &Inner,
) {
    let mut buf = vec![0u8; PIECE];
    loop {
        unstalled(inner).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        limit.take(n).await;
        unstalled(inner).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        counter.fetch_add(n as u64, Ordering::SeqCst);
    }
    // The sender finished: pass the half-close on.
    let _ = to.shutdown().await;
}

/// An upstream that reads and discards everything: the far end of a link being measured.
pub async fn sink() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the sink");
    let addr = listener.local_addr().expect("sink address");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// The rate in bit/s at which `proxy` forwards client → server when a client sends as fast as
/// it can, over `bytes` after a warm-up of 64 KiB (past the bucket's small burst). Give it a
/// proxy to [`sink`].
///
/// Each end reads the proxy's count before the clock at the start and after it at the end, so
/// a measuring task the machine keeps waiting can only make the figure lower than what was
/// forwarded, never higher: the figure is an upper bound test's safe side. How far below the
/// limit it comes depends on the machine's load (`cargo bench --bench proxy_shaping`).
pub async fn measure_up(proxy: &Proxy, bytes: u64) -> f64 {
    const WARM_UP: u64 = 64 * 1024;
    let mut s = TcpStream::connect(proxy.addr())
        .await
        .expect("connect to the proxy");
    let at_first = proxy.bytes_up();
    s.write_all(&vec![0u8; WARM_UP as usize])
        .await
        .expect("send the warm-up");
    while proxy.bytes_up() - at_first < WARM_UP {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    let before = proxy.bytes_up();
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 64 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    });
    let forwarded = loop {
        let forwarded = proxy.bytes_up() - before;
        if forwarded >= bytes {
            break forwarded;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let elapsed = start.elapsed().as_secs_f64();
    writer.abort();
    forwarded as f64 * 8.0 / elapsed
}
