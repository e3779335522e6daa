package webhook_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The load generator can run in a process of its own, as the apiserver does: its allocations and
// garbage collection then stay out of the webhook server's process. The benchmark starts this test
// binary again, running only TestLoadGeneratorProcess, and sends it one command per phase on
// stdin; the child answers each with one line on stdout.

const loadgenEnv = "WRIT_BENCH_LOADGEN_CHILD"

type loadgenCommand struct {
	URL      string        `json:"url"`
	Duration time.Duration `json:"duration"`
}

type loadgenResult struct {
	Latencies []time.Duration `json:"latencies"`
	Failed    int             `json:"failed"`
	Took      time.Duration   `json:"took"`
	Err       string          `json:"err,omitempty"`
}

const loadgenPrefix = "LOADGEN "

// TestLoadGeneratorProcess is the load generator's process; it does nothing in a normal test run.
func TestLoadGeneratorProcess(t *testing.T) {
	if os.Getenv(loadgenEnv) == "" {
		return
	}
	ca, err := os.ReadFile(os.Getenv(loadgenEnv))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: benchWorkers}
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	var bodies [][]byte
	for _, r := range benchReviews(t) {
		bodies = append(bodies, r.body)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		var c loadgenCommand
		var res loadgenResult
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			res.Err = err.Error()
		} else {
			res.Latencies, res.Failed, res.Took = benchLoad(hc, c.URL, bodies, c.Duration)
		}
		b, _ := json.Marshal(res)
		fmt.Fprintf(out, "%s%s\n", loadgenPrefix, b)
		out.Flush()
	}
}

// loadgen is a running load-generator process.
type loadgen struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startLoadgen starts the load generator trusting the CA in caFile.
func startLoadgen(b *testing.B, caFile string) *loadgen {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestLoadGeneratorProcess$", "-test.short", "-test.count=1")
	cmd.Env = append(os.Environ(), loadgenEnv+"="+caFile)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	l := &loadgen{cmd: cmd, in: in, out: bufio.NewScanner(stdout)}
	l.out.Buffer(make([]byte, 64<<20), 64<<20)
	b.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	return l
}

// load runs one phase in the load generator (see benchLoad).
func (l *loadgen) load(b *testing.B, url string, d time.Duration) ([]time.Duration, int, time.Duration) {
	c, _ := json.Marshal(loadgenCommand{URL: url, Duration: d})
	if _, err := fmt.Fprintf(l.in, "%s\n", c); err != nil {
		b.Fatalf("load generator: %v", err)
	}
	for l.out.Scan() {
		line, ok := strings.CutPrefix(l.out.Text(), loadgenPrefix)
		if !ok {
			continue // the test framework's own output
		}
		var res loadgenResult
		if err := json.Unmarshal([]byte(line), &res); err != nil || res.Err != "" {
			b.Fatalf("load generator: %v %s", err, res.Err)
		}
		return res.Latencies, res.Failed, res.Took
	}
	b.Fatalf("load generator ended: %v", l.out.Err())
	return nil, 0, 0
}
