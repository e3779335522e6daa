package feed

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/witness"
)

// notReadyBecause waits until the Sync's write is NotReady with a Why containing want.
func notReadyBecause(t *testing.T, r *running, s *site, want string) witness.Result {
	t.Helper()
	var res witness.Result
	harness.Eventually(t, "NotReady because "+want, 60*time.Second, func() (bool, string) {
		res = r.feed.Check(s.update(t, s.stamped("1", "c")))
		return res.Reason == witness.NotReady && strings.Contains(res.Why, want), res.Message()
	})
	if !strings.Contains(res.Message(), res.Why) {
		t.Errorf("the denial does not say why: %s", res.Message())
	}
	return res
}

// TestFeedForgetsARevokedCommit: a TrustPolicy change under which the indexed commit no longer
// verifies forgets the Sync (its writes are denied, NotReady says revoked); putting the policy back
// indexes it again.
func TestFeedForgetsARevokedCommit(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	r := start(t)
	s := newSite(t, "feed-revoke", "1")
	tp := s.policy(t)
	s.apply(t, "file://"+s.repo.Dir, "")
	r.waitReady(t, s, "the Sync's index")

	bob := fixtures.SSHKey(t, "Bob", "bob@example.com", "ed25519")
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(tp), tp); err != nil {
		t.Fatal(err)
	}
	trusted := tp.Spec.SSH.AllowedSigners
	tp.Spec.SSH = &provenancev1.SSHTrust{AllowedSigners: bob.AllowedSigner("")}
	if err := env.Client.Update(ctx, tp); err != nil {
		t.Fatal(err)
	}
	notReadyBecause(t, r, s, "no longer verifies under TrustPolicy "+s.ns)
	if g := r.gauge("writ_witness_ready", s.key); g != 0 {
		t.Errorf("writ_witness_ready = %v while revoked", g)
	}
	if v, _ := harness.Metric(r.reg, "writ_witness_verify_failures_total", map[string]string{"reason": "UnknownKey"}); v < 1 {
		t.Errorf("the revocation is not counted under its reason: %v", v)
	}

	tp.Spec.SSH = &provenancev1.SSHTrust{AllowedSigners: trusted}
	if err := env.Client.Update(ctx, tp); err != nil {
		t.Fatal(err)
	}
	r.waitReady(t, s, "indexed again under the restored policy")
}

// TestFeedForgetsDeletedSyncsAndSources: deleting the Sync forgets its index; a Sync whose
// GitSource is deleted is forgotten and says so.
func TestFeedForgetsDeletedSyncsAndSources(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	r := start(t)
	s := newSite(t, "feed-delete", "1")
	s.policy(t)
	s.apply(t, "file://"+s.repo.Dir, "")
	r.waitReady(t, s, "the Sync's index")

	if err := env.Client.Delete(ctx, s.sync); err != nil {
		t.Fatal(err)
	}
	notReadyBecause(t, r, s, "has seen no Sync")
	if _, ok := harness.Metric(r.reg, "writ_witness_ready", map[string]string{"namespace": s.ns, "name": s.key.Name}); ok {
		t.Error("a deleted Sync keeps its writ_witness_ready series")
	}

	// The Sync again, then its GitSource deleted.
	s.sync.ResourceVersion = ""
	create(t, s.sync)
	r.waitReady(t, s, "the new Sync's index")
	if err := env.Client.Delete(ctx, s.gs); err != nil {
		t.Fatal(err)
	}
	notReadyBecause(t, r, s, "its GitSource "+s.ns+"/repo does not exist")
}

// TestFeedSaysWhyItIsNotReady: a missing TrustPolicy, an unsigned first commit, manifests that do
// not render, and a repository that cannot be fetched each leave the Sync NotReady, saying so.
func TestFeedSaysWhyItIsNotReady(t *testing.T) {
	harness.Require(t, env)
	r := start(t)

	missing := newSite(t, "feed-why-policy", "1")
	missing.apply(t, "file://"+missing.repo.Dir, "")
	notReadyBecause(t, r, missing, `TrustPolicy "feed-why-policy" does not exist`)

	unsigned := newSite(t, "feed-why-unsigned", "1")
	unsigned.repo.Commit(fixtures.Signer{}, "unsigned", map[string]string{"apps/settings.yaml": cmYAML(unsigned.ns, "settings", "2")})
	unsigned.policy(t)
	unsigned.apply(t, "file://"+unsigned.repo.Dir, "")
	notReadyBecause(t, r, unsigned, "was refused by TrustPolicy feed-why-unsigned")

	broken := newSite(t, "feed-why-render", "1")
	broken.repo.Commit(broken.alice, "broken", map[string]string{"apps/broken.yaml": "kind: ConfigMap\nmetadata: [\n"})
	broken.policy(t)
	broken.apply(t, "file://"+broken.repo.Dir, "")
	notReadyBecause(t, r, broken, "does not render: apps/broken.yaml")

	gone := newSite(t, "feed-why-fetch", "1")
	gone.policy(t)
	gone.apply(t, "file://"+gone.repo.Dir+"-nowhere", "")
	notReadyBecause(t, r, gone, "fetch failed")
}
