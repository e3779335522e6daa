package segment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"writ.dev/writ/audit"
)

// checkpointLog is the checkpoints file: the magic "WRITCKP1", then one frame per checkpoint
// (sequence = the checkpoint's Seq, payload = its JSON), in sequence order. Guarded by Log.ckMu.
type checkpointLog struct {
	dir     string
	f       *os.File // opened for appending; nil until the first checkpoint
	size    int64
	list    []audit.Checkpoint
	failed  error
	repairs []func() error // a torn tail to cut off once the log has been checked
}

func openCheckpoints(dir string, logger *slog.Logger) (*checkpointLog, error) {
	c := &checkpointLog{dir: dir}
	path := filepath.Join(dir, checkpointFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) != checkpointMagic {
		return nil, corrupt(checkpointFile, 0, 0, "not a writ checkpoint file (bad magic)")
	}
	fr := newFrameReader(f, int64(len(checkpointMagic)), -1, 64<<10)
	for {
		off := fr.off
		seq, payload, err := fr.next(false)
		if err == io.EOF {
			break
		}
		var last uint64
		if n := len(c.list); n > 0 {
			last = c.list[n-1].Seq
		}
		if isFrameError(err) {
			repair, err := tornTail(path, off, 0, fmt.Errorf("%s: %w", checkpointAfter(last), err), logger)
			if err != nil {
				return nil, err
			}
			c.repairs = append(c.repairs, repair)
			break
		}
		if err != nil {
			return nil, err
		}
		var cp audit.Checkpoint
		if err := json.Unmarshal(payload, &cp); err != nil || cp.Seq != seq {
			return nil, corrupt(checkpointFile, off, 0, "%s does not decode to the record its frame names", checkpointAfter(last))
		}
		if cp.Seq < last {
			return nil, corrupt(checkpointFile, off, 0, "the checkpoint at record %d follows one at record %d: checkpoints were reordered", cp.Seq, last)
		}
		c.list = append(c.list, cp)
	}
	c.size = fr.off
	if c.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return nil, err
	}
	return c, nil
}

func checkpointAfter(seq uint64) string {
	if seq == 0 {
		return "the first checkpoint"
	}
	return fmt.Sprintf("the checkpoint after the one at record %d", seq)
}

// add appends cp durably. A failed write is undone, or if that fails too, refuses further
// checkpoints, so that a partial frame is only ever the file's last bytes.
func (c *checkpointLog) add(cp audit.Checkpoint) error {
	if c.failed != nil {
		return c.failed
	}
	if c.f == nil {
		if err := writeFileAtomic(c.dir, checkpointFile, []byte(checkpointMagic)); err != nil {
			return fmt.Errorf("create the checkpoints file: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(c.dir, checkpointFile), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		c.f, c.size = f, int64(len(checkpointMagic))
	}
	payload, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	frame := appendFrame(nil, cp.Seq, payload)
	_, err = c.f.Write(frame)
	if err == nil {
		err = c.f.Sync()
	}
	if err != nil {
		if terr := c.f.Truncate(c.size); terr != nil {
			c.failed = fmt.Errorf("checkpoints file damaged by a failed write, reopen the log to repair it: %w", err)
		}
		return fmt.Errorf("store checkpoint: %w", err)
	}
	c.size += int64(len(frame))
	c.list = append(c.list, cp)
	return nil
}

func (c *checkpointLog) close() error {
	if c == nil || c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f, c.failed = nil, ErrClosed
	return err
}

// AddCheckpoint stores a signed checkpoint durably (appended and fsynced). The checkpoint must name
// a record of this log by its actual hash, and checkpoints must come in sequence order. The
// signature is not checked here: the store does not know the keys; auditors verify it.
func (l *Log) AddCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	if l.isDone.Load() {
		return ErrClosed
	}
	if c.Seq == 0 || c.Head == "" {
		return fmt.Errorf("%w: the checkpoint names no record: sign the head of a non-empty log", audit.ErrCheckpoint)
	}
	e, err := l.record(ctx, c.Seq)
	if err != nil {
		return fmt.Errorf("%w: %v", audit.ErrCheckpoint, err)
	}
	if e.Hash != c.Head {
		return fmt.Errorf("%w: checkpoint at record %d names head %s, but the record's hash is %s: sign the log's actual head", audit.ErrCheckpoint, c.Seq, audit.ShortHash(c.Head), audit.ShortHash(e.Hash))
	}
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	if n := len(l.ck.list); n > 0 && l.ck.list[n-1].Seq > c.Seq {
		return fmt.Errorf("%w: checkpoint at record %d is older than the last one, at record %d: add checkpoints in sequence order", audit.ErrCheckpoint, c.Seq, l.ck.list[n-1].Seq)
	}
	return l.ck.add(c)
}

// Checkpoints returns the stored checkpoints in sequence order.
func (l *Log) Checkpoints(context.Context) ([]audit.Checkpoint, error) {
	if l.isDone.Load() {
		return nil, ErrClosed
	}
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	return append([]audit.Checkpoint(nil), l.ck.list...), nil
}
