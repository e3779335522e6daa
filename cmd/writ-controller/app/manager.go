package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"writ.dev/writ/cmd/internal/version"
	"writ.dev/writ/scheme"
)

// NewManager builds the manager for cfg and o, with every enabled component (and, with
// --manage-webhook-certs, the webhook certificates) set up in the order of Options.parts.
func NewManager(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s, err := scheme.New()
	if err != nil {
		return nil, err
	}
	gs := o.GracefulShutdown
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  s,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        o.LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		GracefulShutdownTimeout: &gs,
		WebhookServer:           webhook.NewServer(webhook.Options{Port: o.WebhookPort, CertDir: o.WebhookCertDir}),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	for _, p := range o.parts() {
		if !p.on {
			continue
		}
		if err := p.setup(ctx, mgr); err != nil {
			return nil, fmt.Errorf("setting up %s: %w", p.name, err)
		}
	}
	return mgr, nil
}

// restConfig loads the kubeconfig named by o, $KUBECONFIG, or the in-cluster configuration, with
// o's client-side rate limits.
func restConfig(o Options) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, err
	}
	// client-go's default (5 per second) or controller-runtime's (20) would stretch the first
	// apply of 1,000 objects (a dry run and an apply each) over minutes.
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	return cfg, nil
}

// Main parses args, runs the manager until ctx ends, and returns the exit code.
func Main(ctx context.Context, args []string, errOut io.Writer) int {
	o, err := ParseFlags(args, errOut)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(errOut, "writ-controller:", err)
		return 2
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(errOut)))
	log := ctrl.Log.WithName("setup")
	log.Info("starting writ-controller", "version", version.Get().Version, "components", o.Enabled)
	cfg, err := restConfig(o)
	if err != nil {
		fmt.Fprintln(errOut, "writ-controller: no Kubernetes configuration:", err, "(pass --kubeconfig or run in a cluster)")
		return 2
	}
	mgr, err := NewManager(ctx, cfg, o)
	if err != nil {
		fmt.Fprintln(errOut, "writ-controller:", err)
		return 1
	}
	if err := mgr.Start(ctx); err != nil {
		fmt.Fprintln(errOut, "writ-controller:", err)
		return 1
	}
	return 0
}
