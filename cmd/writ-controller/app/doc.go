// Package app wires Writ's in-cluster manager: command-line flags become Options (options.go),
// Options become a controller-runtime Manager with health and readiness probes, a Prometheus
// metrics endpoint and optional leader election (manager.go), and the manager runs the
// components the flags switch on.
//
// The composition is explicit and in one place, Options.parts (components.go): every component
// (webhook, reconciler, audit, sealing, grants) and the self-managed webhook certificates, in a
// fixed order, each a setup function in its own file that takes its own options struct
// (WebhookOptions, ReconcilerOptions, AuditOptions, SealingOptions, GrantsOptions,
// WebhookCertsOptions) rather than every flag. Nothing registers itself in init().
package app
