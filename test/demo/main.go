// Command demo walks through Writ on a local control plane: it starts kube-apiserver and etcd
// (built by `make controlplane`), runs writ-controller against them (the guard, audit and sealing
// as writ-system/writ-controller; the reconciler as writ-system/writ-reconciler), serves a Git
// repository over HTTP, and shows the seven steps of issue #8 with the commands a user would type
// and the system's real answers: a signed commit applied; unsigned and untrusted commits
// refused; a human's kubectl edits denied; break-glass with a second person's approval and the
// drift healed; an exempt identity's change healed; a Secret sealed with `writ seal` unsealed in
// the cluster; the audit evidence exported and verified. `make demo` runs it. It exits non-zero
// if any step does not behave as shown, and stops every process it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.controller, "controller", "bin/writ-controller", "path to the writ-controller binary")
	flag.StringVar(&o.writ, "writ", "bin/writ", "path to the writ CLI binary")
	flag.StringVar(&o.workDir, "dir", ".demo", "directory for the demo's files, logs and kubeconfigs (emptied at start)")
	flag.BoolVar(&o.keep, "keep", false, "keep the control plane and controller running until Ctrl-C")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up on the demo after this long")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}
