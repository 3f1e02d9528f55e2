-- Rooms, members and messages.

-- Server-wide counters. `message_id` hands out message ids (stream
-- positions) inside the writing transaction, so ids follow commit order.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('message_id', 0);

CREATE TABLE rooms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    name            TEXT,
    avatar          TEXT,
    -- "<lower user id>:<higher user id>" for direct rooms: one room per pair.
    direct_key      TEXT UNIQUE,
    created_by      INTEGER NOT NULL REFERENCES users (id),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_message_id INTEGER,
    member_count    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id   INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id),
    role      TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    room_id    INTEGER NOT NULL REFERENCES rooms (id),
    seq        INTEGER NOT NULL,
    sender_id  INTEGER NOT NULL REFERENCES users (id),
    client_id  TEXT,
    kind       TEXT    NOT NULL,
    body       TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, seq);
CREATE INDEX messages_room_position ON messages (room_id, id);
CREATE UNIQUE INDEX messages_client_id ON messages (room_id, sender_id, client_id)
    WHERE client_id IS NOT NULL;
