package reconcile

import (
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/reconcile/apply"
)

// driftLog remembers, per sync, the drifts already recorded, so that a drift left in place
// (Warn, or a frozen sync) is recorded once and not on every check.
type driftLog struct {
	mu       sync.Mutex
	reported map[types.NamespacedName]map[string]bool // drift identity -> recorded
}

// fresh returns the drifts not yet recorded for the sync named key, and remembers drifts as its
// current set. A drift is one object at one resourceVersion with one set of fields: it is
// recorded again only when the object is written anew. A drift that goes away and comes back is
// new. After a restart each standing drift is recorded once more.
func (l *driftLog) fresh(key types.NamespacedName, drifts []apply.Drift) []apply.Drift {
	current := map[string]bool{}
	var out []apply.Drift
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reported == nil {
		l.reported = map[types.NamespacedName]map[string]bool{}
	}
	for _, d := range drifts {
		id := d.Entry.ID() + "@" + d.ResourceVersion + " " + strings.Join(d.Fields, ",")
		current[id] = true
		if !l.reported[key][id] {
			out = append(out, d)
		}
	}
	if len(current) == 0 {
		delete(l.reported, key)
	} else {
		l.reported[key] = current
	}
	return out
}

// forget drops what was recorded for a sync that is gone.
func (l *driftLog) forget(key types.NamespacedName) { l.fresh(key, nil) }
