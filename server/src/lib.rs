//! Lianxiao reference server: accounts, the organisation of linked schools, notices with
//! receipts, cursor-based sync and realtime events, on SQLite or PostgreSQL.

pub mod app;
pub mod auth;
pub mod broadcast;
pub mod classroom;
pub mod clock;
pub mod db;
pub mod error;
pub mod fixtures;
pub mod homework;
pub mod http;
pub mod idempotency;
pub mod lessons;
pub mod live;
pub mod notices;
pub mod org;
pub mod push;
pub mod realtime;
pub mod replays;
pub mod roster;
mod serve;
pub mod sync;
pub mod text;
pub mod uploads;

use std::net::SocketAddr;

pub use app::{AppState, LiveKitConfig, ServerConfig};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A server running inside this process (the demo, benchmarks).
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Close sockets first: graceful shutdown waits for open connections.
        self.state.hub().shutdown();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
        self.state.shutdown().await;
    }
}

/// Opens the database and starts serving on `config.listen` in the background.
pub async fn start(config: &ServerConfig) -> anyhow::Result<RunningServer> {
    let state = AppState::open(config).await?;
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = http::router(state.clone());
    let task = tokio::spawn(serve::serve(
        listener,
        app,
        config.limits.header_timeout,
        stopped,
    ));
    Ok(RunningServer {
        addr,
        state,
        stop: Some(stop),
        task,
    })
}
