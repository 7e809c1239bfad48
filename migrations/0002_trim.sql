-- Trimming the log of record (issue 16): every node reports, per hall, the last row its own
-- store holds; rows every known node holds are no longer needed for any replay and go.
-- Never edit a migration that has shipped: add the next number.

-- node, hall → the id of the last hallq_log row of the hall that node's store holds.
CREATE TABLE hallq_applied (
    node       text NOT NULL,
    hall       text NOT NULL,
    applied    bigint NOT NULL,
    PRIMARY KEY (node, hall)
);

-- hall → every row of the hall up to this id has been deleted. A node whose store is behind
-- it cannot catch up by replay and refuses to adopt the hall (docs/CLUSTER.md).
CREATE TABLE hallq_trimmed (
    hall       text PRIMARY KEY,
    upto       bigint NOT NULL
);
