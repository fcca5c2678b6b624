-- Sign-in attempts per login and per client address, counted before the password is checked,
-- in a window that starts with the first attempt. Kept in the database so that every server
-- process sharing it counts the same attempts (one upsert per attempt, atomic on both
-- databases).
CREATE TABLE login_attempts (
    limit_key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    attempts BIGINT NOT NULL
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);

-- Bumped by every transaction that ends sessions. A server on SQLite watches it to close the
-- realtime sockets of ended sessions, whichever process ended them (the roster import runs as
-- a process of its own); PostgreSQL tells the servers with NOTIFY as well.
CREATE TABLE session_epoch (
    id INTEGER PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO session_epoch (id, value) VALUES (1, 0);

-- Ending every session of one person (password reset, "sign out everywhere").
CREATE INDEX sessions_user ON sessions (user_id);
