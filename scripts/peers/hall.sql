-- hallq's hall lifecycle on PostgreSQL, for scripts/peers/run: the same operations, keys and
-- policy as hall.lua, as tables and PL/pgSQL functions. pgbench runs step.sql: one transaction
-- per operation (autocommit), one statement, one round trip, as one HTTP request is one
-- operation of hallq-loadtest.
--
-- Locking, as a hall system on PostgreSQL needs it to never double-call: a step locks its
-- window's row first (FOR UPDATE), so a window runs one operation at a time; an issue
-- serialises on its hall's row (the hall's counter); a call takes the ticket it chooses with
-- FOR UPDATE SKIP LOCKED, so two windows of a hall calling at once take different tickets
-- without waiting on each other. Lock order window -> hall -> service -> ticket, so no deadlock.

CREATE TABLE halls (
  hall int PRIMARY KEY,
  id text NOT NULL,
  seq bigint NOT NULL DEFAULT 0          -- the issue counter: a ticket's id and issue order
);

CREATE TABLE services (
  hall int NOT NULL,
  service int NOT NULL,
  number int NOT NULL DEFAULT 0,         -- the last number given out
  PRIMARY KEY (hall, service)
);

CREATE TABLE windows (
  win int PRIMARY KEY,                   -- 0..267, as in province.awk
  hall int NOT NULL,
  id text NOT NULL,
  services int[] NOT NULL,               -- the window's ranking...
  ranks int[] NOT NULL,                  -- ...and the rank of each, non-decreasing
  state text NOT NULL DEFAULT 'open',    -- open | calling | serving
  cur bigint,                            -- the ticket it holds
  next text NOT NULL DEFAULT 'issue'     -- the load test's next step at this window
);

CREATE TABLE tickets (
  hall int NOT NULL,
  seq bigint NOT NULL,
  service int NOT NULL,
  priority boolean NOT NULL,             -- green channel
  number int NOT NULL,
  state text NOT NULL,                   -- waiting | called | serving | done
  win int,
  issued timestamptz NOT NULL,
  called timestamptz,
  started timestamptz,
  done timestamptz,
  PRIMARY KEY (hall, seq)
);
-- The waiting lanes: per hall and service, green channel and normal, in issue order. Partial,
-- so it holds only what is waiting (hundreds of rows), not the day's tickets.
CREATE INDEX tickets_waiting ON tickets (hall, service, priority, seq) WHERE state = 'waiting';

-- Every call, as hall.lua's calls stream and hallq's call events (displays, statistics).
CREATE TABLE calls (
  hall int NOT NULL,
  seq bigint NOT NULL,
  win int NOT NULL,
  at timestamptz NOT NULL
);

-- A citizen takes a number for one of window w's services; returns the ticket's seq.
CREATE FUNCTION issue(w windows, next_step text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n int := cardinality(w.services);
  s bigint;
  svc int;
  num int;
BEGIN
  UPDATE halls SET seq = seq + 1 WHERE hall = w.hall RETURNING seq INTO s;
  -- As hall.lua: the window's services in turn, every tenth round green channel.
  svc := w.services[s % n + 1];
  UPDATE services SET number = number + 1 WHERE hall = w.hall AND service = svc
    RETURNING number INTO num;
  INSERT INTO tickets (hall, seq, service, priority, number, state, issued)
    VALUES (w.hall, s, svc, (s / n) % 10 = 0, num, 'waiting', now());
  IF next_step IS NOT NULL THEN
    UPDATE windows SET next = next_step WHERE win = w.win;
  END IF;
  RETURN s;
END $$;

-- Window w calls the next ticket it may serve (NULL: nobody waiting). The policy of hall.lua:
-- green channel first, then the window's rank, then issue order.
CREATE FUNCTION call_next(w windows, next_found text, next_nobody text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  s bigint;
BEGIN
  IF w.state <> 'open' THEN
    RAISE EXCEPTION 'window % is %', w.win, w.state;
  END IF;
  SELECT t.seq INTO s
    FROM tickets t
    JOIN unnest(w.services, w.ranks) AS r(service, rank) ON r.service = t.service
   WHERE t.hall = w.hall AND t.state = 'waiting'
   ORDER BY t.priority DESC, r.rank, t.seq
   LIMIT 1
   FOR UPDATE OF t SKIP LOCKED;
  IF s IS NULL THEN
    IF next_nobody IS NOT NULL THEN
      UPDATE windows SET next = next_nobody WHERE win = w.win;
    END IF;
    RETURN NULL;
  END IF;
  UPDATE tickets SET state = 'called', win = w.win, called = now() WHERE hall = w.hall AND seq = s;
  UPDATE windows SET state = 'calling', cur = s, next = coalesce(next_found, next) WHERE win = w.win;
  INSERT INTO calls VALUES (w.hall, s, w.win, now());
  RETURN s;
END $$;

CREATE FUNCTION start(w windows, next_step text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  IF w.state <> 'calling' THEN
    RAISE EXCEPTION 'window % has called nobody', w.win;
  END IF;
  UPDATE tickets SET state = 'serving', started = now() WHERE hall = w.hall AND seq = w.cur;
  UPDATE windows SET state = 'serving', next = coalesce(next_step, next) WHERE win = w.win;
  RETURN w.cur;
END $$;

CREATE FUNCTION complete(w windows, next_step text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  IF w.state NOT IN ('calling', 'serving') THEN
    RAISE EXCEPTION 'window % holds no ticket', w.win;
  END IF;
  UPDATE tickets SET state = 'done', done = now() WHERE hall = w.hall AND seq = w.cur;
  UPDATE windows SET state = 'open', cur = NULL, next = coalesce(next_step, next) WHERE win = w.win;
  RETURN w.cur;
END $$;

-- Lock window `win_no` and run one operation on it: op is issue, call, start or complete, or
-- step (the window's next step of the load test's cycle, as in hall.lua).
CREATE FUNCTION hall_op(op text, win_no int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  w windows;
BEGIN
  SELECT * INTO w FROM windows WHERE win = win_no FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no window %', win_no;
  END IF;
  IF op = 'step' THEN
    op := w.next;
    CASE op
      WHEN 'issue' THEN RETURN issue(w, 'call');
      WHEN 'call' THEN RETURN call_next(w, 'start', 'issue');
      WHEN 'start' THEN RETURN start(w, 'complete');
      ELSE RETURN complete(w, 'issue');
    END CASE;
  END IF;
  CASE op
    WHEN 'issue' THEN RETURN issue(w, NULL);
    WHEN 'call' THEN RETURN call_next(w, NULL, NULL);
    WHEN 'start' THEN RETURN start(w, NULL);
    WHEN 'complete' THEN RETURN complete(w, NULL);
    ELSE RAISE EXCEPTION 'unknown operation %', op;
  END CASE;
END $$;

-- The invariants after a run, as hall.lua's check: every issued ticket exists once and is
-- waiting, held by the one window that names it, or done; every call was recorded once.
CREATE VIEW check_province AS
SELECT (SELECT sum(seq) FROM halls) AS issued,
       count(*) AS tickets,
       count(*) FILTER (WHERE state = 'waiting') AS waiting,
       count(*) FILTER (WHERE state IN ('called', 'serving')) AS held,
       count(*) FILTER (WHERE state = 'done') AS done,
       (SELECT count(*) FROM windows WHERE cur IS NOT NULL) AS windows_holding,
       (SELECT count(*) FROM calls) AS calls,
       (SELECT count(*) FROM windows w LEFT JOIN tickets t ON t.hall = w.hall AND t.seq = w.cur
         WHERE w.cur IS NOT NULL
           AND (t.state IS NULL OR t.state NOT IN ('called', 'serving') OR t.win <> w.win))
         AS windows_wrong
  FROM tickets;
