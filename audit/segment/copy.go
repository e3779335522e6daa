package segment

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// OpenCopy opens a point-in-time copy of the log in dir, for reading a log that another process
// holds open (the controller, whose lock makes Open fail with ErrLocked): `writ audit export
// --store` on a running controller's volume. The copy is made in a new temporary directory,
// which Close removes, and opened with Open, so it gets every check Open makes.
//
// The files are copied in the order that keeps the copy consistent while the writer appends:
// first the checkpoints, then the index files, then the segments in order. Every record an earlier
// file refers to is then in the later ones. A record being written during the copy is a torn
// tail that Open cuts off in the copy, exactly as after a crash. The original is never changed.
// A copy that fails (a segment sealed or an index rewritten mid-copy) is made again, up to three
// times.
func OpenCopy(dir string, opts Options) (*Log, error) {
	var err error
	for range 3 {
		var tmp string
		if tmp, err = copyLog(dir); err != nil {
			if errors.Is(err, errNoSegments) {
				return nil, err
			}
			continue
		}
		var l *Log
		if l, err = Open(tmp, opts); err == nil {
			l.removeOnClose = tmp
			return l, nil
		}
		_ = os.RemoveAll(tmp)
	}
	return nil, fmt.Errorf("copying the audit log in %s while it is written to: %w", dir, err)
}

var errNoSegments = errors.New("no audit log segments")

func copyLog(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read the audit log directory: %w", err)
	}
	var checkpoints, indexes, segments []string
	for _, e := range ents {
		switch name := e.Name(); {
		case name == checkpointFile:
			checkpoints = append(checkpoints, name)
		case strings.HasSuffix(name, indexExt):
			indexes = append(indexes, name)
		case strings.HasSuffix(name, segmentExt):
			segments = append(segments, name)
		}
	}
	if len(segments) == 0 {
		return "", fmt.Errorf("%w: %s holds none; is it the audit directory (--audit-dir)?", errNoSegments, dir)
	}
	slices.Sort(segments) // zero-padded first sequence numbers: name order is log order
	tmp, err := os.MkdirTemp("", "writ-audit-copy-")
	if err != nil {
		return "", err
	}
	for _, name := range slices.Concat(checkpoints, indexes, segments) {
		if err := copyFile(filepath.Join(dir, name), filepath.Join(tmp, name)); err != nil {
			_ = os.RemoveAll(tmp)
			return "", fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return tmp, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
