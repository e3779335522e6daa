package segment

import (
	"bufio"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

// The crash test runs the appender in a child process (this test binary, running
// TestCrashChild) and kills it with SIGKILL at random points. The child prints every record it
// has been acknowledged, with its hash; after each kill the parent reopens the log and checks that
// every acknowledged record is there with that hash, that the chain verifies, and that appending
// continues.

const crashDirEnv = "WRIT_SEGMENT_CRASH_DIR"

var crashOpts = Options{MaxSegmentSize: 256 << 10, Logger: quiet} // rollovers happen too

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrash")
	}
	l, err := Open(dir, crashOpts)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				events := make([]audit.Event, 1+(i+g)%3)
				for k := range events {
					events[k] = event(g*1_000_000 + i)
				}
				got, err := l.Append(ctx, events...)
				if err != nil {
					fmt.Println("append:", err)
					os.Exit(4)
				}
				// Acknowledged: report before anything else happens. The pipe write is the
				// parent's evidence, so it is flushed at once.
				mu.Lock()
				for _, e := range got {
					fmt.Fprintf(out, "ack %d %s\n", e.Seq, e.Hash)
				}
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[uint64]string{}
	const rounds, minAcks = 10, 1000
	start := time.Now()
	for round := range rounds {
		// Kill after a random number of acknowledgements, then a random few milliseconds
		// more, so that the kill lands anywhere: mid-write, mid-fsync, mid-rollover.
		killAt := minAcks + rng.IntN(500)
		n, err := crashRound(t, dir, killAt, time.Duration(rng.IntN(5000))*time.Microsecond, acked)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if rng.IntN(2) == 0 {
			tearUnsynced(t, dir, slices.Max(slices.Collect(maps.Keys(acked))), rng)
		}
		l, err := Open(dir, crashOpts)
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		seq, head, err := l.Verify(ctx)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		stored := map[uint64]string{}
		if err := l.Scan(ctx, 1, func(e audit.Event) error { stored[e.Seq] = e.Hash; return nil }); err != nil {
			t.Fatal(err)
		}
		for s, h := range acked {
			if stored[s] != h {
				t.Fatalf("round %d: acknowledged record %d lost or changed (stored hash %q, acknowledged %q)", round, s, stored[s], h)
			}
		}
		got, err := l.Append(ctx, event(-round))
		if err != nil || got[0].Seq != seq+1 || got[0].PrevHash != head {
			t.Fatalf("round %d: append after recovery: %v", round, err)
		}
		acked[got[0].Seq] = got[0].Hash
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acknowledgements; log holds %d records, %d acknowledged in all", round, n, seq+1, len(acked))
	}
	t.Logf("%d kills in %v", rounds, time.Since(start).Round(time.Millisecond))
	if len(acked) < 10_000 {
		t.Fatalf("only %d acknowledged appends over %d kills", len(acked), rounds)
	}
}

// crashRound runs the child until killAt acknowledgements (plus delay), kills it, and records
// every acknowledgement it printed, including those still in the pipe.
func crashRound(t *testing.T, dir string, killAt int, delay time.Duration, acked map[uint64]string) (int, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// A child that stops acknowledging is killed too, and the round fails.
	stalled := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer stalled.Stop()
	lines := bufio.NewScanner(stdout)
	n := 0
	var other []string
	killed := false
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 3 || f[0] != "ack" {
			other = append(other, lines.Text())
			continue
		}
		seq, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return n, err
		}
		acked[seq] = f[2]
		if n++; n == killAt && !killed {
			time.Sleep(delay)
			cmd.Process.Kill() // SIGKILL: no deferred code, no flush, no Close
			killed = true
		}
	}
	err = cmd.Wait()
	if !stalled.Stop() && !killed {
		return n, fmt.Errorf("child stalled after %d acknowledgements: %s %s", n, strings.Join(other, "\n"), stderr.String())
	}
	if !killed {
		return n, fmt.Errorf("child exited by itself (%v) after %d acknowledgements: %s %s", err, n, strings.Join(other, "\n"), stderr.String())
	}
	return n, nil
}

// tearUnsynced simulates a power failure on top of the kill: the bytes after the last record the
// parent saw acknowledged, which may never have been fsynced, are cut at a random point, often
// inside a record.
func tearUnsynced(t *testing.T, dir string, acked uint64, rng *rand.Rand) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	slices.Sort(paths)
	last := paths[len(paths)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	end := segmentHeaderSize
	for off := segmentHeaderSize; off < len(data); {
		seq, _, size, err := parseFrame(data[off:])
		if err != nil || seq > acked {
			break
		}
		off += size
		end = off
	}
	if len(data)-end < 2 {
		return
	}
	cut := end + 1 + rng.IntN(len(data)-end-1)
	if err := os.Truncate(last, int64(cut)); err != nil {
		t.Fatal(err)
	}
	t.Logf("power failure: cut %s from %d to %d bytes", filepath.Base(last), len(data), cut)
}
