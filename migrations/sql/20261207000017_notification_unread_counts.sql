-- Each user's unread notifications, kept by the notifications projection (owner:
-- projections::notifications) as the notifications are created and read: counting them at
-- every change cost a scan of all of a user's unread notifications, which grew with them.
CREATE TABLE notification_unread_counts (
    user_id uuid   PRIMARY KEY,
    unread  bigint NOT NULL CHECK (unread >= 0)
);

INSERT INTO notification_unread_counts (user_id, unread)
SELECT recipient_id, count(*) FROM notifications WHERE read_at IS NULL GROUP BY recipient_id;
