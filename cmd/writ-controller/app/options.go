package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
	"writ.dev/writ/witness/feed"
)

// Options are writ-controller's flags. The manager reads the general ones; Options.parts hands
// each component its own options struct (WebhookOptions, AuditOptions, ...) made from the rest.
type Options struct {
	Kubeconfig              string
	KubeAPIQPS              float32 // client-side rate limit towards the apiserver
	KubeAPIBurst            int
	MetricsAddr             string
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	Namespace               string // Writ's own namespace
	GracefulShutdown        time.Duration
	Enabled                 map[string]bool

	// Audit component.
	AuditDir                string
	AuditChain              string
	AuditCheckpointInterval time.Duration
	AuditExportAddr         string

	// The manager's webhook server, which the webhook component's handlers are served by.
	WebhookPort    int
	WebhookCertDir string
	// The witness, in the webhook component: its cache and the guard's default mode.
	WitnessCacheDir string
	WitnessMode     guardv1.WitnessMode
	// WitnessTrustedMutators are the mutating admission objects the witness trusts by name
	// (--witness-trusted-mutators, feed.ParseTrustedMutator).
	WitnessTrustedMutators []string

	// Self-managed webhook TLS (without cert-manager): see certs.go.
	ManageWebhookCerts   bool
	WebhookCertSecret    string
	WebhookService       string
	WebhookConfiguration string
	// MutatingWebhookConfiguration also gets the caBundle (writ-breakglass); empty: none.
	MutatingWebhookConfiguration string

	// Reconciler component.
	ReconcileCacheDir string

	// Sealing component.
	SealingAddr           string
	SealingKeyRenewPeriod time.Duration
	SealingKeyCutoff      time.Time
	SealingKeyTTL         time.Duration
	SealingKeyCN          string
	SealingWorkers        int
	SealingRateLimit      float64
	SealingRateBurst      int
}

// DefaultOptions returns the options used when no flag is given.
func DefaultOptions() Options {
	return Options{
		KubeAPIQPS:       200,
		KubeAPIBurst:     400,
		MetricsAddr:      ":8080",
		ProbeAddr:        ":8081",
		LeaderElectionID: "writ-controller.writ.dev",
		Namespace:        "writ-system",
		GracefulShutdown: 30 * time.Second,
		Enabled:          map[string]bool{},

		AuditDir:                "/var/lib/writ/audit",
		AuditChain:              "default",
		AuditCheckpointInterval: time.Minute,
		AuditExportAddr:         ":8082",

		WebhookPort:    9443,
		WebhookCertDir: "/tmp/k8s-webhook-server/serving-certs",
		WitnessMode:    guardv1.WitnessEnforce,

		WebhookCertSecret:    "writ-webhook-tls",
		WebhookService:       "writ-webhook",
		WebhookConfiguration: "writ-guard",

		ReconcileCacheDir: "/var/cache/writ",

		SealingAddr:           ":8083",
		SealingKeyRenewPeriod: 30 * 24 * time.Hour,
		SealingKeyTTL:         10 * 365 * 24 * time.Hour,
		SealingWorkers:        4,
		SealingRateLimit:      2,
		SealingRateBurst:      2,
	}
}

// ParseFlags parses args into Options. It writes usage to out for -h.
func ParseFlags(args []string, out io.Writer) (Options, error) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("writ-controller", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "path to a kubeconfig; default in-cluster configuration or $KUBECONFIG")
	qps := fs.Float64("kube-api-qps", float64(o.KubeAPIQPS), "requests per second to the apiserver, client-side (the apiserver's priority and fairness also applies; the reconciler keeps at most 10 applies in flight)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "requests allowed in a burst above --kube-api-qps")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, `address the Prometheus metrics endpoint binds to ("0" disables it)`)
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "address the /healthz and /readyz probes bind to")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader so only one replica runs the controllers")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election lease (default: --namespace)")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the leader-election lease")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "Writ's own namespace")
	fs.DurationVar(&o.GracefulShutdown, "graceful-shutdown-timeout", o.GracefulShutdown, "how long to wait for components to stop")
	fs.StringVar(&o.AuditDir, "audit-dir", o.AuditDir, "directory of the embedded audit log (the controller's persistent volume)")
	fs.StringVar(&o.AuditChain, "audit-chain", o.AuditChain, "chain name in a shared PostgreSQL audit store (one per cluster); the DSN comes from $"+"WRIT_AUDIT_POSTGRES_DSN")
	fs.DurationVar(&o.AuditCheckpointInterval, "audit-checkpoint-interval", o.AuditCheckpointInterval, "how often the audit chain's head is signed")
	fs.StringVar(&o.AuditExportAddr, "audit-export-bind-address", o.AuditExportAddr, `address serving evidence bundles to "writ audit export" through the API server's service proxy ("0" disables it)`)
	fs.IntVar(&o.WebhookPort, "webhook-port", o.WebhookPort, "port the admission webhook serves on (HTTPS)")
	fs.StringVar(&o.WebhookCertDir, "webhook-cert-dir", o.WebhookCertDir, "directory holding the webhook's tls.crt and tls.key (reloaded when they change)")
	fs.StringVar(&o.WitnessCacheDir, "witness-cache-dir", o.WitnessCacheDir, "where the webhook's witness keeps its own repository caches and checkouts, never the reconciler's (default: a new directory under $TMPDIR)")
	fs.Func("witness-trusted-mutators", "mutating admission objects the witness trusts by name whatever they hold (MutatingWebhookConfiguration/NAME or MutatingAdmissionPolicy/NAME, comma-separated): those Git does not manage; while any other exists that no verified commit declares, the agent's writes are denied", func(v string) error {
		for _, m := range strings.Split(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				o.WitnessTrustedMutators = append(o.WitnessTrustedMutators, m)
			}
		}
		return nil
	})
	mode := fs.String("witness-mode", string(o.WitnessMode), "what the guard does with a write by Writ's agent that no verified commit declares, where neither its Sync nor a GuardPolicy sets spec.witness: Enforce (deny), Warn (allow, warn and record UnverifiedAgentWrite) or Off")
	fs.BoolVar(&o.ManageWebhookCerts, "manage-webhook-certs", false, "keep the webhook's CA and serving certificate in the Secret --webhook-cert-secret, renewed before expiry, and the caBundle of --webhook-configuration in step (when cert-manager does not); runs on the leader")
	fs.StringVar(&o.WebhookCertSecret, "webhook-cert-secret", o.WebhookCertSecret, "with --manage-webhook-certs: the Secret, in --namespace, holding ca.crt, ca.key, tls.crt and tls.key")
	fs.StringVar(&o.WebhookService, "webhook-service", o.WebhookService, "with --manage-webhook-certs: the webhook's Service in --namespace, named by the serving certificate")
	fs.StringVar(&o.WebhookConfiguration, "webhook-configuration", o.WebhookConfiguration, "with --manage-webhook-certs: the ValidatingWebhookConfiguration whose caBundle is kept")
	fs.StringVar(&o.MutatingWebhookConfiguration, "mutating-webhook-configuration", o.MutatingWebhookConfiguration, "with --manage-webhook-certs: a MutatingWebhookConfiguration served by the same certificate (writ-breakglass) whose caBundle is kept too; skipped while it does not exist")
	fs.StringVar(&o.ReconcileCacheDir, "reconcile-cache-dir", o.ReconcileCacheDir, "where the reconciler keeps repository caches and checkouts")
	fs.StringVar(&o.SealingAddr, "sealing-bind-address", o.SealingAddr, `address serving /v1/cert.pem, /v1/verify and /v1/rotate to kubeseal and "writ seal" through the API server's service proxy ("0" disables it)`)
	fs.DurationVar(&o.SealingKeyRenewPeriod, "sealing-key-renew-period", o.SealingKeyRenewPeriod, "how often a new sealing key is made (0 disables renewal); old keys stay for unsealing")
	cutoff := fs.String("sealing-key-cutoff-time", "", "make a new sealing key at once if the newest predates this time (RFC 3339 or RFC 1123 with numeric zone, as Bitnami's --key-cutoff-time)")
	fs.DurationVar(&o.SealingKeyTTL, "sealing-key-ttl", o.SealingKeyTTL, "how long a new sealing key's certificate is valid")
	fs.StringVar(&o.SealingKeyCN, "sealing-key-cn", "", "common name of new sealing certificates")
	fs.IntVar(&o.SealingWorkers, "sealing-workers", o.SealingWorkers, "SealedSecrets unsealed at once")
	fs.Float64Var(&o.SealingRateLimit, "sealing-rate-limit", o.SealingRateLimit, "requests per second each client may make to /v1/verify and /v1/rotate (Bitnami's --rate-limit)")
	fs.IntVar(&o.SealingRateBurst, "sealing-rate-limit-burst", o.SealingRateBurst, "requests above --sealing-rate-limit a client may burst (Bitnami's --rate-limit-burst)")
	enabled := map[string]*bool{}
	for _, c := range Components {
		enabled[c] = fs.Bool("enable-"+c, false, "run the "+c+" component")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: writ-controller [flags]\n\nRuns Writ's components in a Kubernetes cluster.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: writ-controller takes only flags", fs.Args())
	}
	for c, v := range enabled {
		o.Enabled[c] = *v
	}
	if o.LeaderElectionNamespace == "" {
		o.LeaderElectionNamespace = o.Namespace
	}
	if *cutoff != "" {
		t, err := parseCutoff(*cutoff)
		if err != nil {
			return o, err
		}
		o.SealingKeyCutoff = t
	}
	o.KubeAPIQPS = float32(*qps)
	o.WitnessMode = guardv1.WitnessMode(*mode)
	return o, o.Validate()
}

// Validate checks the options and says how to fix what is wrong.
func (o Options) Validate() error {
	var errs []error
	for name, addr := range map[string]string{"--metrics-bind-address": o.MetricsAddr, "--health-probe-bind-address": o.ProbeAddr, "--audit-export-bind-address": o.AuditExportAddr, "--sealing-bind-address": o.SealingAddr} {
		if addr == "0" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port (e.g. :8080): %v", name, addr, err))
		}
	}
	if o.KubeAPIQPS <= 0 || o.KubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps (%g) and --kube-api-burst (%d) must be positive", o.KubeAPIQPS, o.KubeAPIBurst))
	}
	if o.ProbeAddr == "0" {
		errs = append(errs, errors.New("--health-probe-bind-address cannot be disabled: the probes are how Kubernetes knows the manager is healthy"))
	}
	if strings.TrimSpace(o.Namespace) == "" {
		errs = append(errs, errors.New("--namespace must name Writ's own namespace"))
	}
	if o.LeaderElect && o.LeaderElectionID == "" {
		errs = append(errs, errors.New("--leader-election-id must not be empty with --leader-elect"))
	}
	if o.Enabled[ComponentAudit] && o.AuditDir == "" {
		errs = append(errs, errors.New("--audit-dir must name the embedded audit log's directory"))
	}
	if o.AuditCheckpointInterval < time.Second {
		errs = append(errs, fmt.Errorf("--audit-checkpoint-interval %s is too short: use at least 1s", o.AuditCheckpointInterval))
	}
	if !slices.Contains(witnessModes, o.WitnessMode) {
		errs = append(errs, fmt.Errorf("--witness-mode %q is not one of Enforce, Warn and Off", o.WitnessMode))
	}
	for _, m := range o.WitnessTrustedMutators {
		if _, err := feed.ParseTrustedMutator(m); err != nil {
			errs = append(errs, fmt.Errorf("--witness-trusted-mutators: %w", err))
		}
	}
	if o.WitnessCacheDir != "" && filepath.Clean(o.WitnessCacheDir) == filepath.Clean(filepath.Join(o.ReconcileCacheDir, "sources")) {
		errs = append(errs, fmt.Errorf("--witness-cache-dir %s is the reconciler's source cache: the witness fetches into a directory of its own", o.WitnessCacheDir))
	}
	if o.WebhookPort < 1 || o.WebhookPort > 65535 {
		errs = append(errs, fmt.Errorf("--webhook-port %d is not a port", o.WebhookPort))
	}
	if o.SealingKeyRenewPeriod < 0 {
		errs = append(errs, fmt.Errorf("--sealing-key-renew-period must not be negative, got %s (0 disables renewal)", o.SealingKeyRenewPeriod))
	}
	if o.SealingKeyTTL < time.Hour {
		errs = append(errs, fmt.Errorf("--sealing-key-ttl %s is too short: certificates must outlive their renewal (use at least 1h)", o.SealingKeyTTL))
	}
	if o.SealingRateLimit <= 0 || o.SealingRateBurst < 1 {
		errs = append(errs, fmt.Errorf("--sealing-rate-limit (%g) must be positive and --sealing-rate-limit-burst (%d) at least 1", o.SealingRateLimit, o.SealingRateBurst))
	}
	if o.SealingWorkers < 1 {
		errs = append(errs, fmt.Errorf("--sealing-workers must be at least 1, got %d", o.SealingWorkers))
	}
	if o.ManageWebhookCerts && (o.WebhookCertSecret == "" || o.WebhookService == "" || o.WebhookConfiguration == "") {
		errs = append(errs, errors.New("--manage-webhook-certs needs --webhook-cert-secret, --webhook-service and --webhook-configuration"))
	}
	if o.GracefulShutdown <= 0 {
		errs = append(errs, fmt.Errorf("--graceful-shutdown-timeout must be positive, got %s", o.GracefulShutdown))
	}
	return errors.Join(errs...)
}

// parseCutoff reads --sealing-key-cutoff-time in RFC 3339 or, as Bitnami's controller takes it,
// RFC 1123 with a numeric zone.
func parseCutoff(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, time.RFC1123Z} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--sealing-key-cutoff-time %q is neither RFC 3339 (2026-11-22T06:00:00Z) nor RFC 1123 with a numeric zone (Sun, 22 Nov 2026 06:00:00 +0000)", v)
}
