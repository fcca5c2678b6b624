-- Resumable uploads (tus). One row per file to send; the file itself stays where the caller
-- put it, under the account's data directory (`file_path`), until the upload is done. `url`
-- is set as soon as the server created the upload; `confirmed` is the last offset the server
-- acknowledged, so a restart resumes instead of starting over (the server's own offset, asked
-- with HEAD, always wins over this one).
CREATE TABLE uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Groups the uploads one outbox item waits for, e.g. 'handin:<local id>'; '' for none.
    batch TEXT NOT NULL DEFAULT '',
    file_path TEXT NOT NULL,
    purpose TEXT NOT NULL,
    homework_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    length INTEGER NOT NULL,
    -- Hex sha256 of the whole file, taken when it was queued.
    sha256 TEXT NOT NULL,
    url TEXT,
    confirmed INTEGER NOT NULL DEFAULT 0,
    -- pending | done | failed
    state TEXT NOT NULL DEFAULT 'pending',
    server_id TEXT,
    -- Failures in a row without progress; sets the backoff.
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX uploads_batch ON uploads (batch);
CREATE INDEX uploads_pending ON uploads (state, next_attempt_at);
