-- What each account wants pushed (per child, for parents; students and teachers have one
-- entry, their own id), the account's own quiet hours, and when each account was last in touch.
--
-- Rows exist only once an account changed something: no row means the defaults (every kind
-- on, no quiet hours of its own), so a county of families costs nothing until they choose.

CREATE TABLE notification_settings (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    -- Minutes after midnight, local time; both NULL when the account keeps no quiet hours.
    quiet_start BIGINT,
    quiet_end BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE notification_kinds (
    user_id TEXT NOT NULL REFERENCES users (id),
    child_id TEXT NOT NULL,
    notices BIGINT NOT NULL,
    homework_graded BIGINT NOT NULL,
    homework_missing BIGINT NOT NULL,
    lesson_starting BIGINT NOT NULL,
    PRIMARY KEY (user_id, child_id)
);

-- The app's last sync or realtime connection per account, written at most once a minute per
-- account: with the last push a provider accepted (pushes in state `sent`), it tells a
-- teacher which parents nothing reaches.
CREATE TABLE account_contacts (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX pushes_user_state ON pushes (user_id, state);

-- The phone number on record, for the school to call a parent the app cannot reach.
ALTER TABLE users ADD COLUMN phone TEXT;
