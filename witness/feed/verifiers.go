package feed

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"writ.dev/writ/provenance"
	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
)

// verifiers compiles each TrustPolicy once per uid and generation (a policy deleted and created
// again starts at generation 1 with another uid), as the reconciler does.
type verifiers struct {
	mu sync.Mutex
	m  map[string]compiled // TrustPolicy name -> compiled at a uid and generation
}

type compiled struct {
	uid        types.UID
	generation int64
	v          *provenance.Verifier
	err        error
}

// of returns tp's verifier, or why tp does not compile (wrapping provenance.ErrInvalidPolicy).
func (c *verifiers) of(tp *provenancev1.TrustPolicy) (*provenance.Verifier, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]compiled{}
	}
	if v, ok := c.m[tp.Name]; ok && v.uid == tp.UID && v.generation == tp.Generation {
		return v.v, v.err
	}
	v, err := provenance.Compile(tp.Spec)
	c.m[tp.Name] = compiled{uid: tp.UID, generation: tp.Generation, v: v, err: err}
	return v, err
}
