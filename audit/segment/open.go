package segment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"writ.dev/writ/audit"
)

// Open opens the log in dir, creating the directory and the first segment if needed, and
// recovers from a crash: a torn tail (a record only partly written to the last segment, never
// acknowledged) is truncated and logged. Open refuses the log — changing nothing — when anything
// else is wrong: a damaged record before the tail, a sealed segment truncated or extended, a
// missing segment, a chain that does not verify in the last segment, or a checkpoint beyond the
// head. The error is a *CorruptError naming the file, offset and first untrusted record.
//
// Open verifies the last segment's chain in full and the others' consistency from their index
// files (sizes, first and last sequence numbers, hashes at the boundaries); Options.VerifyOnOpen,
// or a call to Verify, checks every record.
func Open(dir string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		// A new directory is durable once its parent's entry for it is.
		err := os.MkdirAll(dir, 0o750)
		if err == nil {
			err = syncDir(filepath.Dir(filepath.Clean(dir)))
		}
		if err != nil {
			return nil, fmt.Errorf("create the audit log directory: %w", err)
		}
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: opts, lock: lock, reqs: make(chan *request, 1024), done: make(chan struct{})}
	if err := l.recover(); err != nil {
		if l.w != nil && l.w.f != nil {
			l.w.f.Close()
		}
		if l.ck != nil {
			l.ck.close()
		}
		lock.Close()
		return nil, fmt.Errorf("open audit log %s: %w", dir, err)
	}
	go l.w.run()
	return l, nil
}

func (l *Log) recover() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, tmpExt) {
			// An atomic write that did not finish: the file it was replacing is intact.
			l.opts.Logger.Info("audit log: removing an unfinished temporary file", "dir", l.dir, "file", name)
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return err
			}
			continue
		}
		if base, ok := parseSegmentName(name); ok {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	// Index files are only written for segments that exist, and the checkpoints file only for a
	// log with records: either without its segment means segments were deleted.
	for _, e := range ents {
		base, ok := parseSegmentName(strings.TrimSuffix(e.Name(), indexExt) + segmentExt)
		if ok && strings.HasSuffix(e.Name(), indexExt) && !slices.Contains(bases, base) {
			return corrupt(segmentName(base), 0, base, "the segment is missing but its index %s is there: segment files were deleted; restore them from a backup", e.Name())
		}
		if e.Name() == checkpointFile && len(bases) == 0 {
			return corrupt(segmentName(1), 0, 1, "the log has checkpoints but no segments: segment files were deleted; restore them from a backup")
		}
	}
	if len(bases) == 0 {
		seg := &segment{name: segmentName(1), base: 1, created: l.opts.Now().UTC(), size: segmentHeaderSize}
		f, err := createSegment(l.dir, seg)
		if err != nil {
			return err
		}
		l.segs = []*segment{seg}
		l.w = &writer{l: l, f: f, seg: seg, size: segmentHeaderSize}
	} else {
		for i, base := range bases[:len(bases)-1] {
			s, err := l.openSealed(base)
			if err != nil {
				return err
			}
			if err := l.checkBoundary(i, s.base, s.prevHash); err != nil {
				return err
			}
			l.segs = append(l.segs, s)
		}
		if err := l.openActive(bases[len(bases)-1]); err != nil {
			return err
		}
	}
	active := l.segs[len(l.segs)-1]
	l.head, l.hash = active.last, active.lastHash
	ck, err := openCheckpoints(l.dir, l.opts.Logger)
	if err != nil {
		return err
	}
	l.ck = ck
	if l.opts.VerifyOnOpen {
		segs, _, _ := l.snapshot(0)
		if _, _, err := verifyAll(context.Background(), l.dir, segs, ck.list, l.opts.IndexInterval); err != nil {
			return err
		}
	}
	if err := l.checkLastCheckpoint(); err != nil {
		return err
	}
	// Everything checked out: now repair what a crash left.
	for _, repair := range append(l.repairs, ck.repairs...) {
		if err := repair(); err != nil {
			return err
		}
	}
	l.repairs, ck.repairs = nil, nil
	return nil
}

// checkBoundary checks that segment i, starting at record base after prevHash, continues the
// segments before it.
func (l *Log) checkBoundary(i int, base uint64, prevHash string) error {
	name := segmentName(base)
	if i == 0 {
		if base != 1 || prevHash != "" {
			return corrupt(name, 0, 1, "records 1 to %d are missing: the first segment starts at record %d; restore the missing segment files", base-1, base)
		}
		return nil
	}
	prev := l.segs[i-1]
	if base != prev.last+1 {
		return &CorruptError{File: name, Seq: prev.last + 1, Err: fmt.Errorf("%w: records %d to %d are missing: segment %s ends at record %d and %s starts at %d",
			audit.ErrChain, prev.last+1, base-1, prev.name, prev.last, name, base)}
	}
	if prevHash != prev.lastHash {
		return &CorruptError{File: name, Seq: base, Err: fmt.Errorf("%w: record %d does not chain to record %d: the segment header names hash %s, but record %d's hash is %s",
			audit.ErrChain, base, prev.last, audit.ShortHash(prevHash), prev.last, audit.ShortHash(prev.lastHash))}
	}
	return nil
}

// openSealed loads a sealed segment's description from its index file, checking it against the
// segment file. A missing or damaged index is rebuilt by verifying the segment; a segment whose
// size no longer matches its index is verified to name the first bad record, and refused.
func (l *Log) openSealed(base uint64) (*segment, error) {
	name := segmentName(base)
	f, err := os.Open(filepath.Join(l.dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	hdr, err := readSegmentHeader(f)
	if err != nil {
		return nil, corrupt(name, 0, base, "%v", err)
	}
	if hdr.base != base {
		return nil, corrupt(name, 0, base, "the header says the segment starts at record %d: segment files were renamed", hdr.base)
	}
	s := &segment{name: name, base: base, prevHash: hdr.prevHash, created: hdr.created, sealed: true}
	raw, err := os.ReadFile(filepath.Join(l.dir, indexName(base)))
	if err == nil {
		x, perr := parseSealedIndex(raw)
		if perr == nil && x.base == base && x.size == fi.Size() && x.last >= base && len(x.entries) > 0 {
			s.size, s.last, s.lastHash, s.index = x.size, x.last, x.lastHash, x.entries
			return s, nil
		}
		if perr == nil && x.size != fi.Size() {
			c := checkSegment(f, name, -1, l.opts.IndexInterval, nil, noStop)
			if c.err != nil {
				return nil, c.err
			}
			if c.frameErr != nil {
				return nil, corrupt(name, c.end, c.head+1, "%v", c.frameErr)
			}
			if c.head < x.last {
				return nil, corrupt(name, c.end, c.head+1, "the sealed segment ends after record %d, but it was sealed after record %d: records %d to %d were cut off", c.head, x.last, c.head+1, x.last)
			}
			return nil, corrupt(name, x.size, x.last+1, "the sealed segment is %d bytes, but it was sealed at %d bytes after record %d: records were appended to it", fi.Size(), x.size, x.last)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l.opts.Logger.Info("audit log: rebuilding a missing or damaged segment index", "dir", l.dir, "segment", name)
	c := checkSegment(f, name, -1, l.opts.IndexInterval, nil, noStop)
	if c.err != nil {
		return nil, c.err
	}
	if c.frameErr != nil {
		return nil, corrupt(name, c.end, c.head+1, "%v in a sealed segment", c.frameErr)
	}
	if c.n == 0 {
		return nil, corrupt(name, segmentHeaderSize, base, "the sealed segment holds no records")
	}
	s.size, s.last, s.lastHash, s.index = c.end, c.head, c.hash, c.index
	x := sealedIndex{base: base, last: s.last, lastHash: s.lastHash, size: s.size, entries: s.index}
	l.repairs = append(l.repairs, func() error {
		if err := writeFileAtomic(l.dir, indexName(base), x.marshal()); err != nil {
			return fmt.Errorf("rebuild the index of segment %s: %w", name, err)
		}
		return nil
	})
	return s, nil
}

func noStop() error { return nil }

// openActive verifies the last segment record by record and truncates a torn tail.
func (l *Log) openActive(base uint64) error {
	name := segmentName(base)
	path := filepath.Join(l.dir, name)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close() // appends go through their own descriptor
	c := checkSegment(f, name, -1, l.opts.IndexInterval, nil, noStop)
	if c.err != nil {
		return c.err
	}
	if err := l.checkBoundary(len(l.segs), c.hdr.base, c.hdr.prevHash); err != nil {
		return err
	}
	if c.frameErr != nil {
		repair, err := tornTail(path, c.end, c.head+1, c.frameErr, l.opts.Logger)
		if err != nil {
			return err
		}
		l.repairs = append(l.repairs, repair)
	}
	// A stale index of the active segment is left by a crash during rollover; it is rewritten
	// when the segment is sealed.
	l.repairs = append(l.repairs, func() error {
		err := os.Remove(filepath.Join(l.dir, indexName(base)))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	})
	s := &segment{name: name, base: base, prevHash: c.hdr.prevHash, created: c.hdr.created,
		size: c.end, last: c.head, lastHash: c.hash, index: c.index}
	l.segs = append(l.segs, s)
	af, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	l.w = &writer{l: l, f: af, seg: s, size: s.size, last: s.last, hash: s.lastHash, idx: s.index}
	return nil
}

// tornTail judges bytes at off in the last file of a log that are not a valid record (record seq
// of a segment; 0 in the checkpoints file). If no
// valid record follows them they are a write cut short by a crash — never acknowledged, since
// acknowledgement waits for fsync — and it returns the repair that cuts them off, to be run once
// the whole log has been checked. If a valid record follows, the damage is in data that was once
// durable, and the log is refused.
func tornTail(path string, off int64, seq uint64, why error, logger *slog.Logger) (func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	if p, ok := validFrameAfter(data[off:]); ok {
		return nil, corrupt(name, off, seq, "%v, and a valid record follows at offset %d: the damage is not a torn write; restore the file from a backup", why, off+int64(p))
	}
	return func() error {
		logger.Warn("audit log: truncating a torn tail left by a crash; it was never acknowledged",
			"file", path, "offset", off, "bytes", int64(len(data))-off, "reason", why.Error())
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(off)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// checkLastCheckpoint refuses a log that ends before its last checkpoint, or whose record at
// that checkpoint has another hash: records were removed or rewritten.
func (l *Log) checkLastCheckpoint() error {
	if len(l.ck.list) == 0 {
		return nil
	}
	c := l.ck.list[len(l.ck.list)-1]
	if c.Seq > l.head {
		return &CorruptError{File: l.segs[len(l.segs)-1].name, Offset: l.segs[len(l.segs)-1].size, Seq: l.head + 1, Err: fmt.Errorf(
			"%w: the log ends at record %d, but a checkpoint covers record %d: records %d to %d were removed", audit.ErrChain, l.head, c.Seq, l.head+1, c.Seq)}
	}
	e, err := l.record(context.Background(), c.Seq)
	if err != nil {
		return err
	}
	if e.Hash != c.Head {
		return fmt.Errorf("%w: checkpoint at record %d names head %s, but the record's hash is %s: the log was rewritten", audit.ErrCheckpoint, c.Seq, audit.ShortHash(c.Head), audit.ShortHash(e.Hash))
	}
	return nil
}
