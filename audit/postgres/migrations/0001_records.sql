-- Writ audit trail, schema version 1: chains, their records, and signed checkpoints.

-- One row per chain: its head, locked (SELECT ... FOR UPDATE) by every append, which serialises
-- appenders across processes.
CREATE TABLE writ_audit_chains (
    chain      text        PRIMARY KEY CHECK (chain <> ''),
    head_seq   bigint      NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    head_hash  text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The records. event holds the exact bytes the record's hash covers (audit.Canonical: its JSON
-- with "hash" left out), as bytea so that no encoding conversion or jsonb normalisation can change
-- a byte. time and kind are copies of the event's, for indexed queries; Verify checks them.
-- Query the content with convert_from(event, 'UTF8')::jsonb.
CREATE TABLE writ_audit_records (
    chain     text        NOT NULL,
    seq       bigint      NOT NULL CHECK (seq > 0),
    time      timestamptz NOT NULL,
    kind      text        NOT NULL,
    event     bytea       NOT NULL,
    prev_hash text        NOT NULL,
    hash      text        NOT NULL CHECK (length(hash) = 64),
    PRIMARY KEY (chain, seq)
);

-- Moves a chain's head from (from_seq, from_hash) to (to_seq, to_hash), or fails with SQLSTATE
-- WR001 when the head is elsewhere: another appender got there first. It takes the head's row
-- lock, so an append can run optimistically (move the head, insert, commit) in one round trip.
CREATE FUNCTION writ_audit_move_head(p_chain text, from_seq bigint, from_hash text, to_seq bigint, to_hash text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE writ_audit_chains SET head_seq = to_seq, head_hash = to_hash, updated_at = now()
        WHERE chain = p_chain AND head_seq = from_seq AND head_hash = from_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'writ audit: the head of chain % is no longer record %', p_chain, from_seq
            USING ERRCODE = 'WR001';
    END IF;
END
$$;

CREATE INDEX writ_audit_records_time ON writ_audit_records (chain, time, seq);
CREATE INDEX writ_audit_records_kind_time ON writ_audit_records (chain, kind, time);

-- Signed checkpoints. A signature covers the time to the nanosecond, which timestamptz cannot
-- hold: time_nanos keeps the nanoseconds below time's microsecond.
CREATE TABLE writ_audit_checkpoints (
    chain      text        NOT NULL,
    seq        bigint      NOT NULL CHECK (seq >= 0),
    head       text        NOT NULL,
    time       timestamptz NOT NULL,
    time_nanos integer     NOT NULL CHECK (time_nanos BETWEEN 0 AND 999),
    key_id     text        NOT NULL,
    signature  text        NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, seq, key_id, time, time_nanos)
);

-- Records and checkpoints are append-only for every role, table owners and superusers included:
-- changing them means disabling these triggers first (ALTER TABLE ... DISABLE TRIGGER, which only
-- the table owner or a superuser may do, and which log_statement = 'ddl' records).
CREATE FUNCTION writ_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'writ audit: % on % is not allowed: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'raise_exception',
              HINT = 'audit records and checkpoints can only be added; pruning is not supported';
END
$$;

CREATE TRIGGER writ_audit_records_append_only
    BEFORE UPDATE OR DELETE ON writ_audit_records
    FOR EACH ROW EXECUTE FUNCTION writ_audit_append_only();
CREATE TRIGGER writ_audit_records_no_truncate
    BEFORE TRUNCATE ON writ_audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION writ_audit_append_only();
CREATE TRIGGER writ_audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON writ_audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION writ_audit_append_only();
CREATE TRIGGER writ_audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON writ_audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION writ_audit_append_only();
