package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"writ.dev/writ/sealing"
	"writ.dev/writ/test/controlplane"
)

// sealBench is what BenchmarkSeal1000 compares on: one RSA-4096 certificate, 1,000 Secret files,
// the writ binary and kubeseal.
type sealBench struct {
	cert, secrets, writ string
	files               []string
}

var (
	sealBenchOnce sync.Once
	sealBenchData sealBench
	sealBenchErr  error
)

func setupSealBench(b *testing.B) sealBench {
	b.Helper()
	sealBenchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "writ-seal-bench-")
		if err != nil {
			sealBenchErr = err
			return
		}
		k, err := sealing.NewKey(randReader(), sealing.DefaultKeySize, time.Now(), time.Hour, "bench")
		if err != nil {
			sealBenchErr = err
			return
		}
		d := sealBench{cert: filepath.Join(dir, "cert.pem"), secrets: filepath.Join(dir, "secrets"), writ: filepath.Join(dir, "writ")}
		_ = os.WriteFile(d.cert, sealing.CertPEM(k.Cert), 0o600)
		_ = os.MkdirAll(d.secrets, 0o755)
		for i := 0; i < 1000; i++ {
			f := filepath.Join(d.secrets, fmt.Sprintf("s%04d.yaml", i))
			_ = os.WriteFile(f, []byte(fmt.Sprintf(plainSecret, fmt.Sprintf("s%04d", i), "bench", fmt.Sprint("value-", i))), 0o600)
			d.files = append(d.files, f)
		}
		root, err := controlplane.RepoRoot()
		if err != nil {
			sealBenchErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", d.writ, "./cmd/writ")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			sealBenchErr = fmt.Errorf("building writ: %v\n%s", err, out)
			return
		}
		sealBenchData = d
	})
	if sealBenchErr != nil {
		b.Fatal(sealBenchErr)
	}
	return sealBenchData
}

// medians runs a and b alternately n times each, so that both see the same machine, and returns
// their median durations.
func medians(n int, a, b func()) (time.Duration, time.Duration) {
	da, db := make([]time.Duration, n), make([]time.Duration, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		a()
		da[i] = time.Since(start)
		start = time.Now()
		b()
		db[i] = time.Since(start)
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	return med(da), med(db)
}

var (
	kubesealLoopOnce sync.Once
	kubesealLoop     time.Duration
	singleWrit       time.Duration
	singleKubeseal   time.Duration
)

// BenchmarkSeal1000 seals 1,000 Secret files (RSA-4096) with one `writ seal -f DIR` process and
// reports it beside a shell-style loop of 1,000 kubeseal processes on the same certificate, and
// one Secret sealed by one process of each (goals: writ batch <= 1 s; single writ seal no slower
// than kubeseal).
func BenchmarkSeal1000(b *testing.B) {
	bt := buildBitnamiTools(b)
	d := setupSealBench(b)
	out := b.TempDir()
	kubesealLoopOnce.Do(func() {
		start := time.Now()
		for _, f := range d.files {
			if _, errOut, err := runErr("", bt.kubeseal, "--cert", d.cert, "-f", f, "-w", filepath.Join(out, "k-"+filepath.Base(f))); err != nil {
				b.Fatalf("kubeseal: %v %s", err, errOut)
			}
		}
		kubesealLoop = time.Since(start)
		one := d.files[0]
		singleKubeseal, singleWrit = medians(51, func() {
			_, _, _ = runErr("", bt.kubeseal, "--cert", d.cert, "-f", one, "-w", filepath.Join(out, "k1.json"))
		}, func() {
			_, _, _ = runErr("", d.writ, "seal", "--cert", d.cert, "-f", one, "-w", filepath.Join(out, "w1.json"))
		})
	})
	var took, cpu time.Duration
	for b.Loop() {
		start := time.Now()
		cmd := exec.Command(d.writ, "seal", "--cert", d.cert, "-f", d.secrets, "-w", filepath.Join(out, "writ"))
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("writ seal: %v %s", err, msg)
		}
		took = time.Since(start)
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.ReportMetric(took.Seconds(), "s/1000-writ-seal-batch")
	b.ReportMetric(cpu.Seconds(), "cpu-s/1000-writ-seal-batch")
	b.ReportMetric(kubesealLoop.Seconds(), "s/1000-kubeseal-loop")
	b.ReportMetric(float64(singleWrit.Microseconds())/1000, "ms/writ-seal-1-secret")
	b.ReportMetric(float64(singleKubeseal.Microseconds())/1000, "ms/kubeseal-1-secret")
	b.ReportMetric(float64(singleWrit)/float64(singleKubeseal), "writ/kubeseal-1-secret")
}
