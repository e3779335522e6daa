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
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/test/harness"
)

type options struct {
	controller string
	workDir    string
	keep       bool
	timeout    time.Duration
}

// step prints a numbered step in plain words.
type stepper struct {
	out io.Writer
	n   int
}

func (s *stepper) step(format string, args ...any) {
	s.n++
	fmt.Fprintf(s.out, "\n== %d. %s\n", s.n, fmt.Sprintf(format, args...))
}

func (s *stepper) evidence(format string, args ...any) {
	for _, l := range strings.Split(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		fmt.Fprintf(s.out, "   | %s\n", l)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	s := &stepper{out: out}
	if _, err := os.Stat(o.controller); err != nil {
		return fmt.Errorf("no writ-controller binary at %s: run `make build` (make demo does it for you)", o.controller)
	}
	if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return err
	}

	s.step("Start a local Kubernetes control plane (kube-apiserver + etcd built from source)")
	env, err := harness.Start(harness.Options{Log: io.Discard})
	if err != nil {
		return err
	}
	defer env.Stop()
	s.evidence("kube-apiserver %s at %s", env.ServerVersion, env.Config.Host)

	kc, err := env.KubeConfig("writ-demo-admin", "system:masters")
	if err != nil {
		return err
	}
	kcPath := filepath.Join(o.workDir, "kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		return err
	}
	s.evidence("kubeconfig for this cluster: %s", kcPath)
	if err := env.EnsureNamespace(ctx, "writ-system"); err != nil {
		return err
	}

	s.step("Run writ-controller against it, with leader election")
	probes, metrics := freeAddr(), freeAddr()
	logPath := filepath.Join(o.workDir, "writ-controller.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"--kubeconfig", kcPath, "--health-probe-bind-address", probes, "--metrics-bind-address", metrics, "--leader-elect"}
	cmd := exec.CommandContext(ctx, o.controller, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	s.evidence("$ %s %s", o.controller, strings.Join(args, " "))
	s.evidence("logs: %s", logPath)

	if err := waitFor(ctx, exited, func() bool { return httpOK("http://" + probes + "/readyz") }); err != nil {
		return fmt.Errorf("writ-controller did not become ready: %w (see %s)", err, logPath)
	}
	s.evidence("GET http://%s/readyz -> 200 ok", probes)

	var lease coordinationv1.Lease
	key := client.ObjectKey{Namespace: "writ-system", Name: "writ-controller.writ.dev"}
	if err := waitFor(ctx, exited, func() bool {
		return env.Client.Get(ctx, key, &lease) == nil && lease.Spec.HolderIdentity != nil
	}); err != nil {
		return fmt.Errorf("writ-controller did not take the leader lease: %w", err)
	}
	s.evidence("leader lease %s held by %s", key, *lease.Spec.HolderIdentity)

	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		return fmt.Errorf("metrics endpoint: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "leader_election_master_status") {
		return fmt.Errorf("metrics endpoint answered %d without leader_election_master_status", resp.StatusCode)
	}
	s.evidence("GET http://%s/metrics -> %s", metrics, grepLine(string(body), "leader_election_master_status{"))

	s.step("Done: Writ's manager runs against the local control plane")
	fmt.Fprintln(out, "   Later steps (signed commits applied, unsigned refused, edits denied, break-glass, drift")
	fmt.Fprintln(out, "   healed, sealed secrets, audit evidence) arrive with the components that do them.")
	if o.keep {
		fmt.Fprintf(out, "\n   Running until Ctrl-C. Try: KUBECONFIG=%s kubectl get lease -n writ-system\n", kcPath)
		select {
		case <-ctx.Done():
		case err := <-exited:
			return fmt.Errorf("writ-controller exited: %v", err)
		}
	}
	return nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor polls cond until it holds, the process exits, or ctx ends.
func waitFor(ctx context.Context, exited <-chan error, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			if err == nil {
				err = errors.New("exited")
			}
			return fmt.Errorf("writ-controller stopped: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
