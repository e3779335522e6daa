package app

import (
	"context"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
)

func init() {
	storeOpeners["store"] = func(_ context.Context, o exportOptions) (audit.Store, error) {
		return segment.Open(o.store, segment.Options{})
	}
	storeOpeners["postgres"] = func(ctx context.Context, o exportOptions) (audit.Store, error) {
		return postgres.Open(ctx, o.postgres, postgres.Options{Chain: o.chain})
	}
}
