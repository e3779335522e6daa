package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"writ.dev/writ/audit"
)

// Verify walks the whole chain in one consistent snapshot and returns its head. Every error about
// the chain (rather than the database) wraps audit.ErrChain and names the first bad record; seq and head are then those of the last
// good record (when the chain contradicts a checkpoint, of the last checkpoint it agrees with,
// since any record after that may be the rewritten one). For each record, in sequence order,
// Verify checks that
//
//   - the stored event's bytes hash to the record's hash, and so (with the last check) are exactly
//     the canonical encoding of what they decode to: not a byte can change without notice, even
//     one JSON decoding would forgive,
//   - the row's seq, prev_hash, kind and time columns agree with the event, and
//   - audit.ChainVerifier accepts it: it follows the previous record and its hash is its own;
//
// and then that every checkpoint names a record's true hash and that the head row names the last
// record. Verify cannot check checkpoint signatures, which need the signer's public key.
//
// Records are decoded and checked on all CPUs while the next page is read; only the chain walk
// itself is sequential.
func (s *Store) Verify(ctx context.Context) (seq uint64, head string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, "", fmt.Errorf("verifying the audit chain: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	var headSeq int64
	var headHash string
	if err := tx.QueryRow(ctx, "SELECT head_seq, head_hash FROM writ_audit_chains WHERE chain = $1", s.chain).Scan(&headSeq, &headHash); err != nil {
		return 0, "", fmt.Errorf("verifying the audit chain: reading the head of chain %q: %w", s.chain, err)
	}
	checkpoints, err := s.checkpointsAt(ctx, tx)
	if err != nil {
		return 0, "", err
	}

	v := audit.NewChainVerifier(0, "")
	var vouchedSeq uint64 // the last record a checkpoint confirmed
	var vouchedHash string
	chunks := s.readChunks(ctx, tx)
	defer func() { // stop the reader before the transaction ends: it uses the connection
		cancel()
		for range chunks {
		}
	}()
	for c := range chunks {
		<-c.done
		for i := range c.events {
			e := &c.events[i]
			if err := v.Next(*e); err != nil {
				// Rule out the fast decoder before calling the chain broken.
				var slow audit.Event
				serr := json.Unmarshal(c.recs[i].event, &slow)
				slow.Hash = e.Hash
				if serr != nil || v.Next(slow) != nil {
					seq, head = v.Head()
					return seq, head, err
				}
				*e = slow
			}
			if ck, ok := checkpoints[e.Seq]; ok {
				if ck.Head != e.Hash {
					// The chain is consistent but not the one signed: some record since the
					// last matching checkpoint was rewritten, and its successors rehashed.
					return vouchedSeq, vouchedHash, fmt.Errorf("%w: checkpoint at record %d (key %s) names head %.16s, but the record's hash is %.16s: records %d to %d were rewritten", audit.ErrChain, ck.Seq, ck.KeyID, ck.Head, e.Hash, vouchedSeq+1, e.Seq)
				}
				vouchedSeq, vouchedHash = e.Seq, e.Hash
			}
		}
		if c.err != nil {
			seq, head = v.Head()
			return seq, head, c.err
		}
	}
	seq, head = v.Head()
	switch {
	case seq < uint64(headSeq):
		return seq, head, fmt.Errorf("%w: records %d to %d are missing: the chain ends at %d but its head row says %d", audit.ErrChain, seq+1, headSeq, seq, headSeq)
	case seq > uint64(headSeq) || head != headHash:
		return seq, head, fmt.Errorf("%w: the head row names record %d (%.16s) but the chain ends at record %d (%.16s): records were added or the head was moved outside Writ", audit.ErrChain, headSeq, headHash, seq, head)
	}
	beyond := uint64(0)
	for at := range checkpoints {
		if at > seq && (beyond == 0 || at < beyond) {
			beyond = at
		}
	}
	if beyond > 0 {
		return seq, head, fmt.Errorf("%w: checkpoint at record %d (key %s) is beyond the chain's last record %d: records were removed", audit.ErrChain, beyond, checkpoints[beyond].KeyID, seq)
	}
	return seq, head, nil
}

// checkpointsAt returns the chain's checkpoints by sequence (one per sequence suffices: every
// checkpoint's head was checked against the record when it was added).
func (s *Store) checkpointsAt(ctx context.Context, tx pgx.Tx) (map[uint64]audit.Checkpoint, error) {
	rows, err := tx.Query(ctx, "SELECT seq, head, key_id FROM writ_audit_checkpoints WHERE chain = $1", s.chain)
	if err != nil {
		return nil, fmt.Errorf("verifying the audit chain: reading checkpoints: %w", err)
	}
	out := map[uint64]audit.Checkpoint{}
	var c audit.Checkpoint
	var seq int64
	_, err = pgx.ForEachRow(rows, []any{&seq, &c.Head, &c.KeyID}, func() error {
		c.Seq = uint64(seq)
		if prev, ok := out[c.Seq]; ok && prev.Head != c.Head {
			return fmt.Errorf("%w: checkpoints at record %d disagree: key %s signed %.16s, key %s signed %.16s", audit.ErrChain, c.Seq, prev.KeyID, prev.Head, c.KeyID, c.Head)
		}
		out[c.Seq] = c
		return nil
	})
	if err != nil {
		if errors.Is(err, audit.ErrChain) {
			return nil, err
		}
		return nil, fmt.Errorf("verifying the audit chain: reading checkpoints: %w", err)
	}
	return out, nil
}

// chunk is one page of records on its way through Verify: read in order, decoded and checked in
// parallel, walked in order.
type chunk struct {
	recs   []record
	events []audit.Event // the good prefix of recs, decoded
	err    error         // what is wrong with recs[len(events)], or a read error
	done   chan struct{} // closed when events and err are set
}

// readChunks reads the chain page by page in tx and returns the pages in order; workers decode
// and check each page's records meanwhile. The channel closes after the last page, or after a
// page carrying an error.
func (s *Store) readChunks(ctx context.Context, tx pgx.Tx) <-chan *chunk {
	ordered := make(chan *chunk, 4)
	work := make(chan *chunk, 4)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.events, c.err = checkRecords(c.recs)
				close(c.done)
			}
		}()
	}
	go func() {
		defer func() { close(work); wg.Wait(); close(ordered) }()
		from := int64(1)
		for {
			c := &chunk{done: make(chan struct{})}
			rows, err := tx.Query(ctx, "SELECT "+recordColumns+" FROM writ_audit_records WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3", s.chain, from, s.opts.PageSize)
			if err == nil {
				c.recs, err = scanRecords(rows, make([]record, 0, s.opts.PageSize))
			}
			if err != nil {
				c.err = fmt.Errorf("verifying the audit chain: reading records from %d: %w", from, err)
				close(c.done)
				select {
				case ordered <- c:
				case <-ctx.Done():
				}
				return
			}
			if len(c.recs) == 0 {
				close(c.done)
				return
			}
			select {
			case ordered <- c:
			case <-ctx.Done():
				close(c.done)
				return
			}
			work <- c
			if len(c.recs) < s.opts.PageSize {
				return
			}
			from = c.recs[len(c.recs)-1].seq + 1
		}
	}()
	return ordered
}

// checkRecords decodes records and checks each on its own (not yet against its predecessor),
// stopping at the first bad one.
func checkRecords(recs []record) ([]audit.Event, error) {
	events := make([]audit.Event, 0, len(recs))
	h := sha256.New()
	for i := range recs {
		e, err := checkRecord(&recs[i], h)
		if err != nil {
			return events, err
		}
		events = append(events, e)
	}
	return events, nil
}

func checkRecord(r *record, h hash.Hash) (audit.Event, error) {
	e, err := r.decode()
	if err != nil {
		return e, err
	}
	altered := func(column string, col, content any) error {
		return fmt.Errorf("%w: record %d was altered: its %s column says %v but its content says %v", audit.ErrChain, r.seq, column, col, content)
	}
	switch {
	case e.Seq != uint64(r.seq):
		return e, fmt.Errorf("%w: record %d holds the content of record %d: records were moved or swapped", audit.ErrChain, r.seq, e.Seq)
	case e.PrevHash != r.prev:
		return e, altered("prev_hash", audit.ShortHash(r.prev), audit.ShortHash(e.PrevHash))
	case string(e.Kind) != r.kind:
		return e, altered("kind", r.kind, e.Kind)
	case !e.Time.Truncate(time.Microsecond).Equal(r.time):
		return e, altered("time", r.time.UTC().Format(time.RFC3339Nano), e.Time.UTC().Format(time.RFC3339Nano))
	}
	// The stored bytes must hash to the record's hash. ChainVerifier then checks that the
	// decoded event does too, so the bytes are exactly its canonical encoding: a change JSON
	// decoding would forgive (a key's case, an escape) is caught here.
	var sum [sha256.Size]byte
	var hexSum [2 * sha256.Size]byte
	h.Reset()
	h.Write([]byte(audit.ChainDomain))
	h.Write(r.event)
	hex.Encode(hexSum[:], h.Sum(sum[:0]))
	if string(hexSum[:]) != r.hash {
		return e, fmt.Errorf("%w: record %d was modified: its stored bytes do not hash to its hash", audit.ErrChain, r.seq)
	}
	return e, nil
}
