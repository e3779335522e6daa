package postgres_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"writ.dev/writ/audit"
	"writ.dev/writ/audit/postgres"
)

// Two webhook replicas of one cluster open the same chain; each Append returns once durable.
// Verify walks the whole chain, as an auditor's tooling would.
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, "host=db.internal user=writ dbname=audit sslmode=verify-full", postgres.Options{Chain: "prod-eu-1"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	recorded, err := store.Append(ctx, audit.Event{
		Kind:   audit.MutationDenied,
		Time:   time.Now(),
		Actor:  audit.Actor{User: "alice@example.com"},
		Object: audit.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "payments", Name: "settings"},
		Reason: "only the GitOps agent may change protected resources",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("record", recorded[0].Seq, recorded[0].Hash)

	seq, head, err := store.Verify(ctx)
	if err != nil {
		log.Fatal(err) // wraps audit.ErrChain and names the first bad record
	}
	fmt.Println("verified up to record", seq, head)
}
