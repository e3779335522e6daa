package scheme

import (
	"errors"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	auditv1 "writ.dev/writ/audit/api/v1alpha1"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// New returns a scheme with Kubernetes' built-in kinds, Writ's own and Bitnami's SealedSecret.
func New() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), provenancev1.AddToScheme(s), auditv1.AddToScheme(s), guardv1.AddToScheme(s), reconcilev1.AddToScheme(s), ssv1alpha1.AddToScheme(s)); err != nil {
		return nil, err
	}
	return s, nil
}
