//! The realtime channel: one WebSocket per signed-in device. Events only say that something
//! changed; the data follows through sync, so a missed event never loses anything.
//!
//! Each server process keeps its own sockets. Committed changes reach every process: through
//! PostgreSQL LISTEN/NOTIFY when processes share one, or in-process on SQLite.
//!
//! Live-room events (hands, stage, chat, quiz) are the exception: they carry the change itself
//! and go to the connected people of one lesson, on their own NOTIFY channel.
//!
//! A socket lives no longer than what let it in: it closes when its access token expires (the
//! app reconnects with a fresh one) and when its session ends — sign-out, a reused refresh
//! token, a new password, an admin's "sign out everywhere" — in any process: PostgreSQL says so
//! with `NOTIFY lianxiao_sessions`, and on SQLite the server watches the `session_epoch` every
//! ending bumps. One account holds at most `sockets_per_account` sockets per process.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    response::Response,
};
use lianxiao_protocol::ServerEvent;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::{
    app::AppState,
    auth::{SESSIONS_CHANNEL, SocketCaller},
    db::{Backend, Db, feed::NOTIFY_CHANNEL, now_ms, placeholders},
    error::{ApiError, ApiResult},
};

/// Close codes the server ends a socket with (private range, RFC 6455 §7.4.2).
pub mod close_code {
    /// The access token the socket opened with expired: connect again with a fresh one.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// The session ended (signed out, refresh token reused, password reset, signed out by an
    /// admin): sign in again.
    pub const SESSION_ENDED: u16 = 4002;
    /// Nothing came from the device for too long, not even a pong.
    pub const IDLE: u16 = 4003;
}

/// Why the server closes a socket.
#[derive(Debug, Clone, Copy)]
struct CloseReason {
    code: u16,
    reason: &'static str,
}

const SESSION_ENDED: CloseReason = CloseReason {
    code: close_code::SESSION_ENDED,
    reason: "session ended",
};

const GOING_AWAY: CloseReason = CloseReason {
    code: 1001,
    reason: "server going away",
};

/// Channel the servers sharing one PostgreSQL use for live-room events (JSON payloads).
pub const ROOM_CHANNEL: &str = "lianxiao_room";

/// One room event and who in the lesson gets it, as sent between server processes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RoomNotice {
    pub lesson_id: String,
    /// Only the lesson's teachers (the lead, assistants, whoever scheduled it).
    pub staff_only: bool,
    pub event: lianxiao_protocol::RoomEvent,
}

type Outbox = mpsc::Sender<ServerEvent>;

/// One connected device.
struct Socket {
    id: u64,
    session_id: String,
    events: Outbox,
    /// Fired (and the entry removed) to close the socket.
    close: oneshot::Sender<CloseReason>,
}

/// Connected devices of this process, by user.
pub struct Hub {
    sockets: Mutex<HashMap<String, Vec<Socket>>>,
    next_id: AtomicU64,
    changes: Mutex<Option<mpsc::UnboundedSender<Signal>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    closing: tokio::sync::watch::Sender<bool>,
    /// Live quiz tallies waiting to be pushed (throttled per quiz).
    pub tallies: crate::classroom::Tallies,
}

enum Signal {
    Committed(i64),
    /// Notifications may have been missed (listener reconnected): everyone syncs.
    Resync,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            sockets: Mutex::default(),
            next_id: AtomicU64::default(),
            changes: Mutex::default(),
            tasks: Mutex::default(),
            closing: tokio::sync::watch::channel(false).0,
            tallies: Default::default(),
        })
    }

    /// Closes every socket and stops delivering: the server is going away. Devices reconnect
    /// to whichever server answers next.
    pub fn shutdown(&self) {
        self.closing.send_replace(true);
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Starts delivering committed changes to this process's sockets.
    pub fn start(self: &Arc<Self>, db: Db) {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.changes.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx.clone());
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(tokio::spawn(dispatch(self.clone(), db.clone(), rx)));
        if db.backend() == Backend::Postgres {
            tasks.push(tokio::spawn(listen(db.url().to_owned(), tx)));
            tasks.push(tokio::spawn(listen_rooms(self.clone(), db.clone())));
            tasks.push(tokio::spawn(listen_sessions(self.clone(), db.clone())));
        } else {
            tasks.push(tokio::spawn(watch_session_epoch(self.clone(), db.clone())));
        }
    }

    /// Called after a commit that changed a live room. On PostgreSQL the transaction sent
    /// the notices itself (`crate::classroom::notify`), to every process including this one.
    pub fn room_committed(self: &Arc<Self>, db: &Db, notices: Vec<RoomNotice>) {
        if db.backend() == Backend::Sqlite && !notices.is_empty() {
            let (hub, db) = (self.clone(), db.clone());
            tokio::spawn(async move {
                for notice in notices {
                    deliver_room(&hub, &db, notice).await;
                }
            });
        }
    }

    /// Called after a commit on SQLite (one process); PostgreSQL delivers through NOTIFY.
    pub fn committed(&self, backend: Backend, seq: i64) {
        if backend == Backend::Sqlite
            && let Some(tx) = self
                .changes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
        {
            let _ = tx.send(Signal::Committed(seq));
        }
    }

    pub fn connected(&self) -> usize {
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.values().map(Vec::len).sum()
    }

    /// Takes one of the account's socket places, or `None` when it holds `cap` already.
    fn register(self: &Arc<Self>, user_id: &str, session_id: &str, cap: usize) -> Option<Slot> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Events are tiny and coalescable: a full queue just means the device is behind and
        // will sync anyway.
        let (tx, rx) = mpsc::channel(16);
        let (close_tx, close_rx) = oneshot::channel();
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let list = sockets.entry(user_id.to_owned()).or_default();
        if list.len() >= cap {
            return None;
        }
        list.push(Socket {
            id,
            session_id: session_id.to_owned(),
            events: tx,
            close: close_tx,
        });
        Some(Slot {
            hub: self.clone(),
            user_id: user_id.to_owned(),
            id,
            events: rx,
            close: close_rx,
        })
    }

    fn unregister(&self, user_id: &str, id: u64) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = sockets.get_mut(user_id) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                sockets.remove(user_id);
            }
        }
    }

    fn send_to(&self, user_id: &str, event: &ServerEvent) {
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = sockets.get(user_id) {
            for s in list {
                let _ = s.events.try_send(event.clone());
            }
        }
    }

    fn send_to_all(&self, event: &ServerEvent) {
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        for list in sockets.values() {
            for s in list {
                let _ = s.events.try_send(event.clone());
            }
        }
    }

    /// The sessions of this process's sockets: of one person, or of everyone.
    fn sessions(&self, user_id: Option<&str>) -> Vec<String> {
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let of = |list: &Vec<Socket>| {
            list.iter()
                .map(|s| s.session_id.clone())
                .collect::<Vec<_>>()
        };
        match user_id {
            Some(user) => sockets.get(user).map(of).unwrap_or_default(),
            None => sockets.values().flat_map(of).collect(),
        }
    }

    /// Closes the sockets of sessions that are not among `live` (of one person, or everyone's).
    fn close_ended(&self, user_id: Option<&str>, live: &std::collections::HashSet<String>) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let mut closed = 0usize;
        for (user, list) in sockets.iter_mut() {
            if user_id.is_some_and(|u| u != user) {
                continue;
            }
            let mut kept = Vec::with_capacity(list.len());
            for s in list.drain(..) {
                if live.contains(&s.session_id) {
                    kept.push(s);
                } else {
                    let _ = s.close.send(SESSION_ENDED);
                    closed += 1;
                }
            }
            *list = kept;
        }
        sockets.retain(|_, list| !list.is_empty());
        if closed > 0 {
            tracing::info!(
                sockets = closed,
                "realtime sockets of ended sessions closed"
            );
        }
    }

    /// Looks up which of the sockets' sessions are still live and closes the others' sockets.
    async fn recheck_sessions(&self, db: &Db, user_id: Option<&str>) {
        let sessions = self.sessions(user_id);
        if sessions.is_empty() {
            return;
        }
        let mut live = std::collections::HashSet::new();
        for chunk in sessions.chunks(500) {
            let sql = format!(
                "SELECT id FROM sessions WHERE revoked_at IS NULL AND id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id);
            }
            match query.fetch_all(db.pool()).await {
                Ok(ids) => live.extend(ids),
                Err(e) => {
                    // Try again with the next signal; tokens still expire meanwhile.
                    tracing::warn!(error = %e, "could not check realtime sockets' sessions");
                    return;
                }
            }
        }
        self.close_ended(user_id, &live);
    }
}

/// A socket's place in the hub: its event queue and its close signal. Dropping it (the socket
/// ended, or the upgrade never happened) frees the place.
struct Slot {
    hub: Arc<Hub>,
    user_id: String,
    id: u64,
    events: mpsc::Receiver<ServerEvent>,
    close: oneshot::Receiver<CloseReason>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.hub.unregister(&self.user_id, self.id);
    }
}

/// Frames the server sends are small JSON events and it reads nothing but pings, pongs and
/// closes: small buffers per socket instead of tungstenite's 128 KiB each way, which were most
/// of the memory 2,000 sockets took (and glibc kept after they closed).
const SOCKET_BUFFER: usize = 4 * 1024;
/// The largest message a device may send (nothing it sends is read beyond its kind).
const MAX_INCOMING_MESSAGE: usize = 16 * 1024;

/// `GET /v1/events`: takes one of the account's socket places (429 beyond the cap) and upgrades.
pub fn upgrade(
    state: &AppState,
    caller: SocketCaller,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let limits = &state.config().limits;
    let slot = state
        .hub()
        .register(
            &caller.caller.user_id,
            &caller.caller.session_id,
            limits.sockets_per_account,
        )
        .ok_or_else(|| {
            let mut e = ApiError::rate_limited(30);
            e.body.message = format!(
                "this account has {} realtime connections open already; close one first",
                limits.sockets_per_account
            );
            e
        })?;
    let idle = limits.socket_idle;
    let expires_at = caller.expires_at;
    Ok(ws
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(MAX_INCOMING_MESSAGE)
        .max_frame_size(MAX_INCOMING_MESSAGE)
        .on_upgrade(move |socket| serve_socket(socket, slot, expires_at, idle)))
}

/// Turns committed sequence numbers into events for the users whose feed they touched.
async fn dispatch(hub: Arc<Hub>, db: Db, mut rx: mpsc::UnboundedReceiver<Signal>) {
    while let Some(first) = rx.recv().await {
        // Coalesce a burst into one query.
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        let mut resync = false;
        let mut take = |s: Signal| match s {
            Signal::Committed(seq) => {
                lo = lo.min(seq);
                hi = hi.max(seq);
            }
            Signal::Resync => resync = true,
        };
        take(first);
        while let Ok(s) = rx.try_recv() {
            take(s);
        }
        if resync {
            hub.send_to_all(&ServerEvent::Changed {
                cursor: String::new(),
            });
        }
        if lo > hi || hub.connected() == 0 {
            continue;
        }
        let rows = sqlx::query(
            "SELECT user_id, MAX(seq) FROM feed WHERE seq >= $1 AND seq <= $2 GROUP BY user_id",
        )
        .bind(lo)
        .bind(hi)
        .fetch_all(db.pool())
        .await;
        match rows {
            Ok(rows) => {
                for r in rows {
                    let (Ok(user), Ok(seq)) = (r.try_get::<String, _>(0), r.try_get::<i64, _>(1))
                    else {
                        continue;
                    };
                    hub.send_to(
                        &user,
                        &ServerEvent::Changed {
                            cursor: seq.to_string(),
                        },
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look up who a change concerns"),
        }
    }
}

/// Follows PostgreSQL notifications from every server process sharing the database.
async fn listen(url: String, tx: mpsc::UnboundedSender<Signal>) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(NOTIFY_CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    // Anything committed while we were not listening: tell everyone to sync.
                    let _ = tx.send(Signal::Resync);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                if let Ok(seq) = n.payload().parse()
                                    && tx.send(Signal::Committed(seq)).is_err()
                                {
                                    return;
                                }
                            }
                            Ok(None) => {
                                let _ = tx.send(Signal::Resync);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "notification listener lost");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect notification listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Sends a room event to the connected devices of the people it is for.
async fn deliver_room(hub: &Hub, db: &Db, notice: RoomNotice) {
    if hub.connected() == 0 {
        return;
    }
    let sql = if notice.staff_only {
        "SELECT user_id FROM lesson_staff WHERE lesson_id = $1 \
         UNION SELECT scheduled_by AS user_id FROM lessons WHERE id = $1"
            .to_owned()
    } else {
        crate::lessons::AUDIENCE_SQL.replace("$3", "$1")
    };
    let users = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .bind(&notice.lesson_id)
        .fetch_all(db.pool())
        .await;
    match users {
        Ok(users) => {
            let event = ServerEvent::Room {
                lesson_id: notice.lesson_id,
                event: notice.event,
            };
            for user in users {
                hub.send_to(&user, &event);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not look up who is in a lesson"),
    }
}

/// Follows ended sessions from every server process sharing the PostgreSQL database (the
/// payload is the person's id) and closes their sockets here.
async fn listen_sessions(hub: Arc<Hub>, db: Db) {
    loop {
        match sqlx::postgres::PgListener::connect(db.url()).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(SESSIONS_CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN for sessions failed");
                } else {
                    // Sessions may have ended while we were not listening.
                    hub.recheck_sessions(&db, None).await;
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => hub.recheck_sessions(&db, Some(n.payload())).await,
                            Ok(None) => hub.recheck_sessions(&db, None).await,
                            Err(e) => {
                                tracing::warn!(error = %e, "session listener lost");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect session listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// On SQLite: every second, whether any transaction ended sessions (in this process or another
/// one on the same file, such as `import-roster`); if so, closes the sockets of ended sessions.
async fn watch_session_epoch(hub: Arc<Hub>, db: Db) {
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let epoch = sqlx::query_scalar::<_, i64>("SELECT value FROM session_epoch WHERE id = 1")
            .fetch_one(db.pool())
            .await;
        match epoch {
            Ok(epoch) if seen != Some(epoch) => {
                hub.recheck_sessions(&db, None).await;
                seen = Some(epoch);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "could not read the session epoch"),
        }
    }
}

/// Follows room events from every server process sharing the PostgreSQL database.
async fn listen_rooms(hub: Arc<Hub>, db: Db) {
    loop {
        match sqlx::postgres::PgListener::connect(db.url()).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(ROOM_CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN for rooms failed");
                } else {
                    // Events missed while not listening are not replayed: phones read the
                    // whole room again when their connection comes back.
                    loop {
                        match listener.recv().await {
                            Ok(n) => match serde_json::from_str::<RoomNotice>(n.payload()) {
                                Ok(notice) => deliver_room(&hub, &db, notice).await,
                                Err(_) => tracing::warn!("unreadable room notice ignored"),
                            },
                            Err(e) => {
                                tracing::warn!(error = %e, "room listener lost");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect room listener"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Serves one device's socket until it closes: the device hangs up, its token expires, its
/// session ends, it goes silent, or the server goes away.
async fn serve_socket(mut socket: WebSocket, mut slot: Slot, expires_at: i64, idle: Duration) {
    let mut closing = slot.hub.closing.subscribe();
    let already_closing = *closing.borrow_and_update();
    let hello = ServerEvent::Hello {
        user_id: slot.user_id.clone(),
        server_time: crate::clock::now_ms(),
    };
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    ping.tick().await;
    // The token's expiry on the server's clock, turned into the runtime's.
    let left = Duration::from_millis((expires_at * 1000 - now_ms()).max(0) as u64);
    let expiry = tokio::time::sleep(left);
    tokio::pin!(expiry);
    let mut last_heard = tokio::time::Instant::now();
    if !already_closing && send(&mut socket, &hello).await {
        let reason = loop {
            tokio::select! {
                event = slot.events.recv() => match event {
                    Some(event) => if !send(&mut socket, &event).await { break None },
                    // The hub let go of the socket: the reason was sent before.
                    None => break Some(slot.close.try_recv().unwrap_or(GOING_AWAY)),
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() >= idle {
                        break Some(CloseReason { code: close_code::IDLE, reason: "idle" });
                    }
                    if socket.send(Message::Ping(Vec::new().into())).await.is_err() { break None }
                }
                () = &mut expiry => break Some(CloseReason {
                    code: close_code::TOKEN_EXPIRED,
                    reason: "access token expired",
                }),
                reason = &mut slot.close => break Some(reason.unwrap_or(GOING_AWAY)),
                // Only ever set to true: any change means the server is going away.
                _ = closing.changed() => {
                    let _ = socket.send(Message::Close(None)).await;
                    break None;
                }
            }
        };
        if let Some(CloseReason { code, reason }) = reason {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
    }
    drop(slot);
}

async fn send(socket: &mut WebSocket, event: &ServerEvent) -> bool {
    match serde_json::to_string(event) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}
