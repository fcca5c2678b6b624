//! The realtime channel: one WebSocket per signed-in device. Events only say that something
//! changed; the data follows through sync, so a missed event never loses anything.
//!
//! Each server process keeps its own sockets. Committed changes reach every process: through
//! PostgreSQL LISTEN/NOTIFY when processes share one, or in-process on SQLite.
//!
//! Live-room events (hands, stage, chat, quiz) are the exception: they carry the change itself
//! and go to the connected people of one lesson, on their own NOTIFY channel.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::extract::ws::{Message, WebSocket};
use lianxiao_protocol::ServerEvent;
use sqlx::Row;
use tokio::sync::mpsc;

use crate::db::{Backend, Db, feed::NOTIFY_CHANNEL, now_ms};

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

/// Connected devices of this process, by user.
pub struct Hub {
    sockets: Mutex<HashMap<String, Vec<(u64, Outbox)>>>,
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

    fn register(&self, user_id: &str) -> (u64, mpsc::Receiver<ServerEvent>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Events are tiny and coalescable: a full queue just means the device is behind and
        // will sync anyway.
        let (tx, rx) = mpsc::channel(16);
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets
            .entry(user_id.to_owned())
            .or_default()
            .push((id, tx));
        (id, rx)
    }

    fn unregister(&self, user_id: &str, id: u64) {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = sockets.get_mut(user_id) {
            list.retain(|(i, _)| *i != id);
            if list.is_empty() {
                sockets.remove(user_id);
            }
        }
    }

    fn send_to(&self, user_id: &str, event: &ServerEvent) {
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = sockets.get(user_id) {
            for (_, tx) in list {
                let _ = tx.try_send(event.clone());
            }
        }
    }

    fn send_to_all(&self, event: &ServerEvent) {
        let sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        for list in sockets.values() {
            for (_, tx) in list {
                let _ = tx.try_send(event.clone());
            }
        }
    }
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

/// Serves one device's socket until it closes.
pub async fn serve_socket(mut socket: WebSocket, hub: Arc<Hub>, user_id: String) {
    let (id, mut events) = hub.register(&user_id);
    let mut closing = hub.closing.subscribe();
    let already_closing = *closing.borrow_and_update();
    let hello = ServerEvent::Hello {
        user_id: user_id.clone(),
        server_time: crate::clock::now_ms(),
    };
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    ping.tick().await;
    if !already_closing && send(&mut socket, &hello).await {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => if !send(&mut socket, &event).await { break },
                    None => break,
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                _ = ping.tick() => {
                    if socket.send(Message::Ping(Vec::new().into())).await.is_err() { break }
                }
                // Only ever set to true: any change means the server is going away.
                _ = closing.changed() => {
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
            }
        }
    }
    hub.unregister(&user_id, id);
}

async fn send(socket: &mut WebSocket, event: &ServerEvent) -> bool {
    match serde_json::to_string(event) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}
