package app

import (
	"context"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"writ.dev/writ/audit"
	auditcontroller "writ.dev/writ/audit/controller"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
)

// PostgresDSNEnv names the environment variable holding the PostgreSQL DSN, so the password
// never appears in the process's arguments.
const PostgresDSNEnv = "WRIT_AUDIT_POSTGRES_DSN"

func init() { components[ComponentAudit] = auditComponent{} }

type auditComponent struct{}

// openStore opens the audit store the options select: PostgreSQL when a DSN is set, else the
// embedded log in AuditDir.
func openStore(ctx context.Context, o Options) (audit.Store, string, error) {
	if dsn := os.Getenv(PostgresDSNEnv); dsn != "" {
		s, err := postgres.Open(ctx, dsn, postgres.Options{Chain: o.AuditChain})
		return s, "postgres", err
	}
	s, err := segment.Open(o.AuditDir, segment.Options{})
	return s, "embedded log at " + o.AuditDir, err
}

func (auditComponent) Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	store, where, err := openStore(ctx, o)
	if err != nil {
		return fmt.Errorf("opening the audit store: %w", err)
	}
	m := auditcontroller.NewMetrics(metrics.Registry)
	if err := (&auditcontroller.Ingester{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Store: store, Namespace: o.Namespace, Metrics: m}).SetupWithManager(mgr); err != nil {
		return err
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme()})
	if err != nil {
		return err
	}
	ctrl.Log.WithName("audit").Info("audit store opened", "store", where)
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		defer store.Close()
		key, err := auditcontroller.EnsureKey(ctx, direct, o.Namespace)
		if err != nil {
			return err
		}
		cp := &auditcontroller.Checkpointer{Store: store, Key: key, Interval: o.AuditCheckpointInterval, Metrics: m}
		return cp.Start(ctx)
	}))
}
