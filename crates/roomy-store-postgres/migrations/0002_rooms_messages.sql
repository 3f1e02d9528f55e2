-- Rooms, members and messages.

-- Server-wide counters. `message_id` hands out message ids (stream
-- positions) inside the writing transaction, so ids follow commit order.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('message_id', 0);

CREATE TABLE rooms (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
    name            TEXT,
    avatar          TEXT,
    -- "<lower user id>:<higher user id>" for direct rooms: one room per pair.
    direct_key      TEXT UNIQUE,
    created_by      BIGINT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_seq        BIGINT NOT NULL DEFAULT 0,
    last_message_id BIGINT ,
    member_count    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id   BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id),
    role      TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

CREATE TABLE messages (
    id         BIGINT  PRIMARY KEY,
    room_id    BIGINT NOT NULL REFERENCES rooms (id),
    seq        BIGINT NOT NULL,
    sender_id  BIGINT NOT NULL REFERENCES users (id),
    client_id  TEXT,
    kind       TEXT    NOT NULL,
    body       TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT 
);
CREATE UNIQUE INDEX messages_room_seq ON messages (room_id, seq);
CREATE INDEX messages_room_position ON messages (room_id, id);
CREATE UNIQUE INDEX messages_client_id ON messages (room_id, sender_id, client_id)
    WHERE client_id IS NOT NULL;
