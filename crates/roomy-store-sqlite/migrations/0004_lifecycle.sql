-- Message lifecycle and complete groups: read positions, per-member group
-- profiles, dissolved groups, revocation, delete-for-me, favorites, per-user
-- events and the moderation audit log.

-- The member's read position (a seq of the room; only moves forward) and
-- their group-specific nickname and avatar (seed 002 group_users).
ALTER TABLE room_members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE room_members ADD COLUMN nickname TEXT;
ALTER TABLE room_members ADD COLUMN avatar TEXT;

-- Privacy: 0 hides the user's read positions from others (receipts, member lists).
ALTER TABLE users ADD COLUMN read_receipts INTEGER NOT NULL DEFAULT 1
    CHECK (read_receipts IN (0, 1));

-- A dissolved group is read-only; rooms.direct_gate gets bit 4 with it, so
-- the group commit refuses sends without reading anything more.
ALTER TABLE rooms ADD COLUMN dissolved_at INTEGER;

-- System notices that record a change say which (`revoked`, `removed`,
-- `dissolved`...) and, for revocations, the message they are about.
ALTER TABLE messages ADD COLUMN event TEXT;
ALTER TABLE messages ADD COLUMN ref_id INTEGER;
-- Who revoked the message (its sender, or an admin who removed it).
ALTER TABLE messages ADD COLUMN revoked_by INTEGER REFERENCES users (id);
CREATE INDEX messages_by_sender ON messages (sender_id, id);

-- Delete for me: the message stays for everyone else.
CREATE TABLE hidden_messages (
    user_id    INTEGER NOT NULL REFERENCES users (id),
    message_id INTEGER NOT NULL REFERENCES messages (id),
    hidden_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
);

-- Message rows never change but for revocation, so a favorite needs no copy.
CREATE TABLE favorites (
    user_id    INTEGER NOT NULL REFERENCES users (id),
    message_id INTEGER NOT NULL REFERENCES messages (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
);
CREATE INDEX favorites_by_time ON favorites (user_id, created_at, message_id);

-- Per-user events that are not about friend requests, at stream positions
-- from counters.message_id like notices: `read` (a read position moved;
-- one row per reader and room is kept, the newest supersedes), `hidden`
-- (messages deleted for the user; `data` holds their ids), `left` (the user
-- left or was removed from `room_id` by `actor_id`).
CREATE TABLE user_events (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('read', 'hidden', 'left')),
    room_id    INTEGER REFERENCES rooms (id),
    actor_id   INTEGER REFERENCES users (id),
    seq        INTEGER,
    data       TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX user_events_by_user ON user_events (user_id, id);
CREATE INDEX user_events_reads ON user_events (user_id, room_id, actor_id) WHERE kind = 'read';

-- What admins did, to whom, and why.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id    INTEGER NOT NULL REFERENCES users (id),
    action      TEXT    NOT NULL,
    target_type TEXT    NOT NULL,
    target_id   INTEGER NOT NULL,
    reason      TEXT,
    detail      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
