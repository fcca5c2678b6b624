-- Replays (异步点播): a lesson's recording transcoded into HLS, reviewed by the school
-- (学校审核) before its audience sees it; each person's place in each replay.

-- A recording upload names its lesson (homework uploads name their homework).
ALTER TABLE uploads ADD COLUMN lesson_id TEXT NOT NULL DEFAULT '';

CREATE TABLE replays (
    id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    progress_percent BIGINT,
    problem TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL,
    duration_ms BIGINT,
    -- JSON array of ReplayRendition, empty until transcoded.
    renditions TEXT NOT NULL DEFAULT '[]',
    owner_id TEXT NOT NULL REFERENCES users (id),
    -- The file transcoded: an upload's blob or a recording's file, kept until it is done.
    input_path TEXT NOT NULL,
    -- The upload or recording it came from; one replay each.
    origin_id TEXT NOT NULL UNIQUE,
    reviewer_id TEXT,
    review_approved BIGINT,
    review_reason TEXT,
    reviewed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX replays_lesson ON replays (lesson_id);
CREATE INDEX replays_status ON replays (status);

CREATE TABLE replay_watch (
    replay_id TEXT NOT NULL REFERENCES replays (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    position_ms BIGINT NOT NULL,
    position_at BIGINT NOT NULL,
    watched_ms BIGINT NOT NULL,
    offline_ms BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (replay_id, user_id)
);
