package feed

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// notes keeps, for each Sync without an index, why it has none, for Check's NotReady results.
// Reads take no lock (sync.Map), so a denial's message costs one lookup.
type notes struct {
	m sync.Map // types.NamespacedName -> string
}

// set records why sync has no index.
func (n *notes) set(sync types.NamespacedName, why string) { n.m.Store(sync, why) }

// clear drops sync's note: it has an index, or it is gone.
func (n *notes) clear(sync types.NamespacedName) { n.m.Delete(sync) }

// why says why sync has no index; a Sync the feed has never seen gets a note that says so.
func (n *notes) why(sync types.NamespacedName) string {
	if v, ok := n.m.Load(sync); ok {
		return v.(string)
	}
	return "the witness has seen no Sync " + sync.String() + ": it does not exist, or the witness has not read it yet"
}
