package segment

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

var ctx = context.Background()

var epoch = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

// event returns a realistic denied-mutation record, different for each i.
func event(i int) audit.Event {
	return audit.Event{
		Kind: audit.MutationDenied, Time: epoch.Add(time.Duration(i) * time.Millisecond),
		Actor:     audit.Actor{User: fmt.Sprintf("user-%d@example.com", i%7), Groups: []string{"system:authenticated", "devs"}},
		Object:    audit.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "prod", Name: fmt.Sprintf("web-%d", i)},
		Operation: "UPDATE", Policy: "protect-prod", Reason: "only the GitOps agent may change protected resources",
		Criteria: []audit.Criterion{audit.CC6_1, audit.CC7_2},
	}
}

// quiet discards recovery logs in tests that expect them.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func open(t testing.TB, dir string, o Options) *Log {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	l, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendN(t testing.TB, l *Log, start, n int) []audit.Event {
	t.Helper()
	var out []audit.Event
	for i := start; i < start+n; i++ {
		got, err := l.Append(ctx, event(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got...)
	}
	return out
}

func scanAll(t testing.TB, l *Log, from uint64) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := l.Scan(ctx, from, func(e audit.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func seqs(events []audit.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.Seq
	}
	return out
}

func TestAppendScanHead(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	if seq, hash, _ := l.Head(ctx); seq != 0 || hash != "" {
		t.Fatalf("empty log head = %d %q", seq, hash)
	}
	// The caller's chain fields are overwritten.
	forged := event(0)
	forged.Seq, forged.PrevHash, forged.Hash = 99, "x", "y"
	first, err := l.Append(ctx, forged)
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Seq != 1 || first[0].PrevHash != "" || len(first[0].Hash) != 64 {
		t.Fatalf("first record %+v", first[0])
	}
	batch, err := l.Append(ctx, event(1), event(2), event(3))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs(batch), []uint64{2, 3, 4}) || batch[0].PrevHash != first[0].Hash {
		t.Fatalf("batch %v does not follow record 1", seqs(batch))
	}
	seq, hash, _ := l.Head(ctx)
	if seq != 4 || hash != batch[2].Hash {
		t.Fatalf("head = %d %s, want 4 %s", seq, hash, batch[2].Hash)
	}
	got := scanAll(t, l, 0)
	want := append(first, batch...)
	if len(got) != len(want) {
		t.Fatalf("scanned %d records, want %d", len(got), len(want))
	}
	v := audit.NewChainVerifier(0, "")
	for i := range got {
		if err := v.Next(got[i]); err != nil {
			t.Fatal(err)
		}
		if got[i].Hash != want[i].Hash || !got[i].Time.Equal(want[i].Time) || got[i].Object != want[i].Object {
			t.Fatalf("record %d: scanned %+v, appended %+v", i+1, got[i], want[i])
		}
	}
	if s, h, err := l.Verify(ctx); err != nil || s != 4 || h != hash {
		t.Fatalf("Verify = %d %s %v", s, h, err)
	}
}

func TestScanFromTheMiddle(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxSegmentSize: 8 << 10, IndexInterval: 1 << 10})
	all := appendN(t, l, 0, 300)
	if n := len(l.Segments()); n < 5 {
		t.Fatalf("only %d segments", n)
	}
	for _, from := range []uint64{0, 1, 2, 17, 18, 19, 150, 299, 300} {
		got := scanAll(t, l, from)
		start := max(from, 1)
		if uint64(len(got)) != 301-start || got[0].Seq != start || got[0].Hash != all[start-1].Hash {
			t.Fatalf("Scan(%d) returned %d records from %d", from, len(got), got[0].Seq)
		}
	}
	if got := scanAll(t, l, 301); len(got) != 0 {
		t.Fatalf("Scan past the head returned %d records", len(got))
	}
	// ErrStop ends without error; other errors come back as they are.
	n := 0
	if err := l.Scan(ctx, 100, func(audit.Event) error { n++; return audit.ErrStop }); err != nil || n != 1 {
		t.Fatalf("ErrStop: %v after %d records", err, n)
	}
	boom := errors.New("boom")
	if err := l.Scan(ctx, 1, func(audit.Event) error { return boom }); err != boom {
		t.Fatalf("callback error came back as %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Scan(cancelled, 1, func(audit.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan: %v", err)
	}
}

func TestSegmentRollover(t *testing.T) {
	dir := t.TempDir()
	clock := epoch
	l := open(t, dir, Options{MaxSegmentSize: 4 << 10, Now: func() time.Time { clock = clock.Add(time.Minute); return clock }})
	appendN(t, l, 0, 100)
	// A big batch spans segments too.
	batch := make([]audit.Event, 50)
	for i := range batch {
		batch[i] = event(100 + i)
	}
	if _, err := l.Append(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) < 10 {
		t.Fatalf("%d segments for 150 records of ~450 bytes in 4 KiB segments", len(segs))
	}
	for i, s := range segs {
		if s.Size > 4<<10 || s.Sealed != (i < len(segs)-1) || !s.Created.After(epoch) {
			t.Fatalf("segment %d: %+v", i, s)
		}
		if i > 0 && s.FirstSeq != segs[i-1].LastSeq+1 {
			t.Fatalf("segment %d starts at %d after %d", i, s.FirstSeq, segs[i-1].LastSeq)
		}
		if _, err := os.Stat(filepath.Join(dir, indexName(s.FirstSeq))); (err == nil) != s.Sealed {
			t.Fatalf("segment %d (sealed %v): index file: %v", i, s.Sealed, err)
		}
	}
	if segs[len(segs)-1].LastSeq != 150 {
		t.Fatalf("last segment ends at %d", segs[len(segs)-1].LastSeq)
	}
	if seq, _, err := l.Verify(ctx); err != nil || seq != 150 {
		t.Fatalf("Verify = %d, %v", seq, err)
	}
}

func TestReopenKeepsTheChain(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxSegmentSize: 4 << 10}
	l := open(t, dir, o)
	before := appendN(t, l, 0, 40)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		l = open(t, dir, o)
		seq, hash, _ := l.Head(ctx)
		if seq != uint64(40+round*10) || hash != scanAll(t, l, seq)[0].Hash {
			t.Fatalf("round %d: reopened at %d", round, seq)
		}
		more := appendN(t, l, int(seq), 10)
		if more[0].PrevHash != hash {
			t.Fatal("the first record after reopening does not chain to the head")
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l = open(t, dir, Options{MaxSegmentSize: 4 << 10, VerifyOnOpen: true})
	got := scanAll(t, l, 1)
	if len(got) != 70 || got[39].Hash != before[39].Hash {
		t.Fatalf("after reopening: %d records", len(got))
	}
}

func TestMissingIndexIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{MaxSegmentSize: 4 << 10})
	appendN(t, l, 0, 60)
	l.Close()
	idx := filepath.Join(dir, indexName(1))
	if err := os.Remove(idx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, indexName(l.Segments()[1].FirstSeq)), []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, Options{MaxSegmentSize: 4 << 10})
	if _, err := os.Stat(idx); err != nil {
		t.Fatalf("index not rebuilt: %v", err)
	}
	if got := scanAll(t, l, 30); len(got) != 31 {
		t.Fatalf("scan from 30 after rebuild: %d records", len(got))
	}
}

func TestInvalidEventIsRejectedWithoutWriting(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendN(t, l, 0, 3)
	size := l.Segments()[0].Size
	secret := event(9)
	secret.Reason = "-----BEGIN RSA PRIVATE KEY-----"
	for name, batch := range map[string][]audit.Event{
		"secret":       {event(3), secret},
		"unknown kind": {{Kind: "Nope", Time: epoch}},
		"no time":      {{Kind: audit.DriftDetected}},
	} {
		if _, err := l.Append(ctx, batch...); !errors.Is(err, audit.ErrInvalidEvent) {
			t.Errorf("%s: Append = %v, want ErrInvalidEvent", name, err)
		}
	}
	// Valid for Validate, but its time cannot be encoded: rejected by the writer, alone.
	far := event(10)
	far.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := l.Append(ctx, far); err == nil || !strings.Contains(err.Error(), "event 0") {
		t.Errorf("unencodable time: %v", err)
	}
	if seq, _, _ := l.Head(ctx); seq != 3 || l.Segments()[0].Size != size {
		t.Fatalf("rejected events changed the log: head %d", seq)
	}
	if got := appendN(t, l, 4, 1); got[0].Seq != 4 {
		t.Fatalf("next append got seq %d", got[0].Seq)
	}
}

func TestConcurrentAppenders(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxSegmentSize: 64 << 10})
	const workers, each = 16, 100
	var wg sync.WaitGroup
	got := make([][]audit.Event, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				events := []audit.Event{event(w*each + i)}
				if i%10 == 0 {
					events = append(events, event(-1))
				}
				out, err := l.Append(ctx, events...)
				if err != nil {
					t.Error(err)
					return
				}
				if len(out) == 2 && out[1].Seq != out[0].Seq+1 {
					t.Errorf("one append's records are not contiguous: %d, %d", out[0].Seq, out[1].Seq)
				}
				got[w] = append(got[w], out...)
			}
		})
	}
	wg.Wait()
	seen := map[uint64]string{}
	for _, events := range got {
		for i, e := range events {
			if i > 0 && e.Seq <= events[i-1].Seq {
				t.Fatalf("one goroutine's records out of order: %d after %d", e.Seq, events[i-1].Seq)
			}
			seen[e.Seq] = e.Hash
		}
	}
	const total = workers * (each + each/10)
	if len(seen) != total {
		t.Fatalf("%d distinct sequences, want %d", len(seen), total)
	}
	for _, e := range scanAll(t, l, 1) {
		if seen[e.Seq] != e.Hash {
			t.Fatalf("record %d differs from what Append returned", e.Seq)
		}
	}
	if seq, _, err := l.Verify(ctx); err != nil || seq != total {
		t.Fatalf("Verify = %d, %v", seq, err)
	}
}

func TestCloseAndLocking(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{BatchDelay: time.Millisecond})
	appendN(t, l, 0, 2)
	if _, err := Open(dir, Options{Logger: quiet}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of a directory in use: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Append(ctx, event(3)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, _, err := l.Head(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Head after Close: %v", err)
	}
	l2 := open(t, dir, Options{})
	if seq, _, _ := l2.Head(ctx); seq != 2 {
		t.Fatalf("reopened at %d", seq)
	}
}

func TestCheckpoints(t *testing.T) {
	dir := t.TempDir()
	pub, key, _ := ed25519.GenerateKey(nil)
	l := open(t, dir, Options{MaxSegmentSize: 4 << 10})
	events := appendN(t, l, 0, 30)
	sign := func(seq uint64) audit.Checkpoint {
		return audit.SignCheckpoint(key, seq, events[seq-1].Hash, epoch)
	}
	for _, seq := range []uint64{5, 20, 20, 30} {
		if err := l.AddCheckpoint(ctx, sign(seq)); err != nil {
			t.Fatal(err)
		}
	}
	wrongHead := sign(25)
	wrongHead.Head = events[23].Hash
	for name, c := range map[string]audit.Checkpoint{
		"older":       sign(10),
		"wrong head":  wrongHead,
		"beyond head": audit.SignCheckpoint(key, 31, "abc", epoch),
		"empty":       {},
	} {
		if err := l.AddCheckpoint(ctx, c); !errors.Is(err, audit.ErrCheckpoint) {
			t.Errorf("%s: AddCheckpoint = %v", name, err)
		}
	}
	l.Close()
	l = open(t, dir, Options{MaxSegmentSize: 4 << 10})
	cks, _ := l.Checkpoints(ctx)
	if len(cks) != 4 || cks[3].Seq != 30 {
		t.Fatalf("checkpoints after reopening: %+v", cks)
	}
	for _, c := range cks {
		if err := c.Verify(pub); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWriteFailureStopsAppends(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, Options{})
	appendN(t, l, 0, 3)
	l.w.f.Close() // the disk goes away under the writer
	if _, err := l.Append(ctx, event(3)); err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("append on a failed disk: %v", err)
	}
	if _, err := l.Append(ctx, event(4)); err == nil {
		t.Fatal("append after a write failure succeeded")
	}
	if seq, _, _ := l.Head(ctx); seq != 3 {
		t.Fatalf("head moved to %d on failed appends", seq)
	}
	l.Close()
	l = open(t, dir, Options{})
	if got := appendN(t, l, 5, 1); got[0].Seq != 4 {
		t.Fatalf("after reopening, appended %d", got[0].Seq)
	}
}

func TestAppendHonoursContext(t *testing.T) {
	l := open(t, t.TempDir(), Options{})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(cancelled, event(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v", err)
	}
	if seq, _, _ := l.Head(ctx); seq != 0 {
		t.Fatalf("a cancelled append was stored: head %d", seq)
	}
}

// Readers see only committed records, consistently, while appends and rollovers go on.
func TestScanAndVerifyWhileAppending(t *testing.T) {
	l := open(t, t.TempDir(), Options{MaxSegmentSize: 8 << 10, IndexInterval: 1 << 10})
	appendN(t, l, 0, 10)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Append(ctx, event(w*10000+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		head, _, _ := l.Head(ctx)
		n := uint64(0)
		if err := l.Scan(ctx, head/2, func(e audit.Event) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n < head-head/2+1 {
			t.Fatalf("scan from %d saw %d records with the head at %d", head/2, n, head)
		}
		if _, _, err := l.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
