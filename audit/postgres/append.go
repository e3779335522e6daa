package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"writ.dev/writ/audit"
)

// appendReq is one Append call waiting for the commit loop.
type appendReq struct {
	ctx    context.Context
	events []audit.Event
	out    []audit.Event
	err    error
	done   chan struct{}
}

// Append validates events, links them after the chain's head and returns them with Seq,
// PrevHash and Hash set once they are committed. One call is atomic: if any event is invalid
// (audit.ErrInvalidEvent) nothing is written. Concurrent calls on one Store are grouped into one
// transaction (group commit); calls on other Stores, in this process or another, are serialised
// by a row lock on the chain's head.
//
// An error means the events are not known to be durable. Only when ctx ends while the
// transaction is in flight may they be committed after all: the error says so, and Head or Scan
// tells.
func (s *Store) Append(ctx context.Context, events ...audit.Event) ([]audit.Event, error) {
	if len(events) == 0 {
		return nil, nil
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return nil, fmt.Errorf("audit event %d of %d: %w", i+1, len(events), err)
		}
	}
	r := &appendReq{ctx: ctx, events: events, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, fmt.Errorf("audit append: nothing written: %w", ctx.Err())
	}
	select {
	case <-r.done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("audit append: stopped waiting for the commit (%w): the events may still be committed, check Head", ctx.Err())
	}
}

// commitLoop commits queued Appends, grouping those that arrive while a transaction is in flight
// into the next one, until Close.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	for r := range s.reqs {
		batch, n, open := []*appendReq{r}, len(r.events), true
		for open && n < s.opts.MaxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					open = false
					break
				}
				batch = append(batch, r)
				n += len(r.events)
			default:
				open = false
			}
		}
		s.commit(batch)
	}
}

// commit writes a group of Appends in one transaction and wakes their callers.
func (s *Store) commit(batch []*appendReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("audit append: nothing written: %w", err)
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommitTimeout)
	defer cancel()
	err := s.appendTx(ctx, live)
	for _, r := range live {
		if r.err == nil && err != nil {
			r.err, r.out = err, nil
		}
		close(r.done)
	}
}

// columns are the records of one transaction, column by column, for INSERT ... unnest.
type columns struct {
	seq   []int64
	time  []time.Time
	kind  []string
	event [][]byte
	prev  []string
	hash  []string
}

func (c *columns) truncate(n int) {
	c.seq, c.time, c.kind, c.event, c.prev, c.hash = c.seq[:n], c.time[:n], c.kind[:n], c.event[:n], c.prev[:n], c.hash[:n]
}

const (
	insertRecords = `INSERT INTO writ_audit_records (chain, seq, time, kind, event, prev_hash, hash)
	SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::bytea[], $6::text[], $7::text[])`
	lockHead = "SELECT head_seq, head_hash FROM writ_audit_chains WHERE chain = $1 FOR UPDATE"
	moveHead = "SELECT writ_audit_move_head($1, $2, $3, $4, $5)"
	// headMoved is the SQLSTATE writ_audit_move_head raises when the head is not where the
	// appender thought.
	headMoved = "WR001"
)

// appendTx commits the requests' events after the chain's head. When this Store made the last
// append it knows the head, and tries one round trip: BEGIN, move the head (which takes its row
// lock and checks it is still there), insert, COMMIT. When it does not, or another appender moved
// the head meanwhile, it first locks the head and reads it (SELECT ... FOR UPDATE), then does the
// same. Either way the head's row lock serialises appenders across processes.
func (s *Store) appendTx(ctx context.Context, reqs []*appendReq) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("audit append: %w", err)
	}
	defer conn.Release()
	s.headMu.Lock()
	seq, hash, known := s.headSeq, s.headHash, s.headKnown
	s.headKnown = false // until this append commits
	s.headMu.Unlock()
	if known {
		err := s.write(ctx, conn.Conn(), reqs, seq, hash, false)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != headMoved {
			return err
		}
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(lockHead, s.chain).QueryRow(func(row pgx.Row) error {
		var n int64
		err := row.Scan(&n, &hash)
		seq = uint64(n)
		return err
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		rollback(conn.Conn())
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("audit append: chain %q has no head row: reopen the store to create it", s.chain)
		}
		return fmt.Errorf("audit append: locking the chain head: %w", err)
	}
	return s.write(ctx, conn.Conn(), reqs, seq, hash, true)
}

// link links the requests' events after (seq, hash) into columns. A request whose events cannot
// be encoded fails alone, with audit.ErrInvalidEvent.
func link(reqs []*appendReq, seq uint64, hash string) (cols columns, lastSeq uint64, lastHash string) {
	for _, r := range reqs {
		mark, markSeq, markHash := len(cols.seq), seq, hash
		r.out, r.err = make([]audit.Event, 0, len(r.events)), nil
		for _, e := range r.events {
			linked, err := audit.Link(e, seq, hash)
			var canon []byte
			if err == nil {
				canon, err = audit.Canonical(linked)
			}
			if err != nil {
				r.err = fmt.Errorf("%w: %s event cannot be encoded: %v", audit.ErrInvalidEvent, e.Kind, err)
				r.out = nil
				cols.truncate(mark)
				seq, hash = markSeq, markHash
				break
			}
			cols.seq = append(cols.seq, int64(linked.Seq))
			cols.time = append(cols.time, linked.Time.Truncate(time.Microsecond))
			cols.kind = append(cols.kind, string(linked.Kind))
			cols.event = append(cols.event, canon)
			cols.prev = append(cols.prev, linked.PrevHash)
			cols.hash = append(cols.hash, linked.Hash)
			r.out = append(r.out, linked)
			seq, hash = linked.Seq, linked.Hash
		}
	}
	return cols, seq, hash
}

// write links the requests after (seq, hash) and, in one round trip, moves the head there (in the
// transaction begun by the caller when inTx, else in a new one), inserts the records and commits.
func (s *Store) write(ctx context.Context, conn *pgx.Conn, reqs []*appendReq, seq uint64, hash string, inTx bool) error {
	cols, toSeq, toHash := link(reqs, seq, hash)
	if len(cols.seq) == 0 { // every request failed alone
		rollback(conn)
		s.setHead(seq, hash)
		return nil
	}
	b := &pgx.Batch{}
	if !inTx {
		b.Queue("BEGIN")
	}
	b.Queue(moveHead, s.chain, int64(seq), hash, int64(toSeq), toHash)
	b.Queue(insertRecords, s.chain, cols.seq, cols.time, cols.kind, cols.event, cols.prev, cols.hash)
	b.Queue("COMMIT")
	res := conn.SendBatch(ctx, b)
	var err error
	for i := 0; i < b.Len() && err == nil; i++ {
		_, err = res.Exec()
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) { // the server refused a statement: nothing was committed
			rollback(conn)
			if pgErr.Code == headMoved {
				return err
			}
			return fmt.Errorf("audit append: writing %d records: %w", len(cols.seq), err)
		}
		// The connection failed after the whole pipeline, COMMIT included, was sent: look.
		if ok, _ := s.committed(toSeq, toHash); !ok {
			rollback(conn)
			return fmt.Errorf("audit append: writing %d records: %w", len(cols.seq), err)
		}
	}
	s.commits.Add(1)
	s.setHead(toSeq, toHash)
	return nil
}

// setHead records the head as this Store last saw it committed.
func (s *Store) setHead(seq uint64, hash string) {
	s.headMu.Lock()
	s.headSeq, s.headHash, s.headKnown = seq, hash, true
	s.headMu.Unlock()
}

// rollback ends a transaction that failed, so the connection can be reused.
func rollback(conn *pgx.Conn) {
	if conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "ROLLBACK")
	}
}

// committed resolves an append whose outcome is unknown (the connection failed): it waits for the
// head lock, which the failed session holds until its transaction ends, then looks for the last
// record that append wrote.
func (s *Store) committed(seq uint64, hash string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CommitTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM writ_audit_chains WHERE chain = $1 FOR SHARE", s.chain); err != nil {
		return false, err
	}
	var got string
	err = tx.QueryRow(ctx, "SELECT hash FROM writ_audit_records WHERE chain = $1 AND seq = $2", s.chain, int64(seq)).Scan(&got)
	if err != nil {
		return false, err
	}
	return got == hash, nil
}
