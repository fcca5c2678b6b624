-- Homework as this account sees it (server copies, JSON as received), and the work this
-- device has not handed in yet.
CREATE TABLE homework (
    id TEXT PRIMARY KEY,
    due_at INTEGER NOT NULL,
    homework TEXT NOT NULL
);
CREATE INDEX homework_by_due ON homework (due_at);

CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    homework_id TEXT NOT NULL,
    student_id TEXT NOT NULL,
    class_id TEXT NOT NULL,
    submission TEXT NOT NULL
);
CREATE INDEX submissions_by_homework ON submissions (homework_id, student_id);

CREATE TABLE homework_summaries (
    homework_id TEXT PRIMARY KEY,
    summary TEXT NOT NULL
);

-- A student's unsent work for one homework: text and files, edited freely until handed in.
CREATE TABLE drafts (
    homework_id TEXT PRIMARY KEY,
    text TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
);

-- Files of a draft, copied (photos downscaled) under the account's data directory.
CREATE TABLE draft_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    homework_id TEXT NOT NULL REFERENCES drafts (homework_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX draft_files_by_homework ON draft_files (homework_id, position);

-- Work handed in on this device: waits for its uploads, then is sent through the outbox
-- (its id is the outbox item's subject). Kept after delivery as the receipt.
CREATE TABLE handins (
    id TEXT PRIMARY KEY,
    homework_id TEXT NOT NULL,
    text TEXT NOT NULL,
    files TEXT NOT NULL,
    -- queued | delivered | failed
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    submission_id TEXT,
    attempt INTEGER,
    received_at INTEGER,
    error_code TEXT,
    error_message TEXT
);
CREATE INDEX handins_by_homework ON handins (homework_id, created_at);

-- Teachers' reviews and parents' sign-offs queued on this device.
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL,
    -- grade | return | sign_off
    action TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    error_message TEXT
);
CREATE INDEX reviews_by_submission ON reviews (submission_id);

-- Small per-account preferences (e.g. photo downscaling).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
