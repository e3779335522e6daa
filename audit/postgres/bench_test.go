package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"writ.dev/writ/audit"
	"writ.dev/writ/test/pgtest"
)

// BenchmarkAppend measures durable appends per second (each returned only after its COMMIT
// was flushed) with one or many concurrent writers on one or two Stores (replicas) sharing a
// chain. appends/s counts events; events/commit shows the group commit at work.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name                      string
		replicas, writers, events int
	}{
		{"writers=1", 1, 1, 1},
		{"writers=16", 1, 16, 1},
		{"writers=256", 1, 256, 1},
		{"replicas=2/writers=128", 2, 128, 1},
		{"writers=1/events=100", 1, 1, 100},
	} {
		dsn := pgtest.Start(b)
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			stores := make([]*Store, bc.replicas)
			for i := range stores {
				stores[i] = open(b, dsn, Options{})
			}
			batch := events(0, bc.events)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range bc.writers {
				s := stores[w%len(stores)]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := s.Append(ctx, batch...); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			var commits uint64
			for _, s := range stores {
				commits += s.commits.Load()
			}
			n := float64(b.N * bc.events)
			b.ReportMetric(n/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(n/float64(commits), "events/commit")
		})
	}
}

// The chain of a million records that BenchmarkVerify1M and BenchmarkScan read, built once per
// test binary with COPY.
var million struct {
	once sync.Once
	dsn  string
	err  error
}

const millionRecords = 1_000_000

func millionChain(b *testing.B) *Store {
	b.Helper()
	srv := pgtest.Shared(b)
	million.once.Do(func() {
		start := time.Now()
		million.dsn, million.err = buildChain(context.Background(), srv, millionRecords)
		b.Logf("built a chain of %d records in %s", millionRecords, time.Since(start).Round(time.Millisecond))
	})
	if million.err != nil {
		b.Fatal(million.err)
	}
	return open(b, million.dsn, Options{})
}

// buildChain writes n linked records straight into a new database with COPY, as Append would
// have written them, and moves the head.
func buildChain(ctx context.Context, srv *pgtest.Server, n int) (string, error) {
	dsn, err := srv.CreateDatabase(ctx, "bench_million")
	if err != nil {
		return "", err
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		return "", err
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	seq, hash := uint64(0), ""
	var rowErr error
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"writ_audit_records"}, []string{"chain", "seq", "time", "kind", "event", "prev_hash", "hash"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if seq == uint64(n) {
				return nil, nil
			}
			e, err := audit.Link(event(int(seq)), seq, hash)
			var canon []byte
			if err == nil {
				canon, err = audit.Canonical(e)
			}
			if err != nil {
				rowErr = err
				return nil, err
			}
			seq, hash = e.Seq, e.Hash
			return []any{s.chain, int64(e.Seq), e.Time.Truncate(time.Microsecond), string(e.Kind), canon, e.PrevHash, e.Hash}, nil
		}))
	if err != nil {
		if rowErr != nil {
			return "", rowErr
		}
		return "", err
	}
	if _, err := conn.Exec(ctx, "UPDATE writ_audit_chains SET head_seq = $2, head_hash = $3 WHERE chain = $1", s.chain, int64(seq), hash); err != nil {
		return "", err
	}
	// Set hint bits and statistics now, so that no benchmark iteration pays for them.
	if _, err := conn.Exec(ctx, "VACUUM (FREEZE, ANALYZE) writ_audit_records"); err != nil {
		return "", err
	}
	return dsn, nil
}

// BenchmarkVerify1M verifies a chain of a million records (the goal is at most 5 s).
func BenchmarkVerify1M(b *testing.B) {
	s := millionChain(b)
	ctx := context.Background()
	for b.Loop() {
		seq, _, err := s.Verify(ctx)
		if err != nil || seq != millionRecords {
			b.Fatalf("verify: %d %v", seq, err)
		}
	}
	b.ReportMetric(float64(b.N*millionRecords)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkScan scans the million-record chain in full, page by page.
func BenchmarkScan(b *testing.B) {
	s := millionChain(b)
	ctx := context.Background()
	for b.Loop() {
		n := 0
		if err := s.Scan(ctx, 1, func(audit.Event) error { n++; return nil }); err != nil || n != millionRecords {
			b.Fatalf("scan: %d %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N*millionRecords)/b.Elapsed().Seconds(), "records/s")
}
