-- The phone's side of a push: when the app said it arrived (`received_at`) and when the user
-- tapped it (`opened_at`). Kept beside the gateway's `state`, which stays the provider's
-- outcome, so a teacher's receipt view can tell "on the phone, not read" from "handed to the
-- provider" and from "reached no phone".
ALTER TABLE pushes ADD COLUMN received_at BIGINT;
ALTER TABLE pushes ADD COLUMN opened_at BIGINT;
