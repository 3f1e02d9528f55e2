-- Favorites reach the user's other devices: `favorited` and `unfavorited`
-- user events (`data` holds the message id, as `hidden` holds its ids).
--
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt as its
-- documentation describes: a new table, the rows copied, the old one dropped,
-- the new one renamed and its indexes made again. sqlx runs this inside a
-- transaction, so a failure leaves the old table. Foreign keys may stay on:
-- no table references user_events, and the copied rows satisfy their own.
CREATE TABLE user_events_new (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    kind       TEXT    NOT NULL
        CHECK (kind IN ('read', 'hidden', 'left', 'favorited', 'unfavorited')),
    room_id    INTEGER REFERENCES rooms (id),
    actor_id   INTEGER REFERENCES users (id),
    seq        INTEGER,
    data       TEXT,
    created_at INTEGER NOT NULL
);
INSERT INTO user_events_new (id, user_id, kind, room_id, actor_id, seq, data, created_at)
    SELECT id, user_id, kind, room_id, actor_id, seq, data, created_at FROM user_events;
DROP TABLE user_events;
ALTER TABLE user_events_new RENAME TO user_events;
CREATE INDEX user_events_by_user ON user_events (user_id, id);
CREATE INDEX user_events_reads ON user_events (user_id, room_id, actor_id) WHERE kind = 'read';
