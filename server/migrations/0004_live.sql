-- Live lessons: who was in the room when (from LiveKit webhooks and viewers' heartbeats),
-- webhook events already handled (LiveKit retries), recordings waiting to become replays.

CREATE TABLE attendance (
    id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    left_at BIGINT
);
CREATE INDEX attendance_lesson ON attendance (lesson_id, user_id);

CREATE TABLE livekit_events (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);

CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL REFERENCES lessons (id),
    source TEXT NOT NULL,
    location TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX recordings_lesson ON recordings (lesson_id);
