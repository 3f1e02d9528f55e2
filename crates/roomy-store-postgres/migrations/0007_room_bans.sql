-- Who may not rejoin a group by invite link: written in the transaction of
-- an admin's removal; an owner or admin lifting the ban, or adding the user
-- back, deletes the row. Leaving by oneself writes none.
CREATE TABLE room_bans (
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    -- The admin (or owner) who removed them.
    banned_by  BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
