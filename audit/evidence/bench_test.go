package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
	"writ.dev/writ/test/pgtest"
)

const benchRecords = 1_000_000

var benchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// load appends n varied records, one a second, in batches, with a checkpoint every 100,000.
func load(b *testing.B, s audit.Store, key ed25519.PrivateKey, n int) {
	b.Helper()
	ctx := context.Background()
	batch := make([]audit.Event, 0, 5000)
	for i := 0; i < n; i++ {
		e := audit.Event{Kind: audit.MutationDenied, Time: benchStart.Add(time.Duration(i) * time.Second),
			Actor: audit.Actor{User: fmt.Sprintf("user-%d", i%97), Groups: []string{"devs"}}, Operation: "UPDATE",
			Object: audit.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: fmt.Sprintf("app-%d", i%13)},
			Reason: "only the GitOps agent may change protected resources"}
		if i%10 == 0 {
			e = audit.Event{Kind: audit.SyncApplied, Time: e.Time, Commit: "0123456789abcdef0123456789abcdef01234567",
				Signers: []string{aliceID}, Objects: map[string]int{"configured": 3}}
		}
		batch = append(batch, e.WithDefaults(time.Now))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := s.Append(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		if (i+1)%100_000 == 0 {
			seq, head, _ := s.Head(ctx)
			if err := s.AddCheckpoint(ctx, audit.SignCheckpoint(key, seq, head, e.Time)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchExport exports the whole 1,000,000-record period and then verifies the bundle, reporting
// both times (goals: export ≤ 30 s, verify ≤ 5 s).
func benchExport(b *testing.B, s audit.Store, key ed25519.PrivateKey) {
	ctx := context.Background()
	o := ExportOptions{From: benchStart, To: benchStart.Add(benchRecords * time.Second), Key: key}
	var bundle bytes.Buffer
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bundle.Reset()
		sum, err := Export(ctx, s, &bundle, o)
		if err != nil || sum.Records != benchRecords {
			b.Fatalf("export: %v, %d records", err, sum.Records)
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/export-1M")
	b.ReportMetric(float64(bundle.Len())/(1<<20), "MiB/bundle")
	start := time.Now()
	res, err := Verify(bytes.NewReader(bundle.Bytes()), int64(bundle.Len()), VerifyOptions{PublicKey: key.Public().(ed25519.PublicKey)})
	if err != nil || res.Records != benchRecords {
		b.Fatalf("verify: %v", err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "s/verify-bundle-1M")
}

func BenchmarkExport1M(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	b.Run("embedded", func(b *testing.B) {
		s, err := segment.Open(b.TempDir(), segment.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		load(b, s, key, benchRecords)
		benchExport(b, s, key)
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := pgtest.Start(b)
		s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		load(b, s, key, benchRecords)
		benchExport(b, s, key)
	})
}
