package segment

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"writ.dev/writ/audit"
)

// DefaultMaxSegmentSize is the segment size at which a new segment starts, unless Options says.
const DefaultMaxSegmentSize = 64 << 20

// Options tunes a Log. The zero value is a good default.
type Options struct {
	// MaxSegmentSize is the size in bytes after which appends go to a new segment file; default
	// DefaultMaxSegmentSize, at least 1 KiB. A record larger than this gets a segment of its own.
	MaxSegmentSize int64
	// IndexInterval is how many bytes of a segment lie between two sparse index entries; default
	// 64 KiB. Smaller makes Scan from the middle of a segment read less.
	IndexInterval int64
	// MaxBatch caps how many records one group commit (one write and one fsync) carries;
	// default 4096. Appends waiting when a commit starts all join it up to this cap.
	MaxBatch int
	// BatchDelay is how long the writer waits for more appends before a commit that is not
	// full. The default, 0, adapts: the writer waits for about as many appends as the last
	// commit carried, for at most half the last fsync's duration (and 1ms), which lets appenders
	// that were just acknowledged join the next commit. A negative value never waits: each
	// commit takes only what is already queued.
	BatchDelay time.Duration
	// Now is the clock that stamps new segments' creation time; default time.Now.
	Now func() time.Time
	// Logger receives what recovery did on Open (a torn tail truncated, an index rebuilt);
	// default slog.Default().
	Logger *slog.Logger
	// VerifyOnOpen makes Open verify the whole chain, as Verify does, instead of the last
	// segment and the consistency of the others.
	VerifyOnOpen bool
}

func (o Options) withDefaults() Options {
	if o.MaxSegmentSize <= 0 {
		o.MaxSegmentSize = DefaultMaxSegmentSize
	}
	o.MaxSegmentSize = max(o.MaxSegmentSize, 1<<10)
	if o.IndexInterval <= 0 {
		o.IndexInterval = 64 << 10
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Log is a segmented, append-only, hash-chained audit log in one directory. It implements
// audit.Store and is safe for concurrent use; one process at a time may open a directory.
type Log struct {
	dir  string
	opts Options
	lock interface{ Close() error }

	sendMu  sync.RWMutex // write-locked by Close; guards closed against sends on reqs
	closed  bool
	isDone  atomic.Bool
	reqs    chan *request
	done    chan struct{} // closed when the writer goroutine has exited
	w       *writer       // owned by the writer goroutine
	commits atomic.Uint64 // group commits (fsyncs) so far

	mu   sync.RWMutex // guards the committed state below, published by the writer after fsync
	segs []*segment
	head uint64
	hash string

	ckMu sync.Mutex
	ck   *checkpointLog

	repairs []func() error // what Open does once the log has been checked

	removeOnClose string // OpenCopy's temporary directory
}

// segment describes one segment file. name, base, prevHash and created never change; the rest is
// the committed (fsynced and acknowledged) state, guarded by Log.mu.
type segment struct {
	name     string
	base     uint64 // first record's sequence
	prevHash string // hash of record base-1 ("" for the first segment)
	created  time.Time

	size     int64  // committed bytes, header included
	last     uint64 // last committed record (base-1 when empty)
	lastHash string
	index    []indexEntry // sparse: the first record, then one per IndexInterval bytes
	sealed   bool
}

var _ audit.Store = (*Log)(nil)

type request struct {
	events []audit.Event
	out    []audit.Event
	err    error
	done   chan struct{}
}

// Append validates events, links them after the current head and returns them with Seq, PrevHash
// and Hash set once they are durable (written and fsynced). Invalid events are rejected before
// anything is written. Concurrent appends are group-committed: one write and one fsync for every
// append waiting. If ctx ends first Append returns its error, and the events may or may not have
// been stored.
func (l *Log) Append(ctx context.Context, events ...audit.Event) ([]audit.Event, error) {
	if l.isDone.Load() {
		return nil, ErrClosed
	}
	if len(events) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	r := &request{events: append([]audit.Event(nil), events...), done: make(chan struct{})}
	l.sendMu.RLock()
	if l.closed {
		l.sendMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case l.reqs <- r:
		l.sendMu.RUnlock()
	case <-ctx.Done():
		l.sendMu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the events were queued and may still be stored", ctx.Err())
	}
}

// Head returns the last committed record's sequence and hash ((0, "") when the log is empty).
func (l *Log) Head(context.Context) (uint64, string, error) {
	if l.isDone.Load() {
		return 0, "", ErrClosed
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.head, l.hash, nil
}

// Close commits the appends already queued, stops the writer and closes the files. Appends after
// Close return ErrClosed. Closing twice is a no-op.
func (l *Log) Close() error {
	l.sendMu.Lock()
	if l.closed {
		l.sendMu.Unlock()
		return nil
	}
	l.closed = true
	close(l.reqs)
	l.sendMu.Unlock()
	<-l.done
	l.isDone.Store(true)
	err := l.w.close()
	l.ckMu.Lock()
	if cerr := l.ck.close(); err == nil {
		err = cerr
	}
	l.ckMu.Unlock()
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	if l.removeOnClose != "" {
		if rerr := os.RemoveAll(l.removeOnClose); err == nil {
			err = rerr
		}
	}
	return err
}

// SegmentInfo describes one segment file, for metrics and operators.
type SegmentInfo struct {
	Name     string    `json:"name"`
	FirstSeq uint64    `json:"firstSeq"`
	LastSeq  uint64    `json:"lastSeq"` // FirstSeq-1 when the segment has no records yet
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	Sealed   bool      `json:"sealed"`
}

// Segments lists the log's segment files in order; the last one is being appended to.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{Name: s.name, FirstSeq: s.base, LastSeq: s.last, Size: s.size, Created: s.created, Sealed: s.sealed}
	}
	return out
}

// snapshot copies the committed state of the segments holding records from seq on.
func (l *Log) snapshot(from uint64) ([]segment, uint64, string) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > from })-1, 0)
	out := make([]segment, 0, len(l.segs)-i)
	for _, s := range l.segs[i:] {
		out = append(out, *s)
	}
	return out, l.head, l.hash
}
