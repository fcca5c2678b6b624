-- This install's push state, shared by every account signed in on the phone and kept outside
-- the accounts' own stores (which are wiped at sign-out).

-- The install: its device id (made once) and the last push token the shell handed over.
CREATE TABLE install (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    device_id TEXT NOT NULL,
    platform TEXT,
    provider TEXT,
    token TEXT,
    app_version TEXT,
    locale TEXT
);

-- Per signed-in account: whether the server has this install's current registration.
-- state: pending (to send) | registered (what `registered` says was accepted) | failed (the
-- server refused it for good; tried again when the token changes or on sign-in) |
-- unlinking, then off (the user turned pushes off for the account; on again at sign-in).
CREATE TABLE registrations (
    user_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    registered TEXT,
    registered_at INTEGER,
    error_code TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Accounts signed out while the server could not be told: unlink the device (unless the
-- account signed in again since) and end the session, with tokens kept in secure storage
-- under a key of their own until then.
CREATE TABLE farewells (
    user_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    unlink INTEGER NOT NULL,
    queued_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Pushes the phone got (or the user tapped) that the server has not been told about yet.
CREATE TABLE push_reports (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    event_id TEXT NOT NULL,
    opened INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, kind, event_id)
) WITHOUT ROWID;
