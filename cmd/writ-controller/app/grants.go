package app

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"writ.dev/writ/webhook/grants"
)

func init() { components[ComponentGrants] = grantsComponent{} }

type grantsComponent struct{}

// Setup runs the break-glass grants mirror on the leader. It reads BreakGlassRequests from the
// manager's cache and the fallback's ConfigMap directly (the cache would watch every ConfigMap).
func (grantsComponent) Setup(_ context.Context, mgr ctrl.Manager, o Options) error {
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	m := &grants.Mirror{Requests: mgr.GetClient(), Client: direct, Namespace: o.Namespace, Log: ctrl.Log.WithName("grants")}
	return m.SetupWithManager(mgr)
}
