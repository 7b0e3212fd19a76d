-- 0001: the record store. Runs with search_path set to the store's schema,
-- inside the migration transaction (see migrate.go).
--
-- Kinds, keys and index fields are bytea, not text: a Go string may hold any
-- bytes (NUL and invalid UTF-8 included), which text columns refuse, and
-- bytea compares byte by byte, which is the key order delivery.Store
-- requires (what COLLATE "C" gives text, for every string).

-- The store-wide revision counter: exactly one row. Every write transaction
-- starts by incrementing it with UPDATE … RETURNING; the row lock that takes
-- is held until COMMIT, so writers commit in revision order (see write.go).
CREATE TABLE revision (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    rev bigint  NOT NULL CHECK (rev >= 0)
);
INSERT INTO revision (id, rev) VALUES (true, 0);

-- Every live record and every tombstone (deleted = true, data and index
-- NULL), with the revision of the write that last changed it.
CREATE TABLE records (
    kind         bytea   NOT NULL,
    key          bytea   NOT NULL,
    rev          bigint  NOT NULL,
    deleted      boolean NOT NULL DEFAULT false,
    index_names  bytea[],
    index_values bytea[],
    data         bytea,
    PRIMARY KEY (kind, key),
    CHECK (deleted = (data IS NULL))
);

-- The change feed: Changes reads WHERE rev > $1 ORDER BY rev, kind, key.
CREATE INDEX records_by_revision ON records (rev, kind, key);

-- One row per index field of every live record, so that List with
-- IndexName and IndexValue walks exactly the matching keys in order.
CREATE TABLE record_index (
    kind  bytea NOT NULL,
    name  bytea NOT NULL,
    value bytea NOT NULL,
    key   bytea NOT NULL,
    PRIMARY KEY (kind, name, value, key)
);
