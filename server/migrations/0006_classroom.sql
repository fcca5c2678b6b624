-- The live room of a lesson (课堂互动): raised hands, who is on stage, chat with mutes and a
-- per-person rate limit, and in-class quizzes whose results stay with the lesson. Kept in the
-- database, not in one process's memory, so a phone that joins late or reconnects to another
-- server process reads the same room.

CREATE TABLE classroom_hands (
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    class_id TEXT,
    raised_at BIGINT NOT NULL,
    PRIMARY KEY (lesson_id, user_id)
);

CREATE TABLE classroom_stage (
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    since BIGINT NOT NULL,
    PRIMARY KEY (lesson_id, user_id)
);

CREATE TABLE classroom_chat (
    id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    author_id TEXT NOT NULL REFERENCES users (id),
    body TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    deleted_by TEXT,
    deleted_at BIGINT
);
CREATE INDEX classroom_chat_lesson ON classroom_chat (lesson_id, sent_at);

-- The chat rate limit as GCRA: the theoretical arrival time of the next message.
CREATE TABLE classroom_chat_budget (
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    tat BIGINT NOT NULL,
    PRIMARY KEY (lesson_id, user_id)
);

CREATE TABLE classroom_mutes (
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    until_at BIGINT NOT NULL,
    muted_by TEXT NOT NULL,
    PRIMARY KEY (lesson_id, user_id)
);

CREATE TABLE classroom_quizzes (
    id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    question TEXT NOT NULL,
    -- A JSON array of the option texts.
    options TEXT NOT NULL,
    correct BIGINT,
    opened_by TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX classroom_quizzes_lesson ON classroom_quizzes (lesson_id, opened_at);

CREATE TABLE classroom_answers (
    quiz_id TEXT NOT NULL REFERENCES classroom_quizzes (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    option_index BIGINT NOT NULL,
    answered_at BIGINT NOT NULL,
    PRIMARY KEY (quiz_id, user_id)
);
