-- Accounts and login sessions. Instants are Unix milliseconds (UTC), as in
-- the SQLite schema, so both backends share row types.
CREATE TABLE users (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       TEXT    NOT NULL,
    nickname       TEXT    NOT NULL,
    avatar         TEXT,
    invite_confirm BOOLEAN NOT NULL DEFAULT TRUE,
    role           TEXT    NOT NULL CHECK (role IN ('user', 'guest', 'admin')),
    password_hash  TEXT,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));

CREATE TABLE sessions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, id);
