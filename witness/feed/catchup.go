package feed

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/witness"
)

// The catch-up's defaults (Options.CatchUpTimeout, Options.CatchUpInterval).
const (
	// defaultCatchUpTimeout bounds one Check's catch-up. The guard's reads are bounded at 5 s
	// (webhook's snapshotTimeout) but almost never wait; the chart's webhook.timeoutSeconds is 10 by
	// default, so a review that catches up still answers before the apiserver gives up on it.
	defaultCatchUpTimeout = 4 * time.Second
	// defaultCatchUpInterval is how long a GitSource is not caught up again for the same hint.
	defaultCatchUpInterval = 10 * time.Second
)

// catchUp runs the feed's own reconciliation of a GitSource synchronously, when the index is about
// to deny a write and the GitSource's status says a commit the feed has not indexed was verified:
// the reconciler fetched, verified and is applying it before the feed's loop got to it. The status
// is only a hint of when to look: what is published comes from the loop's own fetch -> verify from
// its anchor -> render (sourceLoop.reconcile), never from the status.
//
// One catch-up per GitSource is in flight at a time (the others wait for it, singleflight), and a
// GitSource is caught up at most once per interval for the same hint, so that a denied write,
// repeated, does not make the feed fetch in a loop. Every Check's wait is bounded by timeout.
type catchUp struct {
	loop     *sourceLoop
	timeout  time.Duration
	interval time.Duration
	now      func() time.Time
	// run is the loop's reconciliation of a GitSource (sourceLoop.reconcile); a test counts it.
	run func(ctx context.Context, key types.NamespacedName) error

	flight singleflight.Group
	mu     sync.Mutex
	last   map[types.NamespacedName]tried // the last catch-up of each GitSource
}

// tried is when a GitSource was last caught up, and for which hint.
type tried struct {
	at   time.Time
	hint string
}

// hinted is a GitSource whose status names a verified commit the feed has not indexed.
type hinted struct {
	key  types.NamespacedName
	hint string
}

func newCatchUp(l *sourceLoop, timeout, interval time.Duration) *catchUp {
	if timeout <= 0 {
		timeout = defaultCatchUpTimeout
	}
	if interval <= 0 {
		interval = defaultCatchUpInterval
	}
	c := &catchUp{loop: l, timeout: timeout, interval: interval, now: time.Now, last: map[types.NamespacedName]tried{}}
	c.run = func(ctx context.Context, key types.NamespacedName) error {
		_, err := l.reconcile(ctx, key)
		return err
	}
	return c
}

// mayChange reports whether a newer commit could turn a denial of reason r into an allowance: not
// for malformed JSON or an operation Check does not judge, nor for the unsealer's DELETE.
func mayChange(r witness.Result) bool {
	return !r.Allowed && r.Reason != witness.Malformed && r.Reason != witness.UnsealerDelete
}

// catchUp brings the GitSources relevant to a denied write up to what their status hints: the one
// of the Sync the object names (sync), or, when it names none or the witness does not know it,
// every GitSource whose hint is ahead of the index. It reports whether any was reconciled (or
// found reconciled by the loop meanwhile), so that the write is worth checking again.
func (c *catchUp) catchUp(sync types.NamespacedName) bool {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ahead := c.ahead(ctx, sync)
	if len(ahead) == 0 {
		return false
	}
	done := make([]<-chan singleflight.Result, len(ahead))
	for i, h := range ahead {
		h := h
		done[i] = c.flight.DoChan(h.key.String(), func() (any, error) { return c.attempt(h), nil })
	}
	caught := false
	for _, ch := range done {
		select {
		case res := <-ch:
			caught = caught || res.Val.(bool)
		case <-ctx.Done():
			return caught
		}
	}
	return caught
}

// ahead lists the GitSources to catch up for a write naming sync, read from the manager's cache.
func (c *catchUp) ahead(ctx context.Context, sync types.NamespacedName) []hinted {
	l := c.loop
	var gss []reconcilev1.GitSource
	var s reconcilev1.Sync
	if sync.Name != "" && l.client.Get(ctx, sync, &s) == nil && s.Spec.SourceRef.Name != "" {
		var gs reconcilev1.GitSource
		if err := l.client.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.SourceRef.Name}, &gs); err != nil {
			return nil
		}
		gss = []reconcilev1.GitSource{gs}
	} else {
		var list reconcilev1.GitSourceList
		if err := l.client.List(ctx, &list); err != nil {
			return nil
		}
		gss = list.Items
	}
	hints := make(map[types.NamespacedName]string, len(gss))
	for i := range gss {
		if h := gss[i].Status.LastVerifiedCommit; h != "" {
			hints[objectKey(&gss[i])] = h
		}
	}
	return l.behind(hints)
}

// attempt catches one GitSource up, unless it was caught up for the same hint less than an
// interval ago. It runs once for all the Checks waiting on it, on its own deadline.
func (c *catchUp) attempt(h hinted) bool {
	if !c.allow(h) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	unlock, err := c.loop.locks.lock(ctx, h.key)
	if err != nil {
		return false // the loop is reconciling it still: the denial stands
	}
	defer unlock()
	if len(c.loop.behind(map[types.NamespacedName]string{h.key: h.hint})) == 0 {
		return true // the loop got there while this waited
	}
	if err := c.run(ctx, h.key); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "the witness's catch-up of a GitSource failed: the write stays denied, and the loop retries", "gitSource", h.key.String())
	}
	return true
}

// allow records a catch-up of h now, unless one for the same hint is less than an interval old.
func (c *catchUp) allow(h hinted) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if t, ok := c.last[h.key]; ok && t.hint == h.hint && now.Sub(t.at) < c.interval {
		return false
	}
	c.last[h.key] = tried{at: now, hint: h.hint}
	return true
}

// behind lists the GitSources of hints (key -> a commit their status says was verified) that have a
// Sync the feed tracks whose index is not of that commit (none yet, or an older one's). A hint the
// feed refused (a forged status) stays behind: the interval bounds how often it is fetched again.
func (l *sourceLoop) behind(hints map[types.NamespacedName]string) []hinted {
	if len(hints) == 0 {
		return nil
	}
	var out []hinted
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[types.NamespacedName]bool, len(hints))
	for _, rec := range l.syncs {
		hint, ok := hints[rec.source]
		if !ok || seen[rec.source] || (rec.ready && rec.commit == hint) {
			continue
		}
		seen[rec.source] = true
		out = append(out, hinted{key: rec.source, hint: hint})
	}
	return out
}

// sourceLocks serialise the reconciliations of each GitSource, the loop's and the catch-up's, so
// that the anchor is never judged by two at once; waiting for one is bounded by a context.
type sourceLocks struct {
	mu sync.Mutex
	m  map[types.NamespacedName]chan struct{}
}

// lock takes key's lock, or fails when ctx ends first; call the returned func to release it.
func (s *sourceLocks) lock(ctx context.Context, key types.NamespacedName) (func(), error) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[types.NamespacedName]chan struct{}{}
	}
	ch := s.m[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		s.m[key] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
