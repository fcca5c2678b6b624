-- Homework (同步作业), resumable uploads and stored attachments. Same portable conventions as
-- 0001: TEXT ids, BIGINT ms times and 0/1 flags, '' for none in key columns.

-- A tus upload in progress or finished. The bytes live in the blob store under `id`.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL,
    homework_id TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    completed_at BIGINT,
    sha256 TEXT NOT NULL DEFAULT '',
    -- Set once the upload became an attachment; it can then no longer be deleted by tus.
    attached_at BIGINT
);
CREATE INDEX uploads_owner ON uploads (owner_id, homework_id);
CREATE INDEX uploads_expires ON uploads (expires_at);

-- A finished file that belongs to something (instructions, a submission, feedback). Its id
-- is the upload's id, so the bytes never move.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    homework_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX attachments_homework ON attachments (homework_id);

CREATE TABLE homework (
    id TEXT PRIMARY KEY,
    author_id TEXT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    instructions TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    accepts_late BIGINT NOT NULL,
    accepted_kinds TEXT NOT NULL,
    max_score BIGINT NOT NULL,
    requires_signoff BIGINT NOT NULL,
    max_submission_bytes BIGINT NOT NULL,
    assigned_at BIGINT NOT NULL,
    edited_at BIGINT,
    deleted_at BIGINT,
    last_reminded_at BIGINT
);
CREATE INDEX homework_author ON homework (author_id);

CREATE TABLE homework_classes (
    homework_id TEXT NOT NULL REFERENCES homework (id),
    class_id TEXT NOT NULL REFERENCES classes (id),
    PRIMARY KEY (homework_id, class_id)
);
CREATE INDEX homework_classes_class ON homework_classes (class_id);

CREATE TABLE homework_attachments (
    homework_id TEXT NOT NULL REFERENCES homework (id),
    attachment_id TEXT NOT NULL REFERENCES attachments (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (homework_id, attachment_id)
);

-- The students an assignment was given to, resolved when it was assigned (a student who
-- changes class keeps the work they had).
CREATE TABLE homework_students (
    homework_id TEXT NOT NULL REFERENCES homework (id),
    student_id TEXT NOT NULL,
    class_id TEXT NOT NULL,
    reminded_at BIGINT,
    PRIMARY KEY (homework_id, student_id)
);
CREATE INDEX homework_students_student ON homework_students (student_id);

-- One student's work on one assignment; attempts hold what was handed in.
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    homework_id TEXT NOT NULL REFERENCES homework (id),
    student_id TEXT NOT NULL REFERENCES users (id),
    class_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    signed_off_by TEXT,
    signed_off_at BIGINT,
    sign_off_note TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    UNIQUE (homework_id, student_id)
);

CREATE TABLE submission_attempts (
    submission_id TEXT NOT NULL REFERENCES submissions (id),
    number BIGINT NOT NULL,
    body TEXT NOT NULL,
    submitted_at BIGINT NOT NULL,
    late BIGINT NOT NULL,
    reviewed_by TEXT,
    reviewed_at BIGINT,
    score BIGINT,
    feedback TEXT NOT NULL DEFAULT '',
    voice_attachment_id TEXT,
    PRIMARY KEY (submission_id, number)
);

CREATE TABLE attempt_attachments (
    submission_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    attachment_id TEXT NOT NULL REFERENCES attachments (id),
    position BIGINT NOT NULL,
    PRIMARY KEY (submission_id, number, attachment_id)
);
