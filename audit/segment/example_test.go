package segment_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/segment"
)

// A controller opens the log on its volume and feeds it from a Buffered recorder, so that
// components never wait for the disk; the log group-commits whatever arrives.
func Example() {
	dir, _ := os.MkdirTemp("", "writ-audit-")
	defer os.RemoveAll(dir)

	log, err := segment.Open(dir, segment.Options{Logger: slog.Default()})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec := audit.NewBuffered(func(ctx context.Context, e audit.Event) error {
		_, err := log.Append(ctx, e)
		return err
	}, audit.BufferedOptions{})
	rec.Record(context.Background(), audit.Event{
		Kind:   audit.MutationDenied,
		Time:   time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
		Actor:  audit.Actor{User: "alice@example.com"},
		Object: audit.ObjectRef{Group: "apps", Kind: "Deployment", Namespace: "prod", Name: "web"},
		Reason: "only the GitOps agent may change protected resources",
	})
	rec.Close(context.Background())

	ctx := context.Background()
	log.Scan(ctx, 1, func(e audit.Event) error {
		fmt.Println(e.Seq, e.Kind, e.Object, e.Criteria)
		return nil
	})
	seq, _, err := log.Verify(ctx)
	fmt.Println("verified up to record", seq, err)
	fmt.Println(log.Close())
	// Output:
	// 1 MutationDenied Deployment.apps prod/web [CC6.1 CC7.2]
	// verified up to record 1 <nil>
	// <nil>
}
