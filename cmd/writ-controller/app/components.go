package app

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Component names, as used in --enable-<name> flags.
const (
	ComponentWebhook    = "webhook"
	ComponentReconciler = "reconciler"
	ComponentAudit      = "audit"
	ComponentSealing    = "sealing"
	// ComponentGrants mirrors approved break-glass requests into the fallback policy's
	// parameters (package webhook/grants); it runs as writ-controller.
	ComponentGrants = "grants"
)

// Components lists every component the manager can run, in the order it sets them up.
var Components = []string{ComponentWebhook, ComponentReconciler, ComponentAudit, ComponentSealing, ComponentGrants}

// part is one thing the manager runs: a component, or the self-managed webhook certificates.
type part struct {
	name  string // "setting up <name>" prefixes its errors
	on    bool
	setup func(context.Context, ctrl.Manager) error
}

// parts composes writ-controller: every component in the order of Components, then the webhook
// certificates, each given only its own options.
func (o Options) parts() []part {
	return []part{
		{ComponentWebhook, o.Enabled[ComponentWebhook], func(ctx context.Context, mgr ctrl.Manager) error {
			return setupWebhook(ctx, mgr, o.webhook())
		}},
		{ComponentReconciler, o.Enabled[ComponentReconciler], func(ctx context.Context, mgr ctrl.Manager) error {
			return setupReconciler(ctx, mgr, o.reconciler())
		}},
		{ComponentAudit, o.Enabled[ComponentAudit], func(ctx context.Context, mgr ctrl.Manager) error {
			return setupAudit(ctx, mgr, o.audit())
		}},
		{ComponentSealing, o.Enabled[ComponentSealing], func(_ context.Context, mgr ctrl.Manager) error {
			return setupSealing(mgr, o.sealing())
		}},
		{ComponentGrants, o.Enabled[ComponentGrants], func(_ context.Context, mgr ctrl.Manager) error {
			return setupGrants(mgr, o.grants())
		}},
		{"the webhook certificates", o.ManageWebhookCerts, func(_ context.Context, mgr ctrl.Manager) error {
			return setupWebhookCerts(mgr, o.webhookCerts())
		}},
	}
}

func (o Options) webhook() WebhookOptions {
	return WebhookOptions{Namespace: o.Namespace, Witness: WitnessOptions{Namespace: o.Namespace, CacheDir: o.WitnessCacheDir, Mode: o.WitnessMode,
		TrustedMutators: o.WitnessTrustedMutators}}
}

func (o Options) reconciler() ReconcilerOptions {
	return ReconcilerOptions{Namespace: o.Namespace, CacheDir: o.ReconcileCacheDir}
}

func (o Options) audit() AuditOptions {
	return AuditOptions{Namespace: o.Namespace, Dir: o.AuditDir, Chain: o.AuditChain, CheckpointInterval: o.AuditCheckpointInterval, ExportAddr: o.AuditExportAddr}
}

func (o Options) sealing() SealingOptions {
	return SealingOptions{Namespace: o.Namespace, Addr: o.SealingAddr, KeyRenewPeriod: o.SealingKeyRenewPeriod, KeyCutoff: o.SealingKeyCutoff,
		KeyTTL: o.SealingKeyTTL, KeyCN: o.SealingKeyCN, Workers: o.SealingWorkers, RateLimit: o.SealingRateLimit, RateBurst: o.SealingRateBurst}
}

func (o Options) grants() GrantsOptions { return GrantsOptions{Namespace: o.Namespace} }

func (o Options) webhookCerts() WebhookCertsOptions {
	return WebhookCertsOptions{Namespace: o.Namespace, Secret: o.WebhookCertSecret, Service: o.WebhookService,
		ValidatingConfiguration: o.WebhookConfiguration, MutatingConfiguration: o.MutatingWebhookConfiguration}
}
