package app

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/kuberecorder"
	"writ.dev/writ/webhook"
)

// GuardPath is where the admission guard is served; StampPath is where writ-breakglass's
// approval stamp is.
const (
	GuardPath = "/validate"
	StampPath = "/stamp"
)

// WebhookOptions configure the webhook component: the admission guard and writ-breakglass's
// approval stamp, served by the manager's webhook server (--webhook-port, --webhook-cert-dir).
type WebhookOptions struct {
	Namespace string // Writ's own namespace: exempt from the guard, where audit events go
	// Witness is the witness the guard judges the agent's writes with (witness.go).
	Witness WitnessOptions
}

// setupWebhook registers the guard, with the witness's feed (setupWitness), and the stamp with
// mgr's webhook server.
func setupWebhook(ctx context.Context, mgr ctrl.Manager, o WebhookOptions) error {
	log := ctrl.Log.WithName("webhook")
	rec := kuberecorder.New(mgr.GetClient(), kuberecorder.Options{Namespace: o.Namespace, OnError: func(e audit.Event, err error) {
		log.Error(err, "an audit event could not be handed to the audit component", "kind", e.Kind, "user", e.Actor.User, "object", e.Object.String())
	}})
	if err := kuberecorder.RegisterMetrics(metrics.Registry, "webhook", rec); err != nil {
		return err
	}
	wit, err := setupWitness(ctx, mgr, o.Witness)
	if err != nil {
		return fmt.Errorf("setting up the witness: %w", err)
	}
	exempt := append(append([]string{}, webhook.DefaultExemptNamespaces...), o.Namespace)
	guard := &webhook.Guard{Reader: mgr.GetCache(), Recorder: rec, ExemptNamespaces: exempt, Metrics: webhook.NewMetrics(metrics.Registry),
		Witness: wit, WitnessMode: o.Witness.Mode}
	// Keep the compiled policies and grants between requests; the cache's watches drop them
	// whenever a GuardPolicy or BreakGlassRequest changes.
	if err := guard.InvalidateOn(ctx, mgr.GetCache()); err != nil {
		return err
	}
	// Exemptions with ownedBy read the objects' owners from the cache: watch them from the
	// start. A kind whose CRD is not installed (SealedSecret without sealing) is skipped; an
	// exemption needing it then allows nothing.
	for _, o := range webhook.OwnerObjects() {
		if _, err := mgr.GetCache().GetInformer(ctx, o); err != nil {
			if meta.IsNoMatchError(err) {
				log.Info("not caching owners of this kind: its API is not installed", "kind", fmt.Sprintf("%T", o))
				continue
			}
			return fmt.Errorf("watching %T for the guard: %w", o, err)
		}
	}
	mgr.GetWebhookServer().Register(GuardPath, &admission.Webhook{Handler: guard})
	mgr.GetWebhookServer().Register(StampPath, &admission.Webhook{Handler: &webhook.Stamp{}})
	// Serve only once the certificate is loaded and the server listens.
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("webhook readiness check: %w", err)
	}
	go func() {
		<-ctx.Done()
		_ = rec.Close(context.Background())
	}()
	return nil
}
