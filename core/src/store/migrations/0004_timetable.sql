-- The account's timetable (server copies, JSON as received), the changes (moved, cancelled)
-- the person has not looked at yet, and the lessons already reminded of.
CREATE TABLE lessons (
    id TEXT PRIMARY KEY,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    lesson TEXT NOT NULL
);
CREATE INDEX lessons_by_start ON lessons (starts_at);

CREATE TABLE lesson_changes (
    lesson_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (lesson_id, kind, at)
);

CREATE TABLE lesson_reminders (
    lesson_id TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    PRIMARY KEY (lesson_id, starts_at)
);
