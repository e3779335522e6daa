package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"writ.dev/writ/audit"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Chain names the chain the store appends to and reads, so that several clusters can keep
	// separate chains in one database; default "default". Up to 200 printable characters.
	Chain string
	// MaxBatch is about how many events one transaction carries when concurrent Appends are
	// grouped (one Append call is never split); default 2000.
	MaxBatch int
	// PageSize is how many records Scan and Verify read per query; default 2000.
	PageSize int
	// MaxConns is the size of the connection pool; default 4. Appends use one connection at a
	// time; the others serve Scan, Head and Verify.
	MaxConns int32
	// CommitTimeout bounds one append transaction, lock wait included; default 30s.
	CommitTimeout time.Duration
}

// DefaultChain is the chain a Store uses when Options.Chain is empty.
const DefaultChain = "default"

func (o Options) withDefaults() (Options, error) {
	if o.Chain == "" {
		o.Chain = DefaultChain
	}
	if len(o.Chain) > 200 || strings.IndexFunc(o.Chain, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return o, fmt.Errorf("chain name %q must be at most 200 printable characters", o.Chain)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 2000
	}
	if o.PageSize <= 0 {
		o.PageSize = 2000
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 30 * time.Second
	}
	return o, nil
}

// Store is an audit.Store on PostgreSQL. It is safe for concurrent use, and several Stores (in
// one process or many) may append to the same chain.
type Store struct {
	pool  *pgxpool.Pool
	chain string
	opts  Options

	mu       sync.RWMutex // guards closed against sends on reqs
	closed   bool
	reqs     chan *appendReq
	loopDone chan struct{}
	commits  atomic.Uint64 // append transactions committed

	// The head as of this Store's last commit, used (and checked) by the next append.
	headMu    sync.Mutex
	headSeq   uint64
	headHash  string
	headKnown bool
}

var _ audit.Store = (*Store)(nil)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit store is closed")

// Open connects to PostgreSQL, migrates the schema if needed (see Migrate) and returns a Store
// for opts.Chain, creating the chain when it does not exist. Close releases it.
//
// Appends must be durable when they return, so Open sets synchronous_commit=on for its sessions
// unless dsn chooses another durable level; it refuses synchronous_commit=off.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	// pgx redacts passwords from its errors; never add dsn to one.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL connection string: %w", err)
	}
	params := cfg.ConnConfig.RuntimeParams
	switch params["synchronous_commit"] {
	case "":
		params["synchronous_commit"] = "on"
	case "off":
		return nil, errors.New("synchronous_commit=off would let Append return before records are durable: remove it from the connection string")
	}
	if params["application_name"] == "" {
		params["application_name"] = "writ-audit"
	}
	cfg.MaxConns = opts.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := pool.Exec(ctx, "INSERT INTO writ_audit_chains (chain) VALUES ($1) ON CONFLICT (chain) DO NOTHING", opts.Chain); err != nil {
		pool.Close()
		return nil, fmt.Errorf("creating audit chain %q: %w", opts.Chain, err)
	}
	s := &Store{pool: pool, chain: opts.Chain, opts: opts, reqs: make(chan *appendReq, 1024), loopDone: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// Chain returns the name of the store's chain.
func (s *Store) Chain() string { return s.chain }

// Close waits for queued Appends to commit, then closes the connections. Appends after Close fail
// with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.reqs)
	}
	s.mu.Unlock()
	<-s.loopDone
	s.pool.Close()
	return nil
}

// Head returns the last record's sequence and hash ((0, "") when the chain is empty), as of the
// last committed append.
func (s *Store) Head(ctx context.Context) (uint64, string, error) {
	var seq int64
	var hash string
	err := s.pool.QueryRow(ctx, "SELECT head_seq, head_hash FROM writ_audit_chains WHERE chain = $1", s.chain).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", fmt.Errorf("audit chain %q has no head row: reopen the store to create it", s.chain)
	}
	if err != nil {
		return 0, "", fmt.Errorf("reading the audit chain head: %w", err)
	}
	return uint64(seq), hash, nil
}

// record is one row of writ_audit_records.
type record struct {
	seq   int64
	time  time.Time
	kind  string
	event []byte
	prev  string
	hash  string
}

// decode returns the event a record holds, with its Hash from the hash column.
func (r *record) decode() (audit.Event, error) {
	var e audit.Event
	if err := audit.DecodeEvent(r.event, &e); err != nil {
		return e, fmt.Errorf("%w: record %d: stored event is not valid JSON: %v", audit.ErrChain, r.seq, err)
	}
	e.Hash = r.hash
	return e, nil
}

const recordColumns = "seq, time, kind, event, prev_hash, hash"

func scanRecords(rows pgx.Rows, into []record) ([]record, error) {
	defer rows.Close()
	for rows.Next() {
		var r record
		if err := rows.Scan(&r.seq, &r.time, &r.kind, &r.event, &r.prev, &r.hash); err != nil {
			return into, err
		}
		into = append(into, r)
	}
	return into, rows.Err()
}

// page reads up to limit records with seq >= from, in order.
func (s *Store) page(ctx context.Context, from uint64, limit int, into []record) ([]record, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+recordColumns+" FROM writ_audit_records WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3", s.chain, int64(from), limit)
	if err != nil {
		return into, fmt.Errorf("reading audit records from %d: %w", from, err)
	}
	into, err = scanRecords(rows, into)
	if err != nil {
		return into, fmt.Errorf("reading audit records from %d: %w", from, err)
	}
	return into, nil
}

// Scan calls fn for each record with Seq >= from, in order, reading PageSize records per query
// (keyset pagination on seq: no snapshot or connection is held while fn runs). Records are
// immutable and commit in sequence order, so pages never skip one. audit.ErrStop from fn ends
// the scan without error.
func (s *Store) Scan(ctx context.Context, from uint64, fn func(audit.Event) error) error {
	if from == 0 {
		from = 1
	}
	var buf []record
	for {
		var err error
		if buf, err = s.page(ctx, from, s.opts.PageSize, buf[:0]); err != nil {
			return err
		}
		if err := each(buf, fn); err != nil {
			return scanResult(err)
		}
		if len(buf) < s.opts.PageSize {
			return nil
		}
		from = uint64(buf[len(buf)-1].seq) + 1
	}
}

// each calls fn for each record; errStopped reports that fn returned audit.ErrStop.
func each(recs []record, fn func(audit.Event) error) error {
	for i := range recs {
		e, err := recs[i].decode()
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			if errors.Is(err, audit.ErrStop) {
				return errStopped
			}
			return err
		}
	}
	return nil
}

var errStopped = errors.New("scan stopped")

// scanResult turns each's result into Scan's: nil when the callback stopped the scan.
func scanResult(err error) error {
	if err == errStopped {
		return nil
	}
	return err
}

// ScanTime calls fn for each record whose time column is in [since, until), in time order (then
// sequence order), using the (chain, time, seq) index with keyset pagination. A zero until means
// no upper bound. The time column holds the event's time to the microsecond.
func (s *Store) ScanTime(ctx context.Context, since, until time.Time, fn func(audit.Event) error) error {
	if until.IsZero() {
		until = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	}
	var buf []record
	afterTime, afterSeq := since.Truncate(time.Microsecond), int64(0)
	for {
		rows, err := s.pool.Query(ctx, "SELECT "+recordColumns+` FROM writ_audit_records
			WHERE chain = $1 AND (time, seq) > ($2, $3) AND time < $4 ORDER BY time, seq LIMIT $5`,
			s.chain, afterTime, afterSeq, until, s.opts.PageSize)
		if err == nil {
			buf, err = scanRecords(rows, buf[:0])
		}
		if err != nil {
			return fmt.Errorf("reading audit records from %s: %w", afterTime.Format(time.RFC3339Nano), err)
		}
		if err := each(buf, fn); err != nil {
			return scanResult(err)
		}
		if len(buf) < s.opts.PageSize {
			return nil
		}
		afterTime, afterSeq = buf[len(buf)-1].time, buf[len(buf)-1].seq
	}
}

// AddCheckpoint stores a signed checkpoint of this chain. The store checks that c names a record
// of the chain and that record's hash (it cannot check the signature: it holds no public key);
// errors about c wrap audit.ErrCheckpoint. Adding the same checkpoint again is a no-op.
func (s *Store) AddCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	if c.Seq == 0 || c.Head == "" {
		return fmt.Errorf("%w: the checkpoint names no record: sign the head of a non-empty chain", audit.ErrCheckpoint)
	}
	var hash string
	err := s.pool.QueryRow(ctx, "SELECT hash FROM writ_audit_records WHERE chain = $1 AND seq = $2", s.chain, int64(c.Seq)).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: checkpoint at record %d is beyond the head of chain %q: sign a head the store returned", audit.ErrCheckpoint, c.Seq, s.chain)
	}
	if err != nil {
		return fmt.Errorf("checking checkpoint at record %d: %w", c.Seq, err)
	}
	if hash != c.Head {
		return fmt.Errorf("%w: checkpoint at record %d names head %.16s, but the record's hash is %.16s: sign the head the store returned", audit.ErrCheckpoint, c.Seq, c.Head, hash)
	}
	t := c.Time.UTC()
	tag, err := s.pool.Exec(ctx, `INSERT INTO writ_audit_checkpoints (chain, seq, head, time, time_nanos, key_id, signature)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		s.chain, int64(c.Seq), c.Head, t.Truncate(time.Microsecond), t.Nanosecond()%1000, c.KeyID, c.Signature)
	if err != nil {
		return fmt.Errorf("storing checkpoint at record %d: %w", c.Seq, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var sig string
	if err := s.pool.QueryRow(ctx, "SELECT signature FROM writ_audit_checkpoints WHERE chain = $1 AND seq = $2 AND key_id = $3 AND time = $4 AND time_nanos = $5",
		s.chain, int64(c.Seq), c.KeyID, t.Truncate(time.Microsecond), t.Nanosecond()%1000).Scan(&sig); err != nil {
		return fmt.Errorf("storing checkpoint at record %d: %w", c.Seq, err)
	}
	if sig != c.Signature {
		return fmt.Errorf("%w: a checkpoint at record %d by key %s at %s is already stored with another signature", audit.ErrCheckpoint, c.Seq, c.KeyID, t.Format(time.RFC3339Nano))
	}
	return nil
}

// Checkpoints returns the chain's checkpoints in sequence order (then time, then key).
func (s *Store) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, head, time, time_nanos, key_id, signature FROM writ_audit_checkpoints
		WHERE chain = $1 ORDER BY seq, time, time_nanos, key_id`, s.chain)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Checkpoint, error) {
		var c audit.Checkpoint
		var seq int64
		var nanos int32
		err := r.Scan(&seq, &c.Head, &c.Time, &nanos, &c.KeyID, &c.Signature)
		c.Seq, c.Time = uint64(seq), c.Time.UTC().Add(time.Duration(nanos))
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	return out, nil
}
