package app

import (
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/webhook/grants"
)

// GrantsOptions configure the grants component: the mirror of approved break-glass grants into
// the fallback policy's parameters.
type GrantsOptions struct {
	Namespace string // Writ's own namespace: the BreakGlassRequests and the fallback's ConfigMap
}

// setupGrants runs the break-glass grants mirror on the leader. It reads BreakGlassRequests from
// the manager's cache and the fallback's ConfigMap directly (the cache would watch every
// ConfigMap).
func setupGrants(mgr ctrl.Manager, o GrantsOptions) error {
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	m := &grants.Mirror{Requests: mgr.GetClient(), Client: direct, Namespace: o.Namespace, Log: ctrl.Log.WithName("grants")}
	return m.SetupWithManager(mgr)
}
