// Command demo walks through Writ on a local control plane: it starts kube-apiserver and etcd
// (built by `make controlplane`), runs writ-controller against them, and shows each step with its
// evidence. `make demo` runs it. It exits non-zero if any step does not behave as shown, and stops
// every process it started.
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
