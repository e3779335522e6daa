package segment

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is wrapped by every error about damaged files: a record whose checksum fails in
	// the middle of a segment, a truncated or extended sealed segment, a bad header. Chain
	// errors wrap audit.ErrChain instead; both come inside a *CorruptError.
	ErrCorrupt = errors.New("audit log corrupt")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("audit log closed")
	// ErrLocked is returned by Open when another process (or another Log) has the directory open.
	ErrLocked = errors.New("audit log in use")
)

// CorruptError says where a log is damaged or its chain broken: the file (a segment, or the
// checkpoints file), the byte offset of the record, and the sequence number of the first record
// that cannot be trusted.
type CorruptError struct {
	File   string // file name within the log directory
	Offset int64  // byte offset of the record in File
	Seq    uint64 // first record that does not verify (the one expected at Offset); 0 for the checkpoints file
	Err    error  // wraps ErrCorrupt or audit.ErrChain
}

func (e *CorruptError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("%s at offset %d: %v", e.File, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: record %d at offset %d: %v", e.File, e.Seq, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

func corrupt(segment string, off int64, seq uint64, format string, args ...any) *CorruptError {
	return &CorruptError{File: segment, Offset: off, Seq: seq,
		Err: fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)}
}
