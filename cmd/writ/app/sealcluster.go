package app

import (
	"writ.dev/writ/cmd/internal/cli"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"

	"writ.dev/writ/sealing"
)

// sealingProxy returns a request builder for paths on the sealing Service through the API
// server's service proxy, using the Service's first port as kubeseal does. It reads the
// kubeconfig and the Service once, however many requests follow.
func sealingProxy(ctx context.Context, c clusterOptions) (func(verb, path string) *rest.Request, error) {
	cfg, err := c.restConfig()
	if err != nil {
		return nil, cli.UsageErrorf("no cluster to reach the controller in: %v (or pass --cert)", err)
	}
	cfg.AcceptContentTypes = "application/x-pem-file, application/json, */*"
	rc, err := coreClient(cfg)
	if err != nil {
		return nil, cli.UsageErrorf("%v", err)
	}
	svc := &corev1.Service{}
	if err := rc.Get().Namespace(c.namespace).Resource("services").Name(c.name).Do(ctx).Into(svc); err != nil {
		return nil, sealingClusterError(err, c)
	}
	if len(svc.Spec.Ports) == 0 {
		return nil, &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("Service %s/%s has no port", c.namespace, c.name)}
	}
	name := net.JoinSchemeNamePort("http", c.name, svc.Spec.Ports[0].Name)
	return func(verb, path string) *rest.Request {
		return rc.Verb(verb).Namespace(c.namespace).Resource("services").SubResource("proxy").Name(name).Suffix(path)
	}, nil
}

func sealingClusterError(err error, c clusterOptions) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		switch se.Status().Code {
		case http.StatusForbidden:
			return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("Kubernetes RBAC denies you the sealing Service %s/%s (get services and services/proxy): %v; ask for a role that grants it, or seal offline with --cert", c.namespace, c.name, err)}
		case http.StatusNotFound:
			return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("no sealing Service %s/%s: is writ-controller installed with sealing enabled (--controller-name, --controller-namespace)? %v", c.namespace, c.name, err)}
		case http.StatusServiceUnavailable:
			return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("writ-controller is not answering behind Service %s/%s (no ready endpoint?): %v", c.namespace, c.name, err)}
		}
	}
	return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("reaching the sealing Service %s/%s: %w", c.namespace, c.name, err)}
}

func fetchCert(ctx context.Context, c clusterOptions) ([]byte, error) {
	proxy, err := sealingProxy(ctx, c)
	if err != nil {
		return nil, err
	}
	b, err := proxy(http.MethodGet, sealing.CertPath).DoRaw(ctx)
	if err != nil {
		return nil, sealingClusterError(err, c)
	}
	return b, nil
}

func validateSealed(ctx context.Context, in io.Reader, out io.Writer, o sealOptions) error {
	return postEach(ctx, in, o, sealing.VerifyPath, func(ss *ssv1alpha1.SealedSecret, _ []byte) error {
		fmt.Fprintf(out, "%s/%s: the cluster can unseal it\n", ss.Namespace, ss.Name)
		return nil
	})
}

func reEncrypt(ctx context.Context, in io.Reader, out io.Writer, o sealOptions) error {
	var objs []any
	err := postEach(ctx, in, o, sealing.RotatePath, func(_ *ssv1alpha1.SealedSecret, body []byte) error {
		ss, err := sealing.DecodeSealedSecret(body)
		if err != nil {
			return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("the controller answered something else than a SealedSecret: %w", err)}
		}
		objs = append(objs, ss)
		return nil
	})
	if err != nil {
		return err
	}
	return writeOutput(out, o.out, o.format, objs...)
}

// postEach posts every SealedSecret of the input to path on the controller.
func postEach(ctx context.Context, in io.Reader, o sealOptions, path string, each func(*ssv1alpha1.SealedSecret, []byte) error) error {
	sealed, err := readInput(in, o.in, sealing.ReadSealedSecrets)
	if err != nil {
		return err
	}
	var proxy func(verb, path string) *rest.Request
	for _, ss := range sealed {
		body, err := json.Marshal(ss)
		if err != nil {
			return err
		}
		if proxy == nil { // on the first SealedSecret, as before any was read nothing is asked
			if proxy, err = sealingProxy(ctx, o.cluster); err != nil {
				return err
			}
		}
		res := proxy(http.MethodPost, path).Body(body).SetHeader("Content-Type", "application/json").Do(ctx)
		raw, err := res.Raw()
		if err != nil {
			var se apierrors.APIStatus
			if errors.As(err, &se) && se.Status().Code == http.StatusConflict {
				return &cli.ExitError{Code: cli.ExitFail, Err: fmt.Errorf("%s/%s: the cluster cannot unseal it (sealed for another cluster or key, renamed, moved, or tampered with)", ss.Namespace, ss.Name)}
			}
			return sealingClusterError(err, o.cluster)
		}
		if err := each(ss, raw); err != nil {
			return err
		}
	}
	return nil
}
