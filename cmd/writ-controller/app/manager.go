package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	"writ.dev/writ/cmd/internal/version"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// Component is one part of Writ that the manager runs.
type Component interface {
	// Setup registers the component's controllers, webhooks and runnables with mgr.
	Setup(ctx context.Context, mgr ctrl.Manager, o Options) error
}

// components maps a component name to its implementation. A component that is not built yet is
// absent; enabling it is an error rather than a silent no-op.
var components = map[string]Component{}

// Scheme returns the scheme with Kubernetes' built-in kinds and Writ's own.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), provenancev1.AddToScheme(s), auditv1.AddToScheme(s), guardv1.AddToScheme(s), reconcilev1.AddToScheme(s), ssv1alpha1.AddToScheme(s)); err != nil {
		return nil, err
	}
	return s, nil
}

// NewManager builds the manager for cfg and o, with every enabled component set up.
func NewManager(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	gs := o.GracefulShutdown
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
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
	for _, name := range Components {
		if !o.Enabled[name] {
			continue
		}
		c, ok := components[name]
		if !ok {
			return nil, fmt.Errorf("component %q is not available in this build of writ-controller yet: drop --enable-%s", name, name)
		}
		if err := c.Setup(ctx, mgr, o); err != nil {
			return nil, fmt.Errorf("setting up %s: %w", name, err)
		}
	}
	if o.ManageWebhookCerts {
		if err := setupWebhookCerts(mgr, o); err != nil {
			return nil, fmt.Errorf("setting up the webhook certificates: %w", err)
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
