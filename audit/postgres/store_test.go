package postgres

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"writ.dev/writ/audit"
	"writ.dev/writ/test/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// event returns a valid, realistic record, distinct for each i.
func event(i int) audit.Event {
	return audit.Event{
		Kind:      audit.MutationDenied,
		Time:      t0.Add(time.Duration(i) * time.Second),
		Actor:     audit.Actor{User: "alice@example.com", Groups: []string{"system:authenticated", "dev"}},
		Object:    audit.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "payments", Name: fmt.Sprintf("settings-%d", i)},
		Operation: "UPDATE",
		Policy:    "gitops-only",
		Reason:    fmt.Sprintf("reason %d: only the GitOps agent may change protected resources", i),
		Fields:    []string{".data.replicas"},
		Criteria:  []audit.Criterion{audit.CC6_1, audit.CC7_2},
	}
}

func events(from, n int) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		out[i] = event(from + i)
	}
	return out
}

func open(t testing.TB, dsn string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// superuser returns a connection for reaching past the store, as an attacker or operator would.
func superuser(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func scanAll(t testing.TB, s *Store, from uint64) []audit.Event {
	t.Helper()
	var out []audit.Event
	if err := s.Scan(context.Background(), from, func(e audit.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRecord compares two records by what the chain covers.
func sameRecord(t testing.TB, got, want audit.Event) {
	t.Helper()
	g, err1 := audit.Canonical(got)
	w, err2 := audit.Canonical(want)
	if err1 != nil || err2 != nil || !bytes.Equal(g, w) || got.Hash != want.Hash {
		t.Fatalf("record %d:\n got %s %s\nwant %s %s", want.Seq, g, got.Hash, w, want.Hash)
	}
}

func TestAppendScanHead(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Start(t), Options{PageSize: 2})
	if seq, hash, err := s.Head(ctx); err != nil || seq != 0 || hash != "" {
		t.Fatalf("empty head = %d %q %v", seq, hash, err)
	}
	first, err := s.Append(ctx, events(0, 3)...)
	if err != nil {
		t.Fatal(err)
	}
	more, err := s.Append(ctx, events(3, 2)...)
	if err != nil {
		t.Fatal(err)
	}
	all := append(first, more...)
	v := audit.NewChainVerifier(0, "")
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i+1, e.Seq)
		}
		if err := v.Next(e); err != nil {
			t.Fatalf("returned records do not chain: %v", err)
		}
	}
	seq, hash, err := s.Head(ctx)
	if err != nil || seq != 5 || hash != all[4].Hash {
		t.Fatalf("head = %d %.16s %v, want 5 %.16s", seq, hash, err, all[4].Hash)
	}
	got := scanAll(t, s, 0) // pages of 2: three queries
	if len(got) != 5 {
		t.Fatalf("scanned %d records, want 5", len(got))
	}
	for i := range got {
		sameRecord(t, got[i], all[i])
	}
	if got := scanAll(t, s, 4); len(got) != 2 || got[0].Seq != 4 {
		t.Fatalf("scan from 4: %d records", len(got))
	}
	if got := scanAll(t, s, 6); len(got) != 0 {
		t.Fatalf("scan past the head: %d records", len(got))
	}
	n := 0
	err = s.Scan(ctx, 1, func(audit.Event) error {
		if n++; n == 3 {
			return audit.ErrStop
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("ErrStop: scan returned %v after %d records", err, n)
	}
	boom := errors.New("boom")
	if err := s.Scan(ctx, 1, func(audit.Event) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("callback error not returned: %v", err)
	}
	if seq, head, err := s.Verify(ctx); err != nil || seq != 5 || head != hash {
		t.Fatalf("verify = %d %.16s %v", seq, head, err)
	}
}

func TestStoredEventIsTheCanonicalBytes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s := open(t, dsn, Options{})
	e := event(1)
	e.Digests = map[string]string{"z": "sha256:1", "a": "sha256:2"} // map keys sort in the encoding
	e.Time = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	out, err := s.Append(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := audit.Canonical(out[0])
	var stored []byte
	var col time.Time
	if err := superuser(t, dsn).QueryRow(ctx, "SELECT event, time FROM writ_audit_records WHERE seq = 1").Scan(&stored, &col); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, want) {
		t.Fatalf("stored\n%s\nwant\n%s", stored, want)
	}
	if !col.Equal(e.Time.Truncate(time.Microsecond)) {
		t.Fatalf("time column %s, want %s", col, e.Time)
	}
	if _, _, err := s.Verify(ctx); err != nil {
		t.Fatalf("nanosecond, non-UTC time does not re-verify: %v", err)
	}
}

func TestScanTime(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Start(t), Options{PageSize: 3})
	evs := events(0, 10)                     // t0 + 0s ... t0 + 9s
	evs[0], evs[9] = evs[9], evs[0]          // time order differs from sequence order
	evs[5].Time = evs[5].Time.Add(time.Hour) // t0 + 1h5s
	if _, err := s.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	err := s.ScanTime(ctx, t0.Add(2*time.Second), t0.Add(9*time.Second), func(e audit.Event) error {
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Times 2..8 seconds, except the record moved an hour later: seqs 3, 4, 5, 7, 8, 9.
	if fmt.Sprint(seqs) != "[3 4 5 7 8 9]" {
		t.Fatalf("ScanTime [2s, 9s) = %v", seqs)
	}
	seqs = nil
	if err := s.ScanTime(ctx, t0.Add(time.Hour), time.Time{}, func(e audit.Event) error { seqs = append(seqs, e.Seq); return nil }); err != nil || fmt.Sprint(seqs) != "[6]" {
		t.Fatalf("ScanTime from 1h, no end = %v, %v", seqs, err)
	}
}

func TestReopenContinuesTheChain(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Append(ctx, events(0, 3)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, event(9)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	s = open(t, dsn, Options{})
	after, err := s.Append(ctx, event(3))
	if err != nil {
		t.Fatal(err)
	}
	if after[0].Seq != 4 || after[0].PrevHash != before[2].Hash {
		t.Fatalf("after reopening, record %d follows %.16s; want 4 following %.16s", after[0].Seq, after[0].PrevHash, before[2].Hash)
	}
	if seq, _, err := s.Verify(ctx); err != nil || seq != 4 {
		t.Fatalf("verify after reopen: %d %v", seq, err)
	}
}

func TestChainsAreSeparate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Start(t)
	a, b := open(t, dsn, Options{Chain: "cluster-a"}), open(t, dsn, Options{Chain: "cluster-b"})
	if _, err := a.Append(ctx, events(0, 3)...); err != nil {
		t.Fatal(err)
	}
	out, err := b.Append(ctx, event(100))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Seq != 1 || out[0].PrevHash != "" {
		t.Fatalf("chain b's first record is %d after %q", out[0].Seq, out[0].PrevHash)
	}
	if n := len(scanAll(t, a, 0)); n != 3 {
		t.Fatalf("chain a has %d records", n)
	}
	for _, s := range []*Store{a, b} {
		if _, _, err := s.Verify(ctx); err != nil {
			t.Fatalf("chain %s: %v", s.Chain(), err)
		}
	}
	if _, err := Open(ctx, dsn, Options{Chain: "bad\nname"}); err == nil {
		t.Fatal("a chain name with a newline was accepted")
	}
}

func TestCheckpoints(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Start(t), Options{})
	pub, key, _ := ed25519.GenerateKey(nil)
	out, err := s.Append(ctx, events(0, 4)...)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.UTC) // nanoseconds are signed too
	c2 := audit.SignCheckpoint(key, 2, out[1].Hash, at)
	c4 := audit.SignCheckpoint(key, 4, out[3].Hash, at.Add(time.Minute))
	for _, c := range []audit.Checkpoint{c4, c2, c2} { // the repeat is a no-op
		if err := s.AddCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != c2 || got[1] != c4 {
		t.Fatalf("checkpoints = %+v, want [%+v %+v]", got, c2, c4)
	}
	for _, c := range got {
		if err := c.Verify(pub); err != nil {
			t.Fatalf("stored checkpoint no longer verifies: %v", err)
		}
	}
	for name, c := range map[string]audit.Checkpoint{
		"wrong head":     audit.SignCheckpoint(key, 3, out[1].Hash, at),
		"beyond head":    audit.SignCheckpoint(key, 5, "ab", at),
		"head at zero":   audit.SignCheckpoint(key, 0, "ab", at),
		"other sig same": {Seq: c2.Seq, Head: c2.Head, Time: c2.Time, KeyID: c2.KeyID, Signature: strings.Repeat("0", 128)},
	} {
		if err := s.AddCheckpoint(ctx, c); !errors.Is(err, audit.ErrCheckpoint) {
			t.Errorf("%s: AddCheckpoint = %v, want ErrCheckpoint", name, err)
		}
	}
	if _, _, err := s.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidEventsAreRejected(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Start(t), Options{})
	if _, err := s.Append(ctx, event(0)); err != nil {
		t.Fatal(err)
	}
	secret := event(2)
	secret.Reason = "-----BEGIN RSA PRIVATE KEY-----"
	unencodable := event(3)
	unencodable.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // JSON cannot carry year 10000
	for name, batch := range map[string][]audit.Event{
		"unknown kind": {event(1), {Kind: "Nope", Time: t0}},
		"no time":      {{Kind: audit.DriftDetected}},
		"secret":       {event(1), secret},
		"unencodable":  {event(1), unencodable},
	} {
		if out, err := s.Append(ctx, batch...); !errors.Is(err, audit.ErrInvalidEvent) || out != nil {
			t.Errorf("%s: Append = %v, %v; want ErrInvalidEvent", name, out, err)
		}
	}
	if seq, _, _ := s.Head(ctx); seq != 1 {
		t.Fatalf("head moved to %d: an invalid batch was written", seq)
	}
	if n := len(scanAll(t, s, 0)); n != 1 {
		t.Fatalf("%d records stored, want 1", n)
	}
}

// A group commit carrying an Append that cannot be encoded still commits the others.
func TestGroupCommitIsolatesABadAppend(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Start(t), Options{})
	bad := event(1)
	bad.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	reqs := []*appendReq{
		{ctx: ctx, events: events(0, 2), done: make(chan struct{})},
		{ctx: ctx, events: []audit.Event{event(5), bad}, done: make(chan struct{})},
		{ctx: ctx, events: events(2, 1), done: make(chan struct{})},
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	reqs = append(reqs, &appendReq{ctx: cancelled, events: events(9, 1), done: make(chan struct{})})
	s.commit(reqs)
	if reqs[0].err != nil || reqs[2].err != nil || !errors.Is(reqs[1].err, audit.ErrInvalidEvent) || !errors.Is(reqs[3].err, context.Canceled) {
		t.Fatalf("errors: %v / %v / %v / %v", reqs[0].err, reqs[1].err, reqs[2].err, reqs[3].err)
	}
	if reqs[2].out[0].Seq != 3 || reqs[2].out[0].PrevHash != reqs[0].out[1].Hash {
		t.Fatalf("the append after the bad one is record %d, not 3 following record 2", reqs[2].out[0].Seq)
	}
	if seq, _, err := s.Verify(ctx); err != nil || seq != 3 {
		t.Fatalf("verify: %d %v", seq, err)
	}
}

func TestCancelledAppendWritesNothing(t *testing.T) {
	s := open(t, pgtest.Start(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, event(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}
	if seq, _, _ := s.Head(context.Background()); seq != 0 {
		t.Fatalf("head = %d after a cancelled append", seq)
	}
}

func TestOpenChecksDurabilityAndHidesPasswords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dsn := pgtest.Start(t)
	if _, err := Open(ctx, dsn+" synchronous_commit=off", Options{}); err == nil || !strings.Contains(err.Error(), "synchronous_commit=off") {
		t.Fatalf("synchronous_commit=off accepted: %v", err)
	}
	s := open(t, dsn+" synchronous_commit=remote_apply", Options{})
	var level string
	if err := s.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&level); err != nil || level != "remote_apply" {
		t.Fatalf("synchronous_commit = %q %v, want the DSN's remote_apply", level, err)
	}
	s = open(t, dsn, Options{})
	if err := s.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&level); err != nil || level != "on" {
		t.Fatalf("synchronous_commit = %q %v, want on", level, err)
	}
	for _, bad := range []string{
		"host=/nonexistent user=writ password=hunter2 dbname=audit",
		"postgres://writ:hunter2@127.0.0.1:1/audit?connect_timeout=2",
		"postgres://writ:hunter2@%zz",
	} {
		_, err := Open(ctx, bad, Options{})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%s) error leaks the password or is missing: %v", strings.ReplaceAll(bad, "hunter2", "***"), err)
		}
	}
}
