package segment

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"writ.dev/writ/audit"
)

// OpenCopy reads a log another Log holds and keeps writing to (with segments rolling over):
// the copy holds at least every record acknowledged before it started, verifies, leaves the
// original untouched and writable, and disappears on Close.
func TestOpenCopyWhileAnotherProcessWrites(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{MaxSegmentSize: 8 << 10})
	appendN(t, l, 0, 200)
	if _, err := Open(dir, Options{Logger: quiet}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second Open: %v, want ErrLocked", err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the controller, appending all along
		defer wg.Done()
		for i := 200; !stop.Load(); i++ {
			if _, err := l.Append(ctx, event(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for round := range 5 {
		before, _, _ := l.Head(ctx)
		c, err := OpenCopy(dir, Options{Logger: quiet})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		seq, _, err := c.Verify(ctx)
		if err != nil || seq < before {
			t.Fatalf("round %d: the copy verifies to %d (%v), want at least %d", round, seq, err, before)
		}
		got := scanAll(t, c, 1)
		if uint64(len(got)) != seq || got[0].Seq != 1 {
			t.Fatalf("round %d: %d records scanned for head %d", round, len(got), seq)
		}
		tmp := c.removeOnClose
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("round %d: the copy %s is still there after Close", round, tmp)
		}
	}
	stop.Store(true)
	wg.Wait()
	if seq, _, err := l.Verify(ctx); err != nil || seq < 200 {
		t.Fatalf("the original after copying: %d, %v", seq, err)
	}
	if _, err := l.Append(ctx, audit.Event{Kind: audit.DriftDetected, Time: epoch, Reason: "after the copies"}); err != nil {
		t.Fatalf("the original is no longer writable: %v", err)
	}
}

func TestOpenCopyOfADirectoryWithoutALog(t *testing.T) {
	if _, err := OpenCopy(t.TempDir(), Options{Logger: quiet}); err == nil || !errors.Is(err, errNoSegments) {
		t.Fatalf("OpenCopy of an empty directory: %v", err)
	}
}
