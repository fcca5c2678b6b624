-- Interactive lessons on the broadcast path too: the LiveKit egress that pushes a lesson's
-- room into its own HLS ingest, kept so that whichever server hears the room finish can
-- stop it.

CREATE TABLE lesson_egress (
    lesson_id TEXT PRIMARY KEY REFERENCES lessons (id),
    egress_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    stopped_at BIGINT
);
