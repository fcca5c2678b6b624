-- Attendance heartbeats from live lessons, kept until the server has them.
CREATE TABLE live_heartbeats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL,
    lesson_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
