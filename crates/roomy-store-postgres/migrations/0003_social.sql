-- Follow graph, blocks, friends, friend requests and per-user notices.

-- Bumped in the same transaction as any change to the user's following or
-- followers set: caches hold sets "at version N", readers compare.
ALTER TABLE users ADD COLUMN graph_version BIGINT  NOT NULL DEFAULT 0;

-- How user_id stands towards target_id (seed 001): 0 deleted, 1 follow,
-- 2 blacklist (block). updated_at is the follow (or block) time.
CREATE TABLE relations (
    user_id    BIGINT  NOT NULL REFERENCES users (id),
    target_id  BIGINT  NOT NULL REFERENCES users (id),
    relation   BIGINT  NOT NULL CHECK (relation IN (0, 1, 2)),
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, target_id)
);
CREATE INDEX relations_outgoing ON relations (user_id, relation, updated_at, target_id);
CREATE INDEX relations_incoming ON relations (target_id, relation, updated_at, user_id);

-- Direct rooms only: bit 1 = the pair are not friends, bit 2 = one blocked
-- the other. Sends read it with the room row they read anyway.
ALTER TABLE rooms ADD COLUMN direct_gate BIGINT  NOT NULL DEFAULT 0;
UPDATE rooms SET direct_gate = 1 WHERE kind = 'direct';

CREATE TABLE friend_requests (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_id     BIGINT  NOT NULL REFERENCES users (id),
    to_id       BIGINT  NOT NULL REFERENCES users (id),
    note        TEXT,
    -- The sender's remark for the target, applied on agreement.
    remark      TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'agree', 'refuse', 'ignore')),
    created_at  BIGINT  NOT NULL,
    answered_at BIGINT
);
-- Not twice while one is pending or agreed.
CREATE UNIQUE INDEX friend_requests_open ON friend_requests (from_id, to_id)
    WHERE status IN ('pending', 'agree');
CREATE INDEX friend_requests_incoming ON friend_requests (to_id, id);
CREATE INDEX friend_requests_outgoing ON friend_requests (from_id, id);

-- One row per direction: each side has its own remark.
CREATE TABLE friends (
    user_id   BIGINT  NOT NULL REFERENCES users (id),
    friend_id BIGINT  NOT NULL REFERENCES users (id),
    remark    TEXT,
    since     BIGINT  NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);
CREATE INDEX friends_by_since ON friends (user_id, since, friend_id);

-- What a user must hear of even when offline. ids are stream positions from
-- counters.message_id, so one `since` covers messages and notices.
CREATE TABLE notices (
    id         BIGINT  PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('friend_request', 'friend_accepted')),
    request_id BIGINT  NOT NULL REFERENCES friend_requests (id) ON DELETE CASCADE,
    room_id    BIGINT  REFERENCES rooms (id),
    created_at BIGINT  NOT NULL
);
CREATE INDEX notices_by_user ON notices (user_id, id);

-- Facts about this database. `instance` is random, made once: shared caches
-- key by it, so a database restored or recreated never reads another's entries.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (name, value) VALUES ('instance', substr(md5(random()::text || clock_timestamp()::text), 1, 24));
