package webhook

import (
	"sync"

	guardv1 "writ.dev/writ/webhook/api/v1alpha1"
)

// compileCache keeps each GuardPolicy compiled for as long as its uid and resourceVersion stay
// the same, so that a snapshot read afresh does not compile every policy again.
type compileCache struct {
	mu     sync.Mutex
	byName map[string]compiledPolicy
}

type compiledPolicy struct {
	version string
	policy  *Policy
	err     error
}

// compile returns gp compiled (or why it does not compile), from the cache if gp is unchanged.
func (c *compileCache) compile(gp *guardv1.GuardPolicy) (*Policy, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil {
		c.byName = map[string]compiledPolicy{}
	}
	version := string(gp.UID) + "/" + gp.ResourceVersion
	if k, ok := c.byName[gp.Name]; ok && k.version == version {
		return k.policy, k.err
	}
	p, err := Compile(gp)
	c.byName[gp.Name] = compiledPolicy{version: version, policy: p, err: err}
	return p, err
}
