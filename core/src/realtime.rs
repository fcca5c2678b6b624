//! The realtime connection (`GET /v1/events`): it only says *that* something changed, and
//! every change (and every connect) triggers a sync, so a missed event loses nothing.
//!
//! Reconnects with exponential backoff and jitter (capped near 30 s); refreshes the token
//! first when the upgrade is refused with 401; reconnects at once when the network returns.

use std::{sync::Arc, time::Duration};

use backon::BackoffBuilder;
use futures::{SinkExt, StreamExt};
use lianxiao_protocol::ServerEvent;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http};

use crate::{
    Error, Result,
    client::{ClientState, Shared},
};

/// `ws(s)://host/v1/events` from the server's base URL.
pub(crate) fn events_url(base: &str) -> String {
    let ws = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    format!("{ws}/v1/events")
}

fn backoff() -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        // Jitter adds up to as much again: waits end between 20 and 40 s, about 30.
        .with_max_delay(Duration::from_secs(20))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Send a ping this often; a connection silent for `DEAD_AFTER` is treated as dropped (mobile
/// networks drop without a FIN).
const PING_EVERY: Duration = Duration::from_secs(25);
const DEAD_AFTER: Duration = Duration::from_secs(70);

enum ConnectError {
    /// The upgrade was refused with 401 for this access token.
    Unauthorized(String),
    Other(Error),
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn tls_connector() -> Result<tokio_tungstenite::Connector> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ClientConfig::with_platform_verifier()
        .map_err(|_| Error::Internal("no TLS verifier on this platform".into()))?;
    Ok(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
        config,
    )))
}

async fn connect(shared: &Shared) -> std::result::Result<Socket, ConnectError> {
    let access = shared
        .api
        .fresh_access_token()
        .await
        .map_err(ConnectError::Other)?;
    let mut request = events_url(shared.api.base())
        .into_client_request()
        .map_err(|_| ConnectError::Other(Error::Internal("bad server URL".into())))?;
    let value = http::HeaderValue::from_str(&format!("Bearer {access}"))
        .map_err(|_| ConnectError::Other(Error::Internal("bad token".into())))?;
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, value);
    // wss:// checks certificates like the HTTP client does: with the platform's verifier.
    let connector = tls_connector().map_err(ConnectError::Other)?;
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector));
    match tokio::time::timeout(Duration::from_secs(15), connecting).await {
        Err(_) => Err(ConnectError::Other(Error::Offline(
            "connect timed out".into(),
        ))),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(resp))) if resp.status() == 401 => {
            Err(ConnectError::Unauthorized(access))
        }
        Ok(Err(tungstenite::Error::Http(resp))) => Err(ConnectError::Other(Error::from_response(
            resp.status().as_u16(),
            resp.body().as_deref().unwrap_or(&[]),
            None,
        ))),
        Ok(Err(_)) => Err(ConnectError::Other(Error::Offline(
            "realtime connection failed".into(),
        ))),
    }
}

/// Reads events until the connection ends or the network goes away.
async fn serve(shared: &Shared, mut socket: Socket) -> Result<()> {
    let mut network = shared.network.subscribe();
    let mut auth = shared.api.auth_expired();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_seen = Instant::now();
    loop {
        tokio::select! {
            msg = socket.next() => {
                let Some(msg) = msg else { return Ok(()) };
                let msg = msg.map_err(|_| Error::Offline("realtime connection dropped".into()))?;
                last_seen = Instant::now();
                match msg {
                    Message::Text(text) => match serde_json::from_str::<ServerEvent>(&text) {
                        Ok(ServerEvent::Hello { server_time, .. }) => {
                            shared.api.clock.observe(server_time);
                        }
                        Ok(ServerEvent::Changed { .. }) => shared.request_sync(),
                        Ok(ServerEvent::Room { lesson_id, event }) => shared.room_event(lesson_id, event),
                        // Newer servers may send events this version does not know.
                        Err(_) => tracing::debug!("unknown realtime event ignored"),
                    },
                    Message::Close(_) => return Ok(()),
                    _ => {}
                }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > DEAD_AFTER {
                    return Err(Error::Offline("realtime connection went silent".into()));
                }
                socket
                    .send(Message::Ping(Default::default()))
                    .await
                    .map_err(|_| Error::Offline("realtime connection dropped".into()))?;
            }
            // Any network change (lost, or a new one such as Wi-Fi after mobile data) may have
            // left this socket dead without a FIN: close it and connect again at once.
            _ = network.changed() => {
                let _ = socket.close(None).await;
                return Ok(());
            }
            changed = auth.changed() => {
                if changed.is_err() || *auth.borrow() {
                    let _ = socket.close(None).await;
                    return Ok(());
                }
            }
        }
    }
}

/// The realtime task. Runs until aborted.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut delays = backoff();
    let mut network = shared.network.subscribe();
    let mut auth = shared.api.auth_expired();
    loop {
        // Wait for a network and credentials.
        loop {
            let online = *network.borrow_and_update();
            let expired = *auth.borrow_and_update();
            if online && !expired {
                break;
            }
            shared.set_connection(ClientState::Offline);
            tokio::select! {
                r = network.changed() => if r.is_err() { return },
                r = auth.changed() => if r.is_err() { return },
            }
        }
        shared.set_connection(ClientState::Connecting);
        let wait = match connect(&shared).await {
            Ok(socket) => {
                delays = backoff();
                shared.set_connection(ClientState::Online);
                tracing::debug!("realtime connected");
                // Whatever changed while we were away arrives through sync.
                shared.request_sync();
                let ended = serve(&shared, socket).await;
                shared.set_connection(ClientState::Offline);
                if let Err(e) = ended {
                    tracing::debug!(code = e.code_str(), "realtime connection ended");
                }
                delays.next()
            }
            Err(ConnectError::Unauthorized(used)) => match shared.api.refresh_after(&used).await {
                // Retry at once with the new token.
                Ok(()) => None,
                // Signed out remotely: the wait above holds us until a new sign-in.
                Err(Error::Unauthorized) => continue,
                Err(_) => delays.next(),
            },
            Err(ConnectError::Other(Error::Unauthorized)) => continue,
            Err(ConnectError::Other(e)) => {
                tracing::debug!(code = e.code_str(), "realtime connect failed");
                delays.next()
            }
        };
        if let Some(wait) = wait {
            shared.set_connection(ClientState::Offline);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // The network came back: skip the rest of the backoff.
                _ = shared.reconnect_now.notified() => { delays = backoff(); }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_url_follows_the_scheme() {
        assert_eq!(events_url("http://h:8080"), "ws://h:8080/v1/events");
        assert_eq!(events_url("https://x.cn"), "wss://x.cn/v1/events");
    }

    #[test]
    fn reconnect_backoff_is_capped_near_30s() {
        let d: Vec<_> = backoff().take(20).collect();
        assert!(d[0] <= Duration::from_secs(1));
        assert!(d.iter().all(|d| *d <= Duration::from_secs(40)), "{d:?}");
    }
}
