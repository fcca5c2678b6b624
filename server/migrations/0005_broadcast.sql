-- Broadcast lessons (同步直播): where each lesson's encoder pushes RTMP, and with which key.
-- The port stays the lesson's while its window is open, so the address given to the teacher
-- survives a server restart.

CREATE TABLE broadcast_ingests (
    lesson_id TEXT PRIMARY KEY REFERENCES lessons (id),
    stream_key TEXT NOT NULL,
    port BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
