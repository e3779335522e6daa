// Package postgres is an audit.Store on PostgreSQL, for teams that outgrow one volume: several
// webhook replicas, or several clusters, writing one audit trail.
//
// # Chain semantics
//
// The chain is the embedded store's: Append links events after the head with audit.Link (Seq,
// PrevHash, Hash), and Verify walks it with audit.ChainVerifier. Each chain has a head row in
// writ_audit_chains; an append takes its row lock, inserts its records and moves the head in one
// transaction, and returns only after COMMIT, so appenders in any number of processes are
// serialised, the chain stays linear, and a returned record is durable. The store forces
// synchronous_commit=on (or the level the connection string names, unless it is off) for that
// reason. Because the next appender takes the lock only after the previous one commits, records
// become visible in sequence order and a reader never sees a gap.
//
// An append is one pipelined round trip when the Store made the chain's last append and so knows
// the head: BEGIN, writ_audit_move_head (which locks the head row and fails with SQLSTATE WR001
// unless the head is still where the Store left it), INSERT, COMMIT. Otherwise, or after WR001,
// it locks and reads the head first (SELECT ... FOR UPDATE), then does the same. If the connection
// fails mid-append, the store waits for the lock and looks for the append's last record before it
// reports an error, so an error means "not written".
//
// Within a process, Appends that arrive while a transaction is in flight are grouped into the
// next one (group commit, up to Options.MaxBatch events), so the commit's fsync and the round
// trip are paid once per group rather than once per event. One Append call is atomic: its events
// are validated (audit.Event.Validate) before anything is written, and it is never split across
// transactions.
//
// Several clusters keep separate chains in one database by opening the store with different
// Options.Chain names; chains share tables but nothing else, not even the head lock.
//
// # Schema
//
// Versioned SQL files embedded in the binary (migrations/NNNN_name.sql) are applied by Open (or
// Migrate) in one transaction holding a PostgreSQL advisory lock, and recorded with their SHA-256
// in writ_audit_schema, so concurrent Opens apply each once and an edited migration is noticed.
// Tables:
//
//	writ_audit_chains       chain (PK), head_seq, head_hash, created_at, updated_at
//	writ_audit_records      chain, seq (PK chain+seq), time, kind, event, prev_hash, hash
//	                        indexes (chain, time, seq) and (chain, kind, time)
//	writ_audit_checkpoints  chain, seq, head, time, time_nanos, key_id, signature, added_at
//	writ_audit_schema       version, name, sha256, applied_at
//
// The event column is bytea and holds exactly the bytes the hash covers (audit.Canonical), never
// jsonb, which would reorder keys and break every hash; query it with
// convert_from(event, 'UTF8')::jsonb. time and kind duplicate the event's for indexed queries
// (ScanTime) and Verify checks that they agree with it.
//
// # Append-only, and who may change what
//
// Triggers reject UPDATE, DELETE and TRUNCATE on records and checkpoints for every role,
// superusers included. Only a table's owner or a superuser can disable a trigger, so in
// production run Migrate as the owning role and the store as one that may only add:
//
//	GRANT SELECT ON writ_audit_schema TO writ;
//	GRANT SELECT, INSERT, UPDATE ON writ_audit_chains TO writ;
//	GRANT SELECT, INSERT ON writ_audit_records, writ_audit_checkpoints TO writ;
//
// Open then finds the schema current and needs no other privilege. Whoever can disable the
// triggers can still rewrite history, which Verify detects, naming the first bad record, up to
// the newest signed checkpoint an auditor holds; a rewrite beyond it is detected by the
// checkpoint's signature. Pruning is out of scope: the store never deletes. An operator who must
// prune would, as the owner and in one transaction, sign and keep a checkpoint at the cut point,
// export the records before it as evidence, disable the trigger, delete, and re-enable it, with
// log_statement = 'ddl' recording the step. Verify does not yet accept a chain that starts after
// record 1.
//
// # Reading
//
// Scan and ScanTime page through records with keyset pagination (PageSize records per query), so
// neither memory nor a snapshot grows with the chain, and no connection is held while the
// callback runs. Verify reads in one REPEATABLE READ snapshot, decodes and checks pages on all
// CPUs while the next page is read, and runs only the chain walk itself sequentially. Both decode
// records with a parser for exactly what encoding/json writes, falling back to json.Unmarshal for
// anything else, since decoding is most of their cost.
package postgres
