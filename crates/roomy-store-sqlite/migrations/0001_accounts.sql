-- Accounts and login sessions. Instants are Unix milliseconds (UTC).
-- AUTOINCREMENT: ids are never reused, so a token naming a deleted session
-- can never come to name a new one.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    nickname       TEXT    NOT NULL,
    avatar         TEXT,
    invite_confirm INTEGER NOT NULL DEFAULT 1 CHECK (invite_confirm IN (0, 1)),
    role           TEXT    NOT NULL CHECK (role IN ('user', 'guest', 'admin')),
    password_hash  TEXT,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, id);
