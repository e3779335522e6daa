package app

import (
	"writ.dev/writ/cmd/internal/cli"

	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"writ.dev/writ/audit/evidence"
)

// clusterOptions select the cluster and Writ's controller, as kubeseal's flags do.
type clusterOptions struct {
	kubeconfig, context, namespace, name, port string
}

func (c *clusterOptions) bind(f *pflag.FlagSet) {
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&c.context, "context", "", "kubeconfig context")
	f.StringVar(&c.namespace, "controller-namespace", "writ-system", "namespace of writ-controller")
	f.StringVar(&c.name, "controller-name", "writ-controller", "name of writ-controller's Service")
	f.StringVar(&c.port, "controller-port", "audit", "name of the Service port serving audit exports")
}

func (c clusterOptions) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.kubeconfig != "" {
		rules.ExplicitPath = c.kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.context}).ClientConfig()
}

// coreClient is a REST client for the core API group. The CLI talks to the API server through
// it rather than client-go's typed clientset, whose dozens of API groups would add to the start-up
// time of every command (scheme.Codecs knows core/v1 and, through Bitnami's types, SealedSecrets).
func coreClient(cfg *rest.Config) (*rest.RESTClient, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.APIPath, cfg.GroupVersion = "/api", &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientFor(cfg)
}

// exportFromCluster streams a bundle from writ-controller through the service proxy, verifies
// it, and renames it into place.
func exportFromCluster(ctx context.Context, out, errOut io.Writer, c clusterOptions, from, to time.Time, path string) error {
	cfg, err := c.restConfig()
	if err != nil {
		return cli.UsageErrorf("no cluster to export from: %v (or export offline with --store / --postgres)", err)
	}
	cfg.Timeout = 0 // a long export streams for a while
	rc, err := coreClient(cfg)
	if err != nil {
		return cli.UsageErrorf("%v", err)
	}
	svc := fmt.Sprintf("http:%s:%s", c.name, c.port)
	stream, err := rc.Get().
		AbsPath("/api/v1/namespaces", c.namespace, "services", svc, "proxy", "v1", "audit", "export").
		Param("from", from.UTC().Format(time.RFC3339)).Param("to", to.UTC().Format(time.RFC3339)).
		Stream(ctx)
	if err != nil {
		return clusterError(err, c)
	}
	defer stream.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return cli.UsageErrorf("cannot write next to %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, &progressReader{r: stream, w: errOut})
	fmt.Fprintln(errOut)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("receiving the bundle: %w", err)
	}
	res, err := evidence.Verify(tmp, n, evidence.VerifyOptions{})
	if err != nil {
		tmp.Close()
		return fmt.Errorf("the bundle received from the cluster does not verify, nothing written: %w", err)
	}
	if err := commitTemp(tmp, path); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %d records (seq %d-%d), verified, signed by audit key %s\n", path, res.Records, res.Manifest.FirstSeq, res.Manifest.LastSeq, res.Manifest.KeyID)
	return nil
}

// clusterError explains the API server's answer in terms of what to do.
func clusterError(err error, c clusterOptions) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		switch se.Status().Code {
		case http.StatusForbidden:
			return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("you may not export audit evidence: Kubernetes RBAC denies get on services/proxy for %s/%s (%v); ask for a role that grants it", c.namespace, c.name, err)}
		case http.StatusNotFound:
			return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("no Service %s/%s with a port named %q: is Writ installed (--controller-namespace, --controller-name)? (%v)", c.namespace, c.name, c.port, err)}
		case http.StatusServiceUnavailable:
			return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("writ-controller is not serving audit exports: no ready endpoint behind Service %s/%s (is Writ installed there, and writ-controller running with --enable-audit? see --controller-namespace, --controller-name): %v", c.namespace, c.name, err)}
		}
	}
	return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("exporting from the cluster: %w", err)}
}

type progressReader struct {
	r    io.Reader
	w    io.Writer
	n    int64
	last time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if time.Since(p.last) > 500*time.Millisecond {
		p.last = time.Now()
		fmt.Fprintf(p.w, "\rreceived %d KiB", p.n/1024)
	}
	return n, err
}
