-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Ids are TEXT (UUIDv7), times are
-- BIGINT Unix milliseconds, flags are BIGINT 0/1, and "none" in key columns is '' (NULLs are
-- distinct in unique keys on both engines).

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE schools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE link_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE link_group_schools (
    link_group_id TEXT NOT NULL REFERENCES link_groups (id),
    school_id TEXT NOT NULL REFERENCES schools (id),
    PRIMARY KEY (link_group_id, school_id)
);

CREATE TABLE classes (
    id TEXT PRIMARY KEY,
    school_id TEXT NOT NULL REFERENCES schools (id),
    name TEXT NOT NULL,
    grade TEXT NOT NULL,
    UNIQUE (school_id, name)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per role a person holds somewhere.
CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    school_id TEXT NOT NULL DEFAULT '',
    class_id TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    child_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, role, school_id, class_id, subject, child_id)
);
CREATE INDEX memberships_class ON memberships (class_id, role);
CREATE INDEX memberships_child ON memberships (child_id, role);
CREATE INDEX memberships_school ON memberships (school_id, role);

-- A signed-in device. Refresh tokens rotate; reuse of a rotated one revokes the session.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    author_id TEXT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    audience TEXT NOT NULL,
    audience_label TEXT NOT NULL,
    include_students BIGINT NOT NULL,
    requires_ack BIGINT NOT NULL,
    ack_deadline BIGINT,
    posted_at BIGINT NOT NULL,
    retracted_at BIGINT,
    last_reminded_at BIGINT
);
CREATE INDEX notices_author ON notices (author_id);

-- The classes a notice was addressed to, resolved at posting.
CREATE TABLE notice_classes (
    notice_id TEXT NOT NULL REFERENCES notices (id),
    class_id TEXT NOT NULL REFERENCES classes (id),
    PRIMARY KEY (notice_id, class_id)
);

-- Why each recipient got a notice: one row per (recipient, class, child). child_id is ''
-- for a student receiving it for themself.
CREATE TABLE notice_targets (
    notice_id TEXT NOT NULL REFERENCES notices (id),
    user_id TEXT NOT NULL,
    class_id TEXT NOT NULL,
    child_id TEXT NOT NULL,
    PRIMARY KEY (notice_id, user_id, class_id, child_id)
);
CREATE INDEX notice_targets_user ON notice_targets (user_id, notice_id);

-- One receipt per recipient: each parent gets a notice once, however many children it concerns.
CREATE TABLE notice_receipts (
    notice_id TEXT NOT NULL REFERENCES notices (id),
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    read_at BIGINT,
    acked_at BIGINT,
    reminded_at BIGINT,
    PRIMARY KEY (notice_id, user_id)
);
CREATE INDEX notice_receipts_user ON notice_receipts (user_id);

-- The change feed. One global sequence, taken by locking this row at the end of every
-- writing transaction, so sequence order is commit order and a sync cursor can never pass a
-- change still in flight.
CREATE TABLE change_counter (
    id BIGINT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_counter (id, value) VALUES (1, 0);

-- What each user can see, and the sequence number of its last change. Upserted, so a user
-- syncing after a long time gets each thing once, in its current state; removed = 1 is a
-- tombstone for what stopped being visible.
CREATE TABLE feed (
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    removed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, kind, entity_id)
);
CREATE INDEX feed_user_seq ON feed (user_id, seq, kind, entity_id);
CREATE INDEX feed_seq ON feed (seq);

-- Results of mutating requests, keyed by the caller's Idempotency-Key.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    response TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
