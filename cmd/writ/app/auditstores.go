package app

import (
	"context"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
)

func init() {
	storeOpeners["store"] = func(_ context.Context, dir string) (audit.Store, error) {
		return segment.Open(dir, segment.Options{})
	}
	storeOpeners["postgres"] = func(ctx context.Context, dsn string) (audit.Store, error) {
		return postgres.Open(ctx, dsn, postgres.Options{})
	}
}
