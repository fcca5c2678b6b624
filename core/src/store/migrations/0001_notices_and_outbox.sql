-- One account's local copy of what the server showed it, plus its unsent work.

-- The sync cursor; one row, written in the same transaction as the page it ends.
CREATE TABLE sync_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cursor TEXT NOT NULL,
    server_time INTEGER NOT NULL
);

-- The signed-in person (protocol User as JSON); one row.
CREATE TABLE profile (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user_id TEXT NOT NULL,
    user TEXT NOT NULL
);

CREATE TABLE classes (id TEXT PRIMARY KEY, class TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE link_groups (id TEXT PRIMARY KEY, link_group TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE children (id TEXT PRIMARY KEY, child TEXT NOT NULL) WITHOUT ROWID;

-- Notices: the server's view (JSON) with the columns lists sort and filter on, and the local
-- delivery state of this device's read / acknowledgment / post.
-- *_state: none | pending (in the outbox) | delivered (server confirmed) | failed (rejected).
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    posted_at INTEGER NOT NULL,
    notice TEXT NOT NULL,
    is_recipient INTEGER NOT NULL,
    server_read_at INTEGER,
    server_acked_at INTEGER,
    read_state TEXT NOT NULL DEFAULT 'none',
    local_read_at INTEGER,
    ack_state TEXT NOT NULL DEFAULT 'none',
    local_acked_at INTEGER,
    post_state TEXT NOT NULL DEFAULT 'delivered'
);
CREATE INDEX notices_by_time ON notices (posted_at DESC);

-- For the author: counts synced from the server. No foreign key: a page may carry the summary
-- before the notice.
CREATE TABLE receipt_summaries (notice_id TEXT PRIMARY KEY, summary TEXT NOT NULL) WITHOUT ROWID;

-- Mutations not yet confirmed by the server, and those it rejected for good (state failed,
-- kept until the user dismisses them).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    body TEXT,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    error_code TEXT,
    error_message TEXT,
    failed_at INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
-- A read or an acknowledgment of one notice is queued at most once.
CREATE UNIQUE INDEX outbox_one_receipt ON outbox (kind, notice_id)
    WHERE state = 'pending' AND kind IN ('read', 'ack');
