-- The live room of a lesson as last seen (so the lesson screen opens with it offline), and
-- chat messages typed on this phone that the server does not have yet: each keeps the
-- idempotency key it was made with, so a resend is never a second message.
CREATE TABLE live_rooms (
    lesson_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE live_chat_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    lesson_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set when the server refused it for good (muted, not in the lesson): kept to show.
    failed_code TEXT
);
CREATE INDEX live_chat_outbox_lesson ON live_chat_outbox (lesson_id, id);
