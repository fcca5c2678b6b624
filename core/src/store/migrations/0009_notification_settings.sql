-- The account's notification settings (issue 6), one row: the server's copy (protocol
-- NotificationSettings as JSON), and a change made on this phone that the server has not
-- confirmed yet (protocol UpdateNotificationSettings as JSON) with the outbox item carrying
-- it. Screens show the change over the server's copy until the server answers.
CREATE TABLE notification_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    synced TEXT,
    pending TEXT,
    outbox_id INTEGER
);
