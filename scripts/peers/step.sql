-- pgbench's transaction (scripts/peers/run): the next lifecycle step at one of this client's
-- windows. Client k owns windows k, k + clients, k + 2 clients, ... as hallq-loadtest's worker
-- k does, so a window never has two operations in flight (and two clients never queue on one
-- window's row lock, which would not happen at a real counter either). pgbench -D sets
-- :clients and :windows.
\set w :client_id + :clients * random(0, (:windows - 1 - :client_id) / :clients)
SELECT hall_op('step', :w);
