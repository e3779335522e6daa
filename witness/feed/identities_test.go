package feed

import (
	"context"
	"testing"
	"time"

	"writ.dev/writ/test/harness"
)

// TestWitnessedFollowsSyncs: the reconciler's account is witnessed from the start; a Sync's
// spec.serviceAccountName becomes witnessed when the Sync is created and stops being when it is
// deleted.
func TestWitnessedFollowsSyncs(t *testing.T) {
	harness.Require(t, env)
	r := start(t)
	if !r.feed.Witnessed("system:serviceaccount:writ-system:writ-reconciler") {
		t.Fatal("the reconciler's account is not witnessed")
	}
	deployer := "system:serviceaccount:feed-sa:deployer"
	for _, u := range []string{deployer, "system:serviceaccount:writ-system:writ-webhook", "alice", "system:serviceaccount:other:writ-reconciler"} {
		if r.feed.Witnessed(u) {
			t.Errorf("%s is witnessed before any Sync names it", u)
		}
	}
	s := newSite(t, "feed-sa", "1")
	s.policy(t)
	s.apply(t, "file://"+s.repo.Dir, "")
	if r.feed.Witnessed(deployer) {
		t.Fatal("witnessed before a Sync names it")
	}
	s.sync.Spec.ServiceAccountName = "deployer"
	if err := env.Client.Update(context.Background(), s.sync); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "the Sync's account witnessed", 30*time.Second, func() (bool, string) { return r.feed.Witnessed(deployer), "" })
	if err := env.Client.Delete(context.Background(), s.sync); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, "the deleted Sync's account no longer witnessed", 30*time.Second, func() (bool, string) { return !r.feed.Witnessed(deployer), "" })
}

// Witnessed is on every admission review's path: it allocates nothing, hit or miss.
func TestWitnessedAllocatesNothing(t *testing.T) {
	ids := newIdentities("system:serviceaccount:writ-system:writ-reconciler")
	set := map[string]struct{}{"system:serviceaccount:shop:deployer": {}}
	ids.set.Store(&set)
	for _, u := range []string{"system:serviceaccount:writ-system:writ-reconciler", "system:serviceaccount:shop:deployer", "system:serviceaccount:shop:other"} {
		if n := testing.AllocsPerRun(100, func() { ids.has(u) }); n != 0 {
			t.Errorf("Witnessed(%q) allocates %v times", u, n)
		}
	}
	if !ids.has("system:serviceaccount:shop:deployer") || ids.has("system:serviceaccount:shop:other") {
		t.Error("the set is not what was stored")
	}
}

func BenchmarkWitnessed(b *testing.B) {
	ids := newIdentities("system:serviceaccount:writ-system:writ-reconciler")
	set := map[string]struct{}{}
	for _, n := range []string{"a", "b", "c", "d"} {
		set["system:serviceaccount:shop:"+n] = struct{}{}
	}
	ids.set.Store(&set)
	b.ReportAllocs()
	for b.Loop() {
		ids.has("system:serviceaccount:kube-system:replicaset-controller")
	}
}
