-- Replays (异步点播) as synced, each person's place in them, and offline downloads.

-- The server's copy (protocol Replay as JSON), with the columns lists sort on.
CREATE TABLE replays (
    id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL,
    lesson_starts_at INTEGER NOT NULL,
    replay TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX replays_by_lesson_start ON replays (lesson_starts_at DESC);

-- Where the person is in a replay: the latest position from any device (a later `at` wins)
-- and the total watched time the server counted. Time watched on this device and not yet
-- confirmed lives in the outbox (kind 'watch'), so it is neither lost nor counted twice.
CREATE TABLE watch_positions (
    replay_id TEXT PRIMARY KEY,
    position_ms INTEGER NOT NULL,
    at INTEGER NOT NULL,
    server_watched_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The outbox item (one per replay and online/offline) that still takes more watched time.
-- The sender removes the row in the transaction that reads the item's body to send it, so a
-- report, once sent, never changes under its idempotency key.
CREATE TABLE watch_open_reports (
    replay_id TEXT NOT NULL,
    offline INTEGER NOT NULL,
    outbox_id INTEGER NOT NULL,
    PRIMARY KEY (replay_id, offline)
) WITHOUT ROWID;

-- One download per replay: one rendition, its files under the account's directory.
-- state: queued (wanted; waiting for its turn, the network or its retry time) | paused |
-- done | failed. Being fetched now is known in memory only.
CREATE TABLE replay_downloads (
    replay_id TEXT PRIMARY KEY,
    rendition TEXT NOT NULL,
    state TEXT NOT NULL,
    -- The rendition's size as the server announced it: what is reserved against the cap.
    expected_bytes INTEGER NOT NULL,
    -- Known once the media playlist was read.
    segments_total INTEGER,
    -- The media playlist as read, for writing the local one at the end.
    playlist TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Segments already on disk (whole, renamed from their .part file).
CREATE TABLE replay_download_segments (
    replay_id TEXT NOT NULL REFERENCES replay_downloads (replay_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (replay_id, seq)
) WITHOUT ROWID;
