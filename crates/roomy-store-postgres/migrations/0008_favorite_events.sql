-- Favorites reach the user's other devices: `favorited` and `unfavorited`
-- user events (`data` holds the message id, as `hidden` holds its ids).
-- The CHECK of 0004 was declared on the column, so PostgreSQL named it
-- user_events_kind_check; dropping it by that name fails loudly if it is not.
ALTER TABLE user_events
    DROP CONSTRAINT user_events_kind_check,
    ADD CONSTRAINT user_events_kind_check
        CHECK (kind IN ('read', 'hidden', 'left', 'favorited', 'unfavorited'));
