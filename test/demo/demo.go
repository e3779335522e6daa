package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"writ.dev/writ/test/harness"
)

type options struct {
	controller string // writ-controller binary
	writ       string // writ CLI binary
	workDir    string
	keep       bool
	timeout    time.Duration
}

// stepper prints the walkthrough: setup sections, numbered steps in plain words, the commands a
// user would type and the evidence the system gave back.
type stepper struct {
	out io.Writer
	n   int
}

func (s *stepper) section(format string, args ...any) {
	fmt.Fprintf(s.out, "\n-- %s\n", fmt.Sprintf(format, args...))
}

func (s *stepper) step(format string, args ...any) {
	s.n++
	fmt.Fprintf(s.out, "\n== %d. %s\n", s.n, fmt.Sprintf(format, args...))
}

// say explains in plain words.
func (s *stepper) say(format string, args ...any) {
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(s.out, "   %s\n", l)
	}
}

// cmd shows a command as the user would type it.
func (s *stepper) cmd(format string, args ...any) {
	fmt.Fprintf(s.out, "   $ %s\n", fmt.Sprintf(format, args...))
}

// evidence shows what the system answered.
func (s *stepper) evidence(format string, args ...any) {
	for _, l := range strings.Split(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		fmt.Fprintf(s.out, "   | %s\n", l)
	}
}

// demo is the state the steps share.
type demo struct {
	o   options
	s   *stepper
	env *harness.Env

	admin       string            // the administrator's kubeconfig
	kubeconfigs map[string]string // service account -> kubeconfig
	hpa         *rest.Config      // the HorizontalPodAutoscaler's service account
	// reconcilerConfig is the agent's connection, for Writ's own configuration.
	reconcilerConfig *rest.Config
	controller       *process // webhook, audit, sealing
	reconciler       *process

	repo        *repo
	repoURL     string
	alice       sshKey // the trusted developer
	mallory     sshKey // a key nobody trusts
	good        string // the last commit Writ applied
	secretValue string // the value sealed in step 7 (never printed)
	start       time.Time
	trail       trail // the audit records as they are written
}

func run(ctx context.Context, o options, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	ctrllog.SetLogger(logr.Discard()) // the clients' logs would only interleave with the walkthrough
	// Absolute paths: some commands run in the repository's directory.
	for _, b := range []struct {
		name string
		path *string
	}{{"writ-controller", &o.controller}, {"writ", &o.writ}, {"", &o.workDir}} {
		abs, err := filepath.Abs(*b.path)
		if err != nil {
			return err
		}
		*b.path = abs
		if _, err := os.Stat(abs); err != nil && b.name != "" {
			return fmt.Errorf("no %s binary at %s: run `make build` (make demo does it for you)", b.name, abs)
		}
	}
	// A fresh directory each run: old audit logs and caches would belong to another cluster.
	if err := prepare(o.workDir); err != nil {
		return err
	}
	d := &demo{o: o, s: &stepper{out: out}, kubeconfigs: map[string]string{}, start: time.Now().UTC().Add(-time.Minute).Truncate(time.Second)}
	defer d.stop()
	fmt.Fprintf(out, "Writ on a local control plane. Everything below is real: the commands are what you would type, the\n"+
		"lines marked | are what the system answered. Files, logs and kubeconfigs are in %s.\n", o.workDir)

	setup := []func(context.Context) error{
		func(context.Context) error { return d.startControlPlane() },
		d.watchAudit, d.identities, d.guardPolicy, d.auditSubmitterPolicies, d.bootstrap, d.startController, d.startReconciler, d.installFallback,
	}
	steps := []func(context.Context) error{d.signedCommit, d.refusedCommits, d.humanEdits, d.breakGlass, d.exemptChange, d.agentIdentity, d.sealedSecret, d.auditEvidence}
	for _, f := range append(setup, steps...) {
		if err := f(ctx); err != nil {
			return err
		}
	}
	d.s.section("Done: every step behaved as shown")
	if o.keep {
		fmt.Fprintf(out, "   Running until Ctrl-C. Try: KUBECONFIG=%s kubectl get syncs,gitsources -A\n", d.admin)
		select {
		case <-ctx.Done():
		case <-d.controller.done:
			return d.controller.exitedErr()
		case <-d.reconciler.done:
			return d.reconciler.exitedErr()
		}
	}
	return nil
}

// stop ends the processes, then the control plane.
func (d *demo) stop() {
	for _, p := range []*process{d.reconciler, d.controller} {
		if p != nil {
			p.stop()
		}
	}
	if d.env != nil {
		_ = d.env.Stop()
	}
}

// writ runs the writ CLI in dir and returns its combined output and exit code.
func (d *demo) writ(ctx context.Context, dir string, stdin io.Reader, args ...string) (string, int, error) {
	cmd := exec.CommandContext(ctx, d.o.writ, args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode(), nil
	}
	return string(out), 0, err
}

// as returns a client impersonating p, as kubectl --as/--as-group does.
func (d *demo) as(p person) (client.Client, error) {
	return d.env.ClientAs(p.user, p.group)
}

// until polls cond until it holds, failing the demo if either process stops.
func (d *demo) until(ctx context.Context, what string, timeout time.Duration, cond func() (bool, string)) error {
	var procs []*process
	for _, p := range []*process{d.controller, d.reconciler} {
		if p != nil {
			procs = append(procs, p)
		}
	}
	if err := poll(ctx, timeout, procs, cond); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// prepare makes workDir empty. It refuses a non-empty directory that an earlier demo did not
// make, so --dir never deletes anything else.
func prepare(dir string) error {
	marker := filepath.Join(dir, ".writ-demo")
	entries, err := os.ReadDir(dir)
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(marker); err != nil {
			return fmt.Errorf("%s is not empty and was not made by the demo: choose another --dir", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(marker, []byte("made by `make demo`; removed by its next run\n"), 0o644)
}
