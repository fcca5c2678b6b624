-- What a school allows to be pushed and when (quiet hours, a daily cap on each class's
-- notices, the school's offset from UTC), urgent notices, and what the push queue needs for
-- quiet hours, digests and scheduled events.
--
-- A school with no row keeps `PushPolicy::default()`: 21:30–07:00, no cap, UTC+8.

CREATE TABLE push_policies (
    school_id TEXT PRIMARY KEY REFERENCES schools (id),
    quiet_start BIGINT NOT NULL,
    quiet_end BIGINT NOT NULL,
    daily_notice_cap BIGINT,
    utc_offset_minutes BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Urgent notices (closures, safety; school and county admins only) break through quiet
-- hours, the daily cap and parents' settings.
ALTER TABLE notices ADD COLUMN urgent BIGINT NOT NULL DEFAULT 0;

-- The school whose quiet hours and offset a push keeps (the recipient's child's school).
ALTER TABLE pushes ADD COLUMN school_id TEXT;
-- What tapping the push opens when that is not `event_id` (homework: the assignment, while the
-- event is one student's work).
ALTER TABLE pushes ADD COLUMN item_id TEXT;
-- The push whose message carried this one as part of a digest ("3 new notices").
ALTER TABLE pushes ADD COLUMN digest_of TEXT;
-- A sender's claimed rows (read back after every claim).
CREATE INDEX pushes_claim ON pushes (claim);
-- A phone's recent pushes, for the digest window.
CREATE INDEX pushes_recipient ON pushes (user_id, device_id, finished_at);
-- Counting a class's notices of the day.
CREATE INDEX notice_classes_class ON notice_classes (class_id);

-- Events the scheduler turned into pushes (a homework's deadline passed, a lesson about to
-- start): the key is inserted in the transaction that queues the pushes, so each event is
-- handled once across restarts and across servers sharing one PostgreSQL.
CREATE TABLE push_events (
    key TEXT PRIMARY KEY,
    handled_at BIGINT NOT NULL
);
