-- The chunks of unfinished uploads whose bytes live in an object store
-- (S3, OSS), so that any node can continue any upload: each accepted chunk
-- is an object of its own, `uploads/<upload id>/<offset>_<random>`. A row
-- is written in the transaction that moves the upload's offset past the
-- chunk (compare-and-set from `start_offset`), so the objects listed here
-- are exactly the chunks that count; an object whose writer lost the race,
-- or died before committing, is never named here and goes with its upload's
-- prefix. The random part keeps two writers racing at one offset from
-- overwriting each other's object. Uploads kept on local disk have no rows.
CREATE TABLE upload_parts (
    upload_id    BIGINT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL CHECK (start_offset >= 0),
    end_offset   BIGINT NOT NULL CHECK (end_offset > start_offset),
    storage_key  TEXT   NOT NULL,
    PRIMARY KEY (upload_id, start_offset)
);
