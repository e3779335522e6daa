package segment

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"writ.dev/writ/audit"
)

// writer is the single goroutine that links, writes and fsyncs records. Everything in it is
// owned by that goroutine; what readers may see is published into Log under Log.mu after each
// fsync.
type writer struct {
	l    *Log
	f    *os.File // the active segment, opened for appending
	seg  *segment
	size int64 // bytes in the active segment, including those still in buf
	last uint64
	hash string
	idx  []indexEntry // the active segment's sparse index, including unpublished entries
	buf  []byte       // frames not yet written

	failed       error
	lastSync     time.Duration // how long the last commit's write and fsync took
	lastRequests int           // how many appends the last commit carried
	pending      []segment     // final state of segments sealed during this commit
	created      []*segment    // segments created during this commit
}

// run is the writer goroutine: it takes every append waiting (up to MaxBatch records), commits
// them with one write and one fsync, and repeats until Close closes reqs.
func (w *writer) run() {
	defer close(w.l.done)
	var batch []*request
	for {
		r, ok := <-w.l.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		open := w.collect(&batch, len(r.events))
		w.commit(batch)
		clear(batch)
		if !open {
			return
		}
	}
}

// collect adds waiting requests to batch; it reports false once reqs is closed.
//
// With the default BatchDelay it waits a little for the appenders the previous commit just
// acknowledged: they usually come straight back, and without the wait they would miss this commit
// and wait for a whole extra fsync, splitting appenders into two groups that alternate, each
// getting half the commits. The wait ends as soon as as many appends are queued as the last
// commit carried, and lasts at most half the last fsync's duration (at most 1ms), so a lone
// appender pays nothing and a burst pays a fraction of the fsync it is about to share.
func (w *writer) collect(batch *[]*request, n int) bool {
	wait, target := w.l.opts.BatchDelay, w.l.opts.MaxBatch+1
	if wait == 0 {
		wait, target = min(w.lastSync/2, time.Millisecond), w.lastRequests
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for n < w.l.opts.MaxBatch {
		var r *request
		var ok bool
		select {
		case r, ok = <-w.l.reqs:
		default:
			if wait <= 0 || len(*batch) >= target {
				return true
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			}
			select {
			case r, ok = <-w.l.reqs:
			case <-timer.C:
				return true
			}
		}
		if !ok {
			return false
		}
		*batch = append(*batch, r)
		n += len(r.events)
	}
	return true
}

// commit links, writes and fsyncs a batch, then publishes it and acknowledges each request.
func (w *writer) commit(batch []*request) {
	w.pending, w.created = w.pending[:0], w.created[:0]
	w.lastRequests = len(batch)
	var written []*request
	for _, r := range batch {
		if w.failed != nil {
			r.err = w.failed
			continue
		}
		payloads, err := w.link(r)
		if err != nil {
			r.err = err
			continue
		}
		for i, p := range payloads {
			if err := w.add(r.out[i].Seq, r.out[i].Hash, p); err != nil {
				w.fail(err)
				break
			}
		}
		written = append(written, r)
	}
	if w.failed == nil && len(written) > 0 {
		start := time.Now()
		if err := w.flush(); err != nil {
			w.fail(err)
		}
		w.lastSync = time.Since(start)
		w.l.commits.Add(1)
	}
	if w.failed != nil {
		for _, r := range written {
			r.out, r.err = nil, w.failed
		}
	} else if len(written) > 0 {
		w.publish()
	}
	for _, r := range batch {
		close(r.done)
	}
}

// link chains r's events after the writer's head and encodes them. On error nothing changes.
func (w *writer) link(r *request) ([][]byte, error) {
	seq, hash := w.last, w.hash
	out := make([]audit.Event, len(r.events))
	payloads := make([][]byte, len(r.events))
	for i, e := range r.events {
		le, err := audit.Link(e, seq, hash)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		p, err := json.Marshal(le)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		if len(p) > MaxRecordSize {
			return nil, fmt.Errorf("event %d encodes to %d bytes, over the %d-byte limit: record references and digests, not contents", i, len(p), MaxRecordSize)
		}
		out[i], payloads[i] = le, p
		seq, hash = le.Seq, le.Hash
	}
	r.out = out
	return payloads, nil
}

// add buffers the frame of record seq, starting a new segment first if this one is full.
func (w *writer) add(seq uint64, hash string, payload []byte) error {
	n := int64(frameHeaderSize + len(payload))
	if w.size+n > w.l.opts.MaxSegmentSize && w.size > segmentHeaderSize {
		if err := w.rollover(); err != nil {
			return err
		}
	}
	if len(w.idx) == 0 || w.size-w.idx[len(w.idx)-1].off >= w.l.opts.IndexInterval {
		w.idx = append(w.idx, indexEntry{seq: seq, off: w.size})
	}
	w.buf = appendFrame(w.buf, seq, payload)
	w.size += n
	w.last, w.hash = seq, hash
	return nil
}

// flush writes the buffered frames and fsyncs the active segment.
func (w *writer) flush() error {
	if len(w.buf) > 0 {
		if _, err := w.f.Write(w.buf); err != nil {
			return err
		}
		w.buf = w.buf[:0]
	}
	return w.f.Sync()
}

// rollover makes the active segment durable, seals it (writes its index file) and starts the next
// segment, whose header names the last record's hash.
func (w *writer) rollover() error {
	if err := w.flush(); err != nil {
		return err
	}
	sealed := *w.seg
	sealed.size, sealed.last, sealed.lastHash, sealed.index, sealed.sealed = w.size, w.last, w.hash, w.idx, true
	x := sealedIndex{base: sealed.base, last: sealed.last, lastHash: sealed.lastHash, size: sealed.size, entries: sealed.index}
	if err := writeFileAtomic(w.l.dir, indexName(sealed.base), x.marshal()); err != nil {
		return fmt.Errorf("seal segment %s: %w", sealed.name, err)
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	w.pending = append(w.pending, sealed)
	seg := &segment{name: segmentName(w.last + 1), base: w.last + 1, prevHash: w.hash, created: w.l.opts.Now().UTC()}
	f, err := createSegment(w.l.dir, seg)
	if err != nil {
		return err
	}
	seg.last, seg.lastHash, seg.size = seg.base-1, seg.prevHash, segmentHeaderSize
	w.f, w.seg, w.size, w.idx = f, seg, segmentHeaderSize, nil
	w.created = append(w.created, seg)
	return nil
}

// createSegment creates seg's file with its header, durably (file and directory fsynced), and
// opens it for appending.
func createSegment(dir string, seg *segment) (*os.File, error) {
	path := filepath.Join(dir, seg.name)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create segment %s: it already exists; remove stray files from %s", seg.name, dir)
	}
	hdr, err := segmentHeader{base: seg.base, created: seg.created, prevHash: seg.prevHash}.marshal()
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(dir, seg.name, hdr); err != nil {
		return nil, fmt.Errorf("create segment %s: %w", seg.name, err)
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
}

// publish makes the commit visible to Head, Scan and Verify.
func (w *writer) publish() {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range w.pending {
		for _, s := range l.segs {
			if s.base == p.base {
				*s = p
			}
		}
		for _, s := range w.created {
			if s.base == p.base {
				*s = p
			}
		}
	}
	l.segs = append(l.segs, w.created...)
	w.seg.size, w.seg.last, w.seg.lastHash, w.seg.index = w.size, w.last, w.hash, w.idx
	l.head, l.hash = w.last, w.hash
}

func (w *writer) fail(err error) {
	w.failed = fmt.Errorf("audit log write failed, so the log accepts no more appends: close and reopen it to recover: %w", err)
}

// close makes everything written durable and closes the active segment.
func (w *writer) close() error {
	if w.f == nil {
		return w.failed
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}
