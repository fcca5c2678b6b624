-- The timetable (排课): lessons taught from a lead class to receiving classes in the link group.

CREATE TABLE lessons (
    id TEXT PRIMARY KEY,
    series_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    lead_teacher_id TEXT NOT NULL REFERENCES users (id),
    scheduled_by TEXT NOT NULL REFERENCES users (id),
    moved_from BIGINT,
    cancelled_at BIGINT,
    cancel_reason TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX lessons_time ON lessons (starts_at, ends_at);
CREATE INDEX lessons_series ON lessons (series_id, starts_at);

-- The classes of a lesson: the lead class (lead = 1) and the receiving ones.
CREATE TABLE lesson_classes (
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    class_id TEXT NOT NULL REFERENCES classes (id),
    lead BIGINT NOT NULL,
    assistant_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (lesson_id, class_id)
);
CREATE INDEX lesson_classes_class ON lesson_classes (class_id);

-- Everyone who teaches in a lesson (the lead and the assistants), for teacher clashes.
CREATE TABLE lesson_staff (
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (lesson_id, user_id)
);
CREATE INDEX lesson_staff_user ON lesson_staff (user_id);
