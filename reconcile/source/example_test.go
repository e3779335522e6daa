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

// Fetch, verify, then render. The verifier gets the last verified commit so that a force-push
// to an older commit is rejected as a rollback.
func ExampleFetch() {
	ctx := context.Background()
	var verifier *provenance.Verifier // compiled once from the TrustPolicy
	lastVerified := ""                // from the reconciler's status

	a, err := source.Fetch(ctx, source.Options{
		URL:     "https://git.example.com/platform/config.git",
		Ref:     source.Ref{SemVer: ">=1.2.0 <2.0.0"},
		Auth:    source.Auth{BearerToken: os.Getenv("GIT_TOKEN")},
		Dir:     "/var/cache/writ/sources/platform",
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
	fmt.Println("render", a.Dir)
}

// Options are validated before anything touches the network, with errors that say what to fix.
func ExampleFetch_invalidOptions() {
	_, err := source.Fetch(context.Background(), source.Options{
		URL: "git@github.com:example/config.git",
		Ref: source.Ref{Branch: "main"},
		Dir: "/var/cache/writ/sources/config",
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
