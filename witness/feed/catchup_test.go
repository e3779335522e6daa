package feed

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
	"writ.dev/writ/witness"
)

// rollout is a site indexed at its first signed commit, on a GitSource and Sync fetched only
// hourly, with the feed's loop held back from the GitSource from then on: whatever the feed indexes
// next, a catch-up did.
type rollout struct {
	*site
	r   *running
	gsk types.NamespacedName
	c1  string
}

func newRollout(t *testing.T, ns string) *rollout {
	t.Helper()
	r := start(t)
	s := newSite(t, ns, "1")
	ro := &rollout{site: s, r: r, gsk: types.NamespacedName{Namespace: ns, Name: "repo"}, c1: s.repo.Git("rev-parse", "HEAD")}
	s.policy(t)
	s.applyEvery(t, "file://"+s.repo.Dir, "", time.Hour)
	harness.Eventually(t, "commit 1 indexed", 60*time.Second, func() (bool, string) { return ro.declared(t, "1", ro.c1) })
	r.hold(t, ro.gsk)
	return ro
}

// check is the feed's judgement of the agent's UPDATE of the ConfigMap to value, stamped commit.
func (ro *rollout) check(t *testing.T, value, commit string) witness.Result {
	return ro.r.feed.Check(ro.update(t, ro.stamped(value, commit)))
}

func (ro *rollout) declared(t *testing.T, value, commit string) (bool, string) {
	res := ro.r.feed.Check(ro.update(t, ro.stamped(value, commit)))
	return res.Allowed && res.Commit == commit, res.Message()
}

// claim writes the GitSource's status as the reconciler does when it verified commit (or as an
// admin forging it would), and waits until the feed's cache has read it.
func (ro *rollout) claim(t *testing.T, commit string) {
	t.Helper()
	ctx := context.Background()
	claimVerified(t, ro.gsk, commit)
	harness.Eventually(t, "the feed's cache to read the status", 30*time.Second, func() (bool, string) {
		var seen reconcilev1.GitSource
		if err := ro.r.feed.loop.client.Get(ctx, ro.gsk, &seen); err != nil {
			return false, err.Error()
		}
		return seen.Status.LastVerifiedCommit == commit, "status.lastVerifiedCommit " + seen.Status.LastVerifiedCommit
	})
}

// TestFeedCatchesUpBeforeDenyingARollout: the reconciler verified a new signed commit and applies
// it before the feed's loop indexed it; the feed catches up with it on the denial, by its own fetch
// and verification, and allows the write. An unsigned commit an admin's forged status claims is
// fetched and refused the same way: the write stays denied and nothing is published.
func TestFeedCatchesUpBeforeDenyingARollout(t *testing.T) {
	harness.Require(t, env)
	ro := newRollout(t, "feed-catchup")

	c2 := ro.repo.Commit(ro.alice, "second", map[string]string{"apps/settings.yaml": cmYAML(ro.ns, "settings", "2")})
	if res := ro.check(t, "2", c2); res.Allowed || res.Reason != witness.Mismatch {
		t.Fatalf("commit 2 with no hint that it exists (the loop is held, the interval an hour): %+v", res)
	}
	ro.claim(t, c2)
	if res := ro.check(t, "2", c2); !res.Allowed || res.Reason != witness.Declared || res.Commit != c2 {
		t.Fatalf("commit 2, which the GitSource's status says was verified: %+v %s", res, res.Message())
	}
	if ok, msg := ro.declared(t, "1", ro.c1); !ok {
		t.Fatalf("the previous commit after a catch-up: %s", msg)
	}

	published := ro.r.publishes()
	c3 := ro.repo.Commit(fixtures.Signer{}, "unsigned", map[string]string{"apps/settings.yaml": cmYAML(ro.ns, "settings", "3")})
	ro.claim(t, c3)
	if res := ro.check(t, "3", c3); res.Allowed || res.Reason != witness.Mismatch || res.Commit != c2 {
		t.Fatalf("the unsigned commit a forged status claims: %+v", res)
	}
	if v, _ := harness.Metric(ro.r.reg, "writ_witness_verify_failures_total", map[string]string{"reason": "Unsigned"}); v < 1 {
		t.Fatalf("the catch-up did not fetch and refuse the unsigned head (writ_witness_verify_failures_total{reason=Unsigned} = %v)", v)
	}
	if n := ro.r.publishes(); n != published {
		t.Fatalf("a forged status made the feed publish: %d publishes, %d before", n, published)
	}
	if ok, msg := ro.declared(t, "2", c2); !ok {
		t.Fatalf("the last verified commit after a refused catch-up: %s", msg)
	}
}

// TestCatchUpIsOncePerSourceAndInterval: many concurrent denied writes, while a status hint names
// a commit the feed does not index, make one catch-up; repeating them makes none until the interval
// passed or the hint changed. A write naming no Sync finds the GitSource by its hint.
func TestCatchUpIsOncePerSourceAndInterval(t *testing.T) {
	harness.Require(t, env)
	ro := newRollout(t, "feed-catchup-once")
	c := ro.r.feed.catch
	var runs atomic.Int32
	run := c.run
	c.run = func(ctx context.Context, key types.NamespacedName) error {
		runs.Add(1)
		time.Sleep(200 * time.Millisecond) // the other Checks join it meanwhile
		return run(ctx, key)
	}
	var skew atomic.Int64
	c.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }

	c2 := ro.repo.Commit(fixtures.Signer{}, "unsigned", map[string]string{"apps/settings.yaml": cmYAML(ro.ns, "settings", "2")})
	ro.claim(t, c2)
	attack := func() {
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if res := ro.r.feed.Check(ro.update(t, ro.stamped("2", c2))); res.Allowed {
					t.Errorf("an unsigned commit's object: %+v", res)
				}
			}()
		}
		wg.Wait()
	}
	attack()
	if n := runs.Load(); n != 1 {
		t.Fatalf("20 concurrent denials made %d catch-ups, want 1", n)
	}
	attack()
	if n := runs.Load(); n != 1 {
		t.Fatalf("denials within the interval, the hint unchanged, made %d catch-ups in all, want 1", n)
	}
	skew.Store(int64(c.interval + time.Second))
	w := ro.update(t, ro.stamped("2", c2))
	w.Sync = types.NamespacedName{}
	if res := ro.r.feed.Check(w); res.Allowed {
		t.Fatalf("an unsigned commit's object, naming no Sync: %+v", res)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("a denial after the interval (naming no Sync) made %d catch-ups in all, want 2", n)
	}
	c3 := ro.repo.Commit(fixtures.Signer{}, "unsigned again", map[string]string{"apps/settings.yaml": cmYAML(ro.ns, "settings", "3")})
	ro.claim(t, c3)
	attack()
	if n := runs.Load(); n != 3 {
		t.Fatalf("denials after the hint changed made %d catch-ups in all, want 3", n)
	}
}
