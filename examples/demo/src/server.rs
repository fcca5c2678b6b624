//! The real server, embedded: `lianxiao_server::start` on the default backend (SQLite and
//! local files in a data directory), in a tokio runtime of its own.
//!
//! Why a runtime of its own: `RunningServer::stop` stops the listener, but tasks the server
//! spawned keep running (open WebSockets, the realtime hub). Shutting the runtime down after
//! `stop` ends them too, so "the server is down" really looks like a dead process to the phones.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, anyhow};
use lianxiao_protocol::RosterReport;
use lianxiao_server::{RunningServer, ServerConfig};
use tokio::runtime::Runtime;

pub struct DemoServer {
    runtime: Option<Runtime>,
    server: Option<RunningServer>,
    config: ServerConfig,
    addr: SocketAddr,
}

impl DemoServer {
    /// Starts a server on `listen` (port 0 picks a free one) with its data in `data_dir`.
    pub async fn start(data_dir: PathBuf, listen: SocketAddr) -> anyhow::Result<DemoServer> {
        let mut config = ServerConfig::new(data_dir);
        config.listen = listen;
        let (runtime, server) = launch(&config).await?;
        let addr = server.addr;
        Ok(DemoServer {
            runtime: Some(runtime),
            server: Some(server),
            config,
            addr,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data_dir(&self) -> &std::path::Path {
        &self.config.data_dir
    }

    /// `sqlite` (or `postgres`, were `DATABASE_URL` given: the demo never gives it).
    pub fn backend(&self) -> &'static str {
        self.server
            .as_ref()
            .map_or("stopped", |s| s.state.db().backend().name())
    }

    /// Imports a roster CSV and tells connected devices, as the admin route would.
    pub async fn import_roster(&self, csv: String) -> anyhow::Result<RosterReport> {
        let (runtime, server) = self.running()?;
        let state = server.state.clone();
        runtime
            .spawn(async move { lianxiao_server::roster::import(&state, csv.as_bytes()).await })
            .await
            .context("the roster import task failed")?
            .map_err(|e| anyhow!("the roster did not import: {}", e.body.message))
    }

    /// Stops the server like a crash would: listener, sockets and background tasks all end.
    /// The data directory stays.
    pub async fn stop(&mut self) {
        if let (Some(runtime), Some(server)) = (self.runtime.take(), self.server.take()) {
            let _ = runtime.spawn(server.stop()).await;
            runtime.shutdown_background();
        }
    }

    /// Starts again on the same data directory and the same port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let mut config = self.config.clone();
        config.listen = self.addr;
        // A port just freed can take a moment to bind again.
        let mut attempt = 0;
        let (runtime, server) = loop {
            attempt += 1;
            match launch(&config).await {
                Ok(started) => break started,
                Err(_) if attempt < 10 => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e.context(format!("cannot restart on {}", self.addr))),
            }
        };
        self.runtime = Some(runtime);
        self.server = Some(server);
        Ok(())
    }

    fn running(&self) -> anyhow::Result<(&Runtime, &RunningServer)> {
        match (&self.runtime, &self.server) {
            (Some(r), Some(s)) => Ok((r, s)),
            _ => Err(anyhow!("the server is not running")),
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A new runtime with the server started on it.
async fn launch(config: &ServerConfig) -> anyhow::Result<(Runtime, RunningServer)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("demo-server")
        .enable_all()
        .build()
        .context("cannot build the server's runtime")?;
    let config = config.clone();
    let started = runtime
        .spawn(async move { lianxiao_server::start(&config).await })
        .await;
    match started {
        Ok(Ok(server)) => Ok((runtime, server)),
        Ok(Err(e)) => {
            runtime.shutdown_background();
            Err(e.context("the server did not start"))
        }
        Err(e) => {
            runtime.shutdown_background();
            Err(anyhow!("the server's start task failed: {e}"))
        }
    }
}
