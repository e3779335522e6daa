package app

import (
	"context"
	"errors"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/postgres"
	"writ.dev/writ/audit/segment"
)

// openExportStore opens the store an offline export reads: the embedded log in --store (a
// point-in-time copy while a running controller holds it), else PostgreSQL at --postgres. It
// also names the store it opened, for messages.
func openExportStore(ctx context.Context, o exportOptions) (audit.Store, string, error) {
	if o.store != "" {
		s, err := segment.Open(o.store, segment.Options{})
		if errors.Is(err, segment.ErrLocked) {
			// A running controller holds it: export from a point-in-time copy.
			s, err = segment.OpenCopy(o.store, segment.Options{})
		}
		return s, "store", err
	}
	s, err := postgres.Open(ctx, o.postgres, postgres.Options{Chain: o.chain})
	return s, "postgres", err
}
