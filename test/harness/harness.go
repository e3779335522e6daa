package harness

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"writ.dev/writ/scheme"
	"writ.dev/writ/test/controlplane"
)

// Options configure a control plane.
type Options struct {
	// CRDDirs are directories of CRD manifests to install; default Writ's own
	// (charts/writ/files/crds) and the SealedSecret CRD (charts/writ/files/sealing).
	CRDDirs []string
	// ValidatingWebhooks are registered with the apiserver; their clientConfig is pointed at the
	// local webhook server that ServeWebhooks starts.
	ValidatingWebhooks []*admissionv1.ValidatingWebhookConfiguration
	// MutatingWebhooks are registered the same way (writ-breakglass's approval stamp).
	MutatingWebhooks []*admissionv1.MutatingWebhookConfiguration
	// StaticAdmissionPolicies are written into a directory that the apiserver's admission
	// configuration names as the ValidatingAdmissionPolicy plugin's staticManifestsDir, so the
	// apiserver loads them at start and nothing in the API can remove them. Their names must
	// end in .static.k8s.io.
	StaticAdmissionPolicies []runtime.Object
	// Log receives the harness's progress; default os.Stderr.
	Log io.Writer
	// Setup, if set, runs in Main once the control plane is up and before the tests: what a
	// package's whole suite shares (identities, RBAC, webhook servers it registers itself, which
	// it stops with AtStop). An error fails the package.
	Setup func(*Env) error
}

// Env is a running control plane.
type Env struct {
	// Config is the admin's connection (system:masters).
	Config *rest.Config
	// Client is a client for the admin.
	Client client.Client
	// Scheme holds Kubernetes' kinds and Writ's.
	Scheme *runtime.Scheme
	// ServerVersion is what the apiserver reports, e.g. v1.37.1.
	ServerVersion string

	env       *envtest.Environment
	log       io.Writer
	staticDir string // the admission configuration and static policies, if any

	mu       sync.Mutex
	stopping []func() // webhook servers, stopped before the control plane
}

// Start builds nothing: it starts kube-apiserver and etcd from the cached control-plane directory,
// or fails with the make target that builds them.
func Start(o Options) (*Env, error) {
	if o.Log == nil {
		o.Log = os.Stderr
	}
	dir, err := controlplane.Locate()
	if err != nil {
		return nil, err
	}
	// envtest lets KUBEBUILDER_ASSETS silently override BinaryAssetsDirectory: refuse a mismatch
	// rather than test against some other apiserver.
	if a := os.Getenv("KUBEBUILDER_ASSETS"); a != "" && filepath.Clean(a) != filepath.Clean(dir) {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s would override Writ's control plane at %s: unset it (or set %s)", a, dir, controlplane.DirEnv)
	}
	if o.CRDDirs == nil {
		root, err := controlplane.RepoRoot()
		if err != nil {
			return nil, err
		}
		// Writ's CRDs and the optional ones the chart ships (Bitnami's SealedSecret).
		o.CRDDirs = []string{filepath.Join(root, "charts", "writ", "files", "crds"), filepath.Join(root, "charts", "writ", "files", "sealing")}
	}
	sc, err := scheme.New()
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		CRDDirectoryPaths:        o.CRDDirs,
		ErrorIfCRDPathMissing:    true,
		Scheme:                   sc,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
		WebhookInstallOptions:    envtest.WebhookInstallOptions{ValidatingWebhooks: o.ValidatingWebhooks, MutatingWebhooks: o.MutatingWebhooks},
	}
	var staticDir string
	if len(o.StaticAdmissionPolicies) > 0 {
		if staticDir, err = writeAdmissionConfig(te, o.StaticAdmissionPolicies); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	cfg, err := te.Start()
	if err != nil {
		_ = te.Stop()
		_ = os.RemoveAll(staticDir)
		return nil, fmt.Errorf("starting the control plane from %s: %w", dir, err)
	}
	e := &Env{Config: cfg, Scheme: sc, env: te, log: o.Log, staticDir: staticDir}
	if e.Client, err = client.New(cfg, client.Options{Scheme: sc}); err != nil {
		_ = e.Stop()
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	v, err := dc.ServerVersion()
	if err != nil {
		_ = e.Stop()
		return nil, fmt.Errorf("asking the apiserver its version: %w", err)
	}
	e.ServerVersion = v.GitVersion
	fmt.Fprintf(o.Log, "harness: kube-apiserver %s + etcd from %s ready in %s at %s\n",
		v.GitVersion, dir, time.Since(start).Round(time.Millisecond), cfg.Host)
	return e, nil
}

// Stop stops webhook servers, then the control plane.
func (e *Env) Stop() error {
	e.mu.Lock()
	stops := e.stopping
	e.stopping = nil
	e.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	err := e.env.Stop()
	if e.staticDir != "" {
		_ = os.RemoveAll(e.staticDir)
	}
	return err
}

// AtStop makes Stop call stop before it stops the control plane (after what AtStop was given
// later): for servers the apiserver calls, such as a webhook component run in the test process.
func (e *Env) AtStop(stop func()) {
	e.mu.Lock()
	e.stopping = append(e.stopping, stop)
	e.mu.Unlock()
}

// ServeWebhooks starts a webhook server on the address and certificates the apiserver was told
// about, lets register add handlers, and returns once it accepts TLS connections. It is stopped
// by Stop (before the control plane, so its certificate watcher does not outlive it) or by the
// returned function.
func (e *Env) ServeWebhooks(register func(webhook.Server)) (stop func(), err error) {
	wo := e.env.WebhookInstallOptions
	srv := webhook.NewServer(webhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir})
	register(srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	addr := net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort))
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A full handshake, so the server does not log an aborted one; only readiness is checked.
		conn, dialErr := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec
		if dialErr == nil {
			conn.Close()
			break
		}
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("webhook server stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("webhook server at %s not listening after 30s: %w", addr, dialErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.AtStop(stop)
	return stop, nil
}

// Main starts one control plane for a package's tests, runs them, stops it and returns the exit
// code. Under -short it runs the tests without a control plane; integration tests call Require.
func Main(m *testing.M, o Options, env **Env) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	e, err := Start(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		if errors.Is(err, controlplane.ErrMissing) {
			fmt.Fprintln(os.Stderr, "harness: integration tests need the control plane; `make test` builds it first")
		}
		return 1
	}
	if o.Setup != nil {
		if err := o.Setup(e); err != nil {
			fmt.Fprintln(os.Stderr, "harness: setting up the suite:", err)
			_ = e.Stop()
			return 1
		}
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "harness: stopping the control plane:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Require skips t under -short (the unit-test run) and fails it if the package's TestMain did not
// start a control plane.
func Require(t testing.TB, e *Env) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the control plane; run without -short (make test-integration)")
	}
	if e == nil {
		t.Fatal("no control plane: the package's TestMain must call harness.Main")
	}
}

// WebhookServing is where a webhook server outside this process must listen for the apiserver
// to reach it: envtest made a CA and a serving certificate for Host at start.
type WebhookServing struct {
	Host    string
	Port    int
	CertDir string // tls.crt and tls.key
	// CABundle is the CA a ValidatingWebhookConfiguration's clientConfig.caBundle names.
	CABundle []byte
}

// URL is the https URL of path on the serving address, for a webhook's clientConfig.url.
func (w WebhookServing) URL(path string) string {
	return "https://" + net.JoinHostPort(w.Host, strconv.Itoa(w.Port)) + path
}

// WebhookServing returns the address and certificates prepared for webhooks, so that a program
// such as writ-controller can serve them (--webhook-port, --webhook-cert-dir) and a test can
// register a ValidatingWebhookConfiguration once it listens.
func (e *Env) WebhookServing() WebhookServing {
	wo := e.env.WebhookInstallOptions
	return WebhookServing{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir, CABundle: wo.LocalServingCAData}
}
