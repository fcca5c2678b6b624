//! The accept loop: the router on hyper's HTTP/1 connections with a timer, which axum's own
//! `serve` does not set, so that hyper's header-read timeout applies: a client must send a
//! request's headers — and, on a kept-alive connection, its next request — within
//! `header_timeout`, or the connection is closed. Without it, a client trickling header bytes
//! (or sending none) held its connection and its file descriptor for as long as it liked.
//!
//! HTTP/1 only, as before (axum's `http2` feature is off for the server): the auto-detecting
//! builder waits for a first byte without any timeout, which is the hole again.

use std::{io, net::SocketAddr, time::Duration};

use axum::{Router, body::Body, extract::Request};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    net::TcpListener,
    sync::{oneshot, watch},
};
use tower::{Service, ServiceExt};

/// Serves `app` until `stop` fires, then lets open requests finish.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    // Set to true when the server stops: connections finish their request and close.
    let (stopping_tx, stopping_rx) = watch::channel(false);
    // Every connection holds a receiver; the last one gone means all are done.
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(stop);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = match make_service.call(remote).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let service = TowerToHyperService::new(
            service.map_request(|req: Request<Incoming>| req.map(Body::new)),
        );
        let mut stopping = stopping_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                changed = stopping.changed() => {
                    if changed.is_ok() {
                        conn.as_mut().graceful_shutdown();
                    }
                    // Either way nothing more will come: finish the request under way.
                    let _ = (&mut conn).await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}
