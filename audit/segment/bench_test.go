package segment

import (
	"encoding/json"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"writ.dev/writ/audit"
)

// BenchmarkAppendDurable measures durable appends per second: goroutines each appending one
// event at a time and waiting for its fsync, so that group commit decides the throughput. The
// figure the goal names is appenders=64.
func BenchmarkAppendDurable(b *testing.B) {
	for _, bc := range []struct {
		name      string
		appenders int
		delay     time.Duration
	}{
		{"appenders=1", 1, 0},
		{"appenders=64", 64, 0},
		{"appenders=64/no-wait", 64, -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := open(b, b.TempDir(), Options{BatchDelay: bc.delay})
			e := event(1)
			if bc.appenders == 1 {
				for b.Loop() {
					if _, err := l.Append(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
				return
			}
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((bc.appenders + procs - 1) / procs)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(ctx, e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(b.N)/float64(l.commits.Load()), "appends/fsync")
		})
	}
}

// fixtures are logs built once per test process, removed by TestMain.
var fixtures sync.Map // record count -> directory

func TestMain(m *testing.M) {
	code := m.Run()
	fixtures.Range(func(_, dir any) bool { os.RemoveAll(dir.(string)); return true })
	os.Exit(code)
}

// fixtureLog returns the directory of a log of n records, building it the first time.
func fixtureLog(b *testing.B, n int) string {
	if dir, ok := fixtures.Load(n); ok {
		return dir.(string)
	}
	dir, err := os.MkdirTemp("", "writ-segment-bench-")
	if err != nil {
		b.Fatal(err)
	}
	l, err := Open(dir, Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]audit.Event, 4096)
	for done := 0; done < n; done += len(batch) {
		batch = batch[:min(len(batch), n-done)]
		for i := range batch {
			batch[i] = event(done + i)
		}
		if _, err := l.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	fixtures.Store(n, dir)
	return dir
}

// BenchmarkVerify1M verifies a 1,000,000-record chain: about 550 MB in nine 64 MiB segments,
// built once outside the timer. cpu-s/op is the CPU time the verification used, all cores.
func BenchmarkVerify1M(b *testing.B) {
	const n = 1_000_000
	dir := fixtureLog(b, n)
	l := open(b, dir, Options{})
	cpu := cpuTime()
	for b.Loop() {
		seq, _, err := l.Verify(ctx)
		if err != nil || seq != n {
			b.Fatalf("Verify = %d, %v", seq, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric((cpuTime()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkScan reads 100,000 records through Scan.
func BenchmarkScan(b *testing.B) {
	const n = 100_000
	dir := fixtureLog(b, n)
	l := open(b, dir, Options{})
	for b.Loop() {
		count := 0
		if err := l.Scan(ctx, 1, func(audit.Event) error { count++; return nil }); err != nil || count != n {
			b.Fatalf("Scan: %d records, %v", count, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkScanFromTheMiddle measures finding one record in a large log: segment names and the
// sparse index make it independent of the log's size.
func BenchmarkScanFromTheMiddle(b *testing.B) {
	const n = 100_000
	l := open(b, fixtureLog(b, n), Options{})
	for b.Loop() {
		if _, err := l.record(ctx, n/2+7); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEvent compares the fast record decoder with encoding/json.
func BenchmarkDecodeEvent(b *testing.B) {
	e, _ := audit.Link(event(1), 41, "ab")
	raw, _ := json.Marshal(e)
	b.Run("fast", func(b *testing.B) {
		var out audit.Event
		for b.Loop() {
			if err := audit.DecodeEvent(raw, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		var out audit.Event
		for b.Loop() {
			out = audit.Event{}
			if err := json.Unmarshal(raw, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
