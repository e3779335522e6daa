package app

import (
	"context"
	"errors"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
)

func init() {
	storeOpeners["store"] = func(_ context.Context, o exportOptions) (audit.Store, error) {
		s, err := segment.Open(o.store, segment.Options{})
		if errors.Is(err, segment.ErrLocked) {
			// A running controller holds it: export from a point-in-time copy.
			return segment.OpenCopy(o.store, segment.Options{})
		}
		return s, err
	}
	storeOpeners["postgres"] = func(ctx context.Context, o exportOptions) (audit.Store, error) {
		return postgres.Open(ctx, o.postgres, postgres.Options{Chain: o.chain})
	}
}
