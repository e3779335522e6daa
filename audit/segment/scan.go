package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"writ.dev/writ/audit"
)

// Scan calls fn for each committed record with Seq >= from, in order, until fn returns an error
// (returned as is, except audit.ErrStop, which ends the scan without error) or the records end.
// It finds the first record through the segment names and the sparse index, checks the
// checksum, sequence and link to its predecessor of every record it returns, and returns a
// *CorruptError at the first that fails. It does not recompute hashes; Verify does.
//
// Records appended while a scan runs are not seen: the scan covers the log as it was when it
// started.
func (l *Log) Scan(ctx context.Context, from uint64, fn func(audit.Event) error) error {
	if l.isDone.Load() {
		return ErrClosed
	}
	from = max(from, 1)
	segs, head, _ := l.snapshot(from)
	if from > head {
		return nil
	}
	s := &scanner{ctx: ctx, dir: l.dir, from: from, fn: fn}
	for i := range segs {
		if segs[i].last < segs[i].base {
			continue // no records yet
		}
		if err := s.segment(segs[i]); err != nil {
			if errors.Is(err, audit.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

type scanner struct {
	ctx      context.Context
	dir      string
	from     uint64
	fn       func(audit.Event) error
	prevHash string // hash of the record before the next one, once a record was read
	started  bool
	buf      *frameReader
	n        int
}

// segment scans one segment's committed records from s.from.
func (s *scanner) segment(seg segment) error {
	f, err := os.Open(filepath.Join(s.dir, seg.name))
	if err != nil {
		return corrupt(seg.name, 0, max(s.from, seg.base), "cannot read the segment: %v", err)
	}
	defer f.Close()
	// The last index entry at or before from: where reading starts.
	start := indexEntry{seq: seg.base, off: segmentHeaderSize}
	if i := sort.Search(len(seg.index), func(i int) bool { return seg.index[i].seq > s.from }); i > 0 {
		start = seg.index[i-1]
	}
	if _, err := f.Seek(start.off, io.SeekStart); err != nil {
		return err
	}
	if s.buf == nil {
		s.buf = newFrameReader(f, start.off, seg.size, 64<<10)
	} else {
		s.buf.r.Reset(f)
		s.buf.off, s.buf.end = start.off, seg.size
	}
	want := start.seq
	var e audit.Event
	for {
		if s.n++; s.n%256 == 0 {
			if err := s.ctx.Err(); err != nil {
				return err
			}
		}
		off := s.buf.off
		seq, payload, err := s.buf.next(want < s.from)
		if err == io.EOF {
			if want != seg.last+1 {
				return corrupt(seg.name, off, want, "the segment ends before record %d, its last committed record", seg.last)
			}
			return nil
		}
		if isFrameError(err) {
			return corrupt(seg.name, off, want, "%v", err)
		}
		if err != nil {
			return fmt.Errorf("read segment %s: %w", seg.name, err)
		}
		if seq != want {
			return &CorruptError{File: seg.name, Offset: off, Seq: want, Err: fmt.Errorf("%w: found record %d where record %d belongs", audit.ErrChain, seq, want)}
		}
		want++
		if payload == nil {
			continue // before from
		}
		if err := audit.DecodeEvent(payload, &e); err != nil {
			return corrupt(seg.name, off, seq, "record does not decode: %v", err)
		}
		if e.Seq != seq {
			return corrupt(seg.name, off, seq, "the frame says record %d but its content says record %d", seq, e.Seq)
		}
		if s.started && e.PrevHash != s.prevHash {
			return &CorruptError{File: seg.name, Offset: off, Seq: seq, Err: fmt.Errorf("%w: record %d does not chain to record %d", audit.ErrChain, seq, seq-1)}
		}
		s.started, s.prevHash = true, e.Hash
		if err := s.fn(e); err != nil {
			return err
		}
	}
}

// record returns record seq.
func (l *Log) record(ctx context.Context, seq uint64) (audit.Event, error) {
	var got audit.Event
	found := false
	err := l.Scan(ctx, seq, func(e audit.Event) error {
		got, found = e, true
		return audit.ErrStop
	})
	if err == nil && !found {
		head, _, _ := l.Head(ctx)
		err = fmt.Errorf("record %d does not exist: the log ends at record %d", seq, head)
	}
	return got, err
}
