package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
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

// exportFromCluster streams a bundle from writ-controller through the service proxy, verifies
// it, and renames it into place.
func exportFromCluster(ctx context.Context, out, errOut io.Writer, c clusterOptions, from, to time.Time, path string) error {
	cfg, err := c.restConfig()
	if err != nil {
		return usageErrorf("no cluster to export from: %v (or export offline with --store / --postgres)", err)
	}
	cfg.Timeout = 0 // a long export streams for a while
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return usageErrorf("%v", err)
	}
	svc := fmt.Sprintf("http:%s:%s", c.name, c.port)
	stream, err := cs.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/namespaces", c.namespace, "services", svc, "proxy", "v1", "audit", "export").
		Param("from", from.UTC().Format(time.RFC3339)).Param("to", to.UTC().Format(time.RFC3339)).
		Stream(ctx)
	if err != nil {
		return clusterError(err, c)
	}
	defer stream.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return usageErrorf("cannot write next to %s: %v", path, err)
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
			return &exitError{code: ExitFail, err: fmt.Errorf("you may not export audit evidence: Kubernetes RBAC denies get on services/proxy for %s/%s (%v); ask for a role that grants it", c.namespace, c.name, err)}
		case http.StatusNotFound:
			return &exitError{code: ExitFail, err: fmt.Errorf("no Service %s/%s with a port named %q: is Writ installed (--controller-namespace, --controller-name)? (%v)", c.namespace, c.name, c.port, err)}
		case http.StatusServiceUnavailable:
			return &exitError{code: ExitFail, err: fmt.Errorf("writ-controller is not serving audit exports: no ready endpoint behind Service %s/%s (is Writ installed there, and writ-controller running with --enable-audit? see --controller-namespace, --controller-name): %v", c.namespace, c.name, err)}
		}
	}
	return &exitError{code: ExitFail, err: fmt.Errorf("exporting from the cluster: %w", err)}
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
