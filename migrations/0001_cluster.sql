-- Cluster mode (issue 16): nodes, hall leases and the log of record.
-- Applied once by the first hallq node that finds it missing (hallq_schema records it).
-- Never edit a migration that has shipped: add the next number.

-- Every node that ever joined, with the address other nodes redirect to. A node is live
-- while seen_at is within its lease of the database's now().
CREATE TABLE hallq_node (
    node       text PRIMARY KEY,
    advertise  text NOT NULL,
    lease_s    integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per hall: its one owner, until expires_at (the database's clock). epoch is the
-- fencing token: it grows at every acquisition, and an append must name the current one.
CREATE TABLE hallq_lease (
    hall       text PRIMARY KEY,
    owner      text NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The log of record: one row per hall per group commit, holding the same binary record
-- (version byte + postcard) the node appends to its own redb log. id orders a hall's rows:
-- only the lease holder inserts for a hall, serially, under a share lock on its lease row.
CREATE TABLE hallq_log (
    id         bigserial PRIMARY KEY,
    hall       text NOT NULL,
    epoch      bigint NOT NULL,
    node       text NOT NULL,
    record     bytea NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hallq_log_hall ON hallq_log (hall, id);
