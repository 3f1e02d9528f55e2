-- Invite links to groups. Only the SHA-256 (hex) of a link's token is kept:
-- a copy of the database must not hold working join links.
CREATE TABLE invites (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    -- NULL: any number of joins.
    max_uses   INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
    -- Counted in the joining transaction, which holds the row.
    uses       INTEGER NOT NULL DEFAULT 0
               CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)),
    revoked_at INTEGER
);
-- A room's list, newest first.
CREATE INDEX invites_by_room ON invites (room_id, id);
