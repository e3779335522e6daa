package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// process is a writ-controller the demo runs, logging to a file.
type process struct {
	name     string
	args     []string
	log      string
	probes   string // host:port of /readyz
	metrics  string // host:port of /metrics
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	err      error         // its exit status, once done
	finished bool
}

// startProcess runs bin with args plus probe and metrics addresses of its own, logging to
// dir/name.log. Stop it with stop.
func startProcess(ctx context.Context, dir, name, bin string, args []string) (*process, error) {
	p := &process{name: name, log: filepath.Join(dir, name+".log"), probes: freeAddr("127.0.0.1"), metrics: freeAddr("127.0.0.1"), done: make(chan struct{})}
	p.args = append(append([]string{}, args...), "--health-probe-bind-address", p.probes, "--metrics-bind-address", p.metrics)
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.CommandContext(ctx, bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Cancel = func() error { return p.cmd.Process.Signal(os.Interrupt) }
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// commandLine is how a user would start the process.
func (p *process) commandLine(bin string) string {
	return bin + " " + strings.Join(p.args, " ")
}

// stop interrupts the process (a graceful shutdown) and kills it after 15 s.
func (p *process) stop() {
	if p.finished {
		return
	}
	p.finished = true
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// ready waits for /readyz to answer 200.
func (p *process) ready(ctx context.Context, timeout time.Duration) error {
	err := p.until(ctx, timeout, func() (bool, string) {
		ok := httpOK("http://" + p.probes + "/readyz")
		return ok, "GET /readyz not 200 yet"
	})
	if err != nil {
		return fmt.Errorf("%s did not become ready: %w (see %s)", p.name, err, p.log)
	}
	return nil
}

// until polls cond every 100 ms until it holds, failing if the process exits, ctx ends or
// timeout passes; the error carries cond's last description of the state.
func (p *process) until(ctx context.Context, timeout time.Duration, cond func() (bool, string)) error {
	return poll(ctx, timeout, []*process{p}, cond)
}

// exitedErr describes how the process ended.
func (p *process) exitedErr() error {
	err := p.err
	if err == nil {
		err = errors.New("exited")
	}
	return fmt.Errorf("%s stopped: %w (see %s)", p.name, err, p.log)
}

// poll calls cond every 100 ms until it holds, ctx ends, timeout passes or one of procs exits.
func poll(ctx context.Context, timeout time.Duration, procs []*process, cond func() (bool, string)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ok, state := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last state: %s", ctx.Err(), state)
		case <-deadline.C:
			return fmt.Errorf("not after %s; last state: %s", timeout, state)
		case <-time.After(100 * time.Millisecond):
		}
		for _, p := range procs {
			select {
			case <-p.done:
				return p.exitedErr()
			default:
			}
		}
	}
}

// metric returns the first line of the process's /metrics that starts with prefix.
func (p *process) metric(prefix string) (string, error) {
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return grepLine(string(b), prefix), nil
}

// handedOut are the ports freeAddr returned or reserve took: a port is free when chosen but only
// bound once a process starts, so the next choice must not pick it again.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// reserve keeps freeAddr from choosing port (one another program will bind).
func reserve(port int) {
	handedOut.Lock()
	defer handedOut.Unlock()
	handedOut.ports[port] = true
}

// freeAddr returns host:port with a port nobody listens on and freeAddr has not returned before.
func freeAddr(host string) string {
	handedOut.Lock()
	defer handedOut.Unlock()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			break
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return net.JoinHostPort(host, strconv.Itoa(port))
		}
	}
	return net.JoinHostPort(host, "0")
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
