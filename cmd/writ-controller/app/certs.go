package app

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/webhook/certs"
)

// setupWebhookCerts runs the self-managed webhook TLS (--manage-webhook-certs) on the leader: the
// CA and serving certificate in a Secret that the webhook pods mount, and the caBundle of the
// webhook configuration. The webhook server reloads the files when the kubelet updates them.
func setupWebhookCerts(mgr ctrl.Manager, o Options) error {
	// Uncached: the manager's cache would watch every Secret in the cluster.
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	return mgr.Add(&certs.Rotator{
		Client:                       direct,
		Namespace:                    o.Namespace,
		Secret:                       o.WebhookCertSecret,
		Service:                      o.WebhookService,
		WebhookConfiguration:         o.WebhookConfiguration,
		MutatingWebhookConfiguration: o.MutatingWebhookConfiguration,
	})
}
