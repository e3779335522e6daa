package app

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/webhook/certs"
)

// WebhookCertsOptions configure the self-managed webhook TLS (--manage-webhook-certs, without
// cert-manager).
type WebhookCertsOptions struct {
	Namespace               string // Writ's own namespace, holding Secret and Service
	Secret                  string // ca.crt, ca.key, tls.crt and tls.key
	Service                 string // the webhook's Service, named by the serving certificate
	ValidatingConfiguration string // the ValidatingWebhookConfiguration whose caBundle is kept
	MutatingConfiguration   string // also given the caBundle (writ-breakglass); empty: none
}

// setupWebhookCerts runs the self-managed webhook TLS (--manage-webhook-certs) on the leader: the
// CA and serving certificate in a Secret that the webhook pods mount, and the caBundle of the
// webhook configuration. The webhook server reloads the files when the kubelet updates them.
func setupWebhookCerts(mgr ctrl.Manager, o WebhookCertsOptions) error {
	// Uncached: the manager's cache would watch every Secret in the cluster.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	return mgr.Add(&certs.Rotator{
		Client:                       direct,
		Namespace:                    o.Namespace,
		Secret:                       o.Secret,
		Service:                      o.Service,
		WebhookConfiguration:         o.ValidatingConfiguration,
		MutatingWebhookConfiguration: o.MutatingConfiguration,
	})
}
