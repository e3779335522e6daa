package segment

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"writ.dev/writ/audit"
)

// segCheck is what checkSegment found in one segment file.
type segCheck struct {
	hdr   segmentHeader
	first audit.Event // the first record, when n > 0
	n     int         // records verified
	head  uint64      // last verified record (hdr.base-1 when none)
	hash  string
	end   int64        // offset just after the last verified record
	index []indexEntry // sparse index of the verified records
	// frameErr is set when the bytes at end are not a whole valid record: a torn tail in the
	// active segment, corruption anywhere else. The caller decides which.
	frameErr error
	err      error             // any other failure, a *CorruptError when the data is at fault
	hashes   map[uint64]string // hashes of the records named in want
}

// checkSegment reads a segment from its header to size bytes (-1: to the end of the file),
// checking every record's checksum and its place in the hash chain, which starts from the
// header's anchor. It stops early, with ctx's error, when stop reports true.
func checkSegment(f *os.File, name string, size, interval int64, want map[uint64]bool, stop func() error) segCheck {
	var c segCheck
	hdr, err := readSegmentHeader(f)
	if err != nil {
		c.err = corrupt(name, 0, 0, "%v", err)
		return c
	}
	c.hdr, c.head, c.hash, c.end = hdr, hdr.base-1, hdr.prevHash, segmentHeaderSize
	if base, ok := parseSegmentName(name); !ok || base != hdr.base {
		c.err = corrupt(name, 0, hdr.base, "the header says the segment starts at record %d, its name says otherwise: segment files were renamed", hdr.base)
		return c
	}
	if _, err := f.Seek(segmentHeaderSize, io.SeekStart); err != nil {
		c.err = err
		return c
	}
	fr := newFrameReader(f, segmentHeaderSize, size, 1<<20)
	v := audit.NewChainVerifier(c.head, c.hash)
	var e audit.Event
	for {
		if c.n%1024 == 0 {
			if err := stop(); err != nil {
				c.err = err
				return c
			}
		}
		off := fr.off
		seq, payload, err := fr.next(false)
		if err == io.EOF {
			return c
		}
		if isFrameError(err) {
			c.frameErr = err
			return c
		}
		if err != nil {
			c.err = fmt.Errorf("read segment %s: %w", name, err)
			return c
		}
		expect := c.head + 1
		if err := audit.DecodeEvent(payload, &e); err != nil {
			c.err = corrupt(name, off, expect, "record does not decode: %v", err)
			return c
		}
		if e.Seq != seq {
			c.err = corrupt(name, off, expect, "the frame says record %d but its content says record %d", seq, e.Seq)
			return c
		}
		if err := v.Next(e); err != nil {
			c.err = &CorruptError{File: name, Offset: off, Seq: expect, Err: err}
			return c
		}
		if c.n == 0 {
			c.first = e
		}
		if len(c.index) == 0 || off-c.index[len(c.index)-1].off >= interval {
			c.index = append(c.index, indexEntry{seq: e.Seq, off: off})
		}
		if want[e.Seq] {
			if c.hashes == nil {
				c.hashes = map[uint64]string{}
			}
			c.hashes[e.Seq] = e.Hash
		}
		c.n++
		c.head, c.hash, c.end = e.Seq, e.Hash, fr.off
	}
}

// Verify walks the whole chain with audit.ChainVerifier: every record's checksum, sequence,
// link to its predecessor and hash, across all segments, and checks that every stored
// checkpoint names a record that exists with the hash it states. Segments are verified in
// parallel, each from the anchor in its header, and the anchors are then checked against the
// previous segment's last record, which amounts to one walk from record 1.
//
// It returns the last record that verified; on failure the error is a *CorruptError naming the
// segment, offset and sequence of the first record that does not (or wraps audit.ErrCheckpoint
// for a checkpoint that does not match).
func (l *Log) Verify(ctx context.Context) (seq uint64, head string, err error) {
	if l.isDone.Load() {
		return 0, "", ErrClosed
	}
	segs, _, _ := l.snapshot(0)
	cks, _ := l.Checkpoints(ctx)
	return verifyAll(ctx, l.dir, segs, cks, l.opts.IndexInterval)
}

func verifyAll(ctx context.Context, dir string, segs []segment, cks []audit.Checkpoint, interval int64) (uint64, string, error) {
	want := map[uint64]bool{}
	for _, c := range cks {
		want[c.Seq] = true
	}
	results := make([]segCheck, len(segs))
	var next, firstBad atomic.Int64
	firstBad.Store(int64(len(segs)))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(segs)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(segs)); i = next.Add(1) - 1 {
				stop := func() error {
					if i > firstBad.Load() {
						return errSkipped
					}
					return ctx.Err()
				}
				results[i] = verifySegmentFile(dir, segs[i], interval, want, stop)
				if results[i].err != nil || results[i].frameErr != nil {
					for bad := firstBad.Load(); i < bad && !firstBad.CompareAndSwap(bad, i); bad = firstBad.Load() {
					}
				}
			}
		})
	}
	wg.Wait()

	seq, hash := uint64(0), ""
	hashes := map[uint64]string{}
	for i, r := range results {
		s := segs[i]
		switch {
		case r.hdr.base == 0: // the header did not read; r.err says why
		case r.n > 0:
			// The segment verified from its header's anchor; the anchor must be the end of the
			// chain so far. Checking the first record from there covers both.
			if err := audit.NewChainVerifier(seq, hash).Next(r.first); err != nil {
				return seq, hash, &CorruptError{File: s.name, Offset: segmentHeaderSize, Seq: seq + 1, Err: err}
			}
		case r.hdr.base != seq+1 || r.hdr.prevHash != hash:
			return seq, hash, &CorruptError{File: s.name, Seq: seq + 1, Err: fmt.Errorf(
				"%w: the segment starts at record %d after hash %s, but the chain so far ends at record %d with hash %s: records are missing or segments were replaced",
				audit.ErrChain, r.hdr.base, audit.ShortHash(r.hdr.prevHash), seq, audit.ShortHash(hash))}
		}
		if r.err != nil { // never errSkipped: the segment that caused the skip returns first
			if r.n > 0 {
				seq, hash = r.head, r.hash
			}
			return seq, hash, r.err
		}
		if r.frameErr != nil {
			return r.head, r.hash, corrupt(s.name, r.end, r.head+1, "%v", r.frameErr)
		}
		seq, hash = r.head, r.hash
		for k, v := range r.hashes {
			hashes[k] = v
		}
	}
	for _, c := range cks {
		if c.Seq > seq {
			return seq, hash, fmt.Errorf("%w: checkpoint at record %d is beyond the last record %d: records %d to %d were removed", audit.ErrCheckpoint, c.Seq, seq, seq+1, c.Seq)
		}
		if got := hashes[c.Seq]; got != c.Head {
			return seq, hash, fmt.Errorf("%w: checkpoint at record %d names head %s, but record %d hashes to %s: the log was rewritten", audit.ErrCheckpoint, c.Seq, audit.ShortHash(c.Head), c.Seq, audit.ShortHash(got))
		}
	}
	return seq, hash, nil
}

var errSkipped = fmt.Errorf("%w: skipped after an earlier segment failed", ErrCorrupt)

// verifySegmentFile checks one segment up to its committed size. A sealed segment must also end
// exactly there: bytes after its last record mean it was appended to.
func verifySegmentFile(dir string, s segment, interval int64, want map[uint64]bool, stop func() error) segCheck {
	f, err := os.Open(filepath.Join(dir, s.name))
	if err != nil {
		return segCheck{err: corrupt(s.name, 0, s.base, "cannot read the segment: %v", err)}
	}
	defer f.Close()
	if s.sealed {
		if fi, err := f.Stat(); err == nil && fi.Size() != s.size {
			return segCheck{err: corrupt(s.name, min(fi.Size(), s.size), s.last+1,
				"the sealed segment is %d bytes, but %d were committed: it was truncated or appended to", fi.Size(), s.size)}
		}
	}
	c := checkSegment(f, s.name, s.size, interval, want, stop)
	if c.err == nil && c.frameErr == nil && c.end != s.size {
		c.err = corrupt(s.name, c.end, c.head+1, "the segment ends at offset %d, but %d bytes were committed", c.end, s.size)
	}
	return c
}
