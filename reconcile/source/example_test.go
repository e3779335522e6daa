package source_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"writ.dev/writ/provenance"
	"writ.dev/writ/reconcile/source"
)

// Fetch, verify, then check out and render. The verifier gets the last verified commit so that
// a force-push to an older commit is rejected as a rollback; only a commit that verified is
// checked out.
func ExampleCache_Fetch() {
	ctx := context.Background()
	var verifier *provenance.Verifier // compiled once from the TrustPolicy
	lastVerified := ""                // from the reconciler's status
	cache := source.NewCache("/var/cache/writ/sources")
	key := source.Key{Namespace: "platform", Name: "config"}

	a, err := cache.Fetch(ctx, key, source.Options{
		URL:     "https://git.example.com/platform/config.git",
		Ref:     source.Ref{SemVer: ">=1.2.0 <2.0.0"},
		Auth:    source.Auth{BearerToken: os.Getenv("GIT_TOKEN")},
		Timeout: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	report, err := verifier.Verify(ctx, provenance.NewRepository(a.Repo),
		provenance.Request{Target: a.Ref, LastVerified: lastVerified})
	if err != nil || !report.Verified() {
		log.Fatalf("not deploying %s: %v %v", a.Commit, err, report.Err())
	}
	tree, err := cache.Checkout(ctx, key, a.Commit)
	if err != nil {
		log.Fatal(err)
	}
	defer tree.Close()
	fmt.Println("render", tree.Dir)
}

// Options are validated before anything touches the network, with errors that say what to fix.
func ExampleCache_Fetch_invalidOptions() {
	cache := source.NewCache("/var/cache/writ/sources")
	_, err := cache.Fetch(context.Background(), source.Key{Namespace: "platform", Name: "config"}, source.Options{
		URL: "git@github.com:example/config.git",
		Ref: source.Ref{Branch: "main"},
		Auth: source.Auth{
			SSHPrivateKey: []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n..."),
		},
	})
	fmt.Println(err)
	fmt.Println(errors.Is(err, source.ErrInvalidOptions))
	// Output:
	// invalid source options: auth: an ssh url needs auth.sshKnownHosts: the host key is always checked (get it with ssh-keyscan and check it out of band)
	// true
}
