-- An account's link to a phone belongs to the session that registered it: signing out on the
-- server (or the session ending any other way) removes that phone's link, so a signed-out
-- phone gets no more pushes for the account even when its own farewell cannot be sent. Links
-- made before this migration have no session ('') and stay until unlinked.
ALTER TABLE device_accounts ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX device_accounts_session ON device_accounts (session_id);
