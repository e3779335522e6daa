package provenance

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"writ.dev/writ/provenance/gitobj"
)

// commitNode is a parsed commit on a walk.
type commitNode struct {
	hash   string
	commit *gitobj.Commit
	flags  uint8
}

const (
	fromTarget uint8 = 1 << iota // reachable from the target
	fromBase                     // reachable from a base: already verified or out of scope
)

// queue is a max-heap of commits by committer time, as git's rev-list walks.
type queue []*commitNode

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	return q[i].commit.Committer.When.After(q[j].commit.Committer.When)
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*commitNode)) }
func (q *queue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// slop is how many extra commits the walk takes after only base-reachable commits remain, to
// tolerate committer clocks that run backwards (git uses the same idea).
const slop = 8

// loadCommit reads and parses a commit.
func (r *Repository) loadCommit(hash string) (*gitobj.Commit, error) {
	raw, typ, err := r.raw(hash)
	if err != nil {
		return nil, err
	}
	if typ != plumbing.CommitObject {
		return nil, fmt.Errorf("%w: %s is a %s, not a commit", ErrRevision, hash, typ)
	}
	c, err := gitobj.ParseCommit(raw)
	if err != nil {
		return nil, &malformedError{hash: hash, err: err}
	}
	return c, nil
}

// malformedError is a commit on the walk that cannot be parsed: a rejection, not a failure to
// verify.
type malformedError struct {
	hash string
	err  error
}

func (e *malformedError) Error() string   { return fmt.Sprintf("commit %s: %v", e.hash, e.err) }
func (e *malformedError) Unwrap() []error { return []error{ErrMalformed, e.err} }

// newCommits returns the commits reachable from target but not from any base — `git rev-list
// target ^base…` — newest first. With no base it returns target's whole history. Commits of
// every parent of a merge are included.
func (r *Repository) newCommits(target string, bases []string) ([]*commitNode, error) {
	seen := map[string]*commitNode{}
	q := &queue{}
	// markBase flags n and every ancestor already seen as reachable from a base: a commit first
	// reached from the target may turn out to be a base's ancestor through another path.
	markBase := func(n *commitNode) {
		stack := []*commitNode{n}
		for len(stack) > 0 {
			m := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if m.flags&fromBase != 0 {
				continue
			}
			m.flags |= fromBase
			for _, p := range m.commit.Parents {
				if pn, ok := seen[p]; ok {
					stack = append(stack, pn)
				}
			}
		}
	}
	add := func(hash string, flags uint8) error {
		if n, ok := seen[hash]; ok {
			if flags&fromBase != 0 {
				markBase(n)
			}
			n.flags |= flags
			return nil
		}
		c, err := r.loadCommit(hash)
		if err != nil {
			return err
		}
		n := &commitNode{hash: hash, commit: c, flags: flags}
		seen[hash] = n
		heap.Push(q, n)
		return nil
	}
	if err := add(target, fromTarget); err != nil {
		return nil, err
	}
	for _, b := range bases {
		if err := add(b, fromBase); err != nil {
			return nil, err
		}
	}
	var order []*commitNode
	extra := slop
	for q.Len() > 0 {
		if onlyBase(*q) {
			if extra == 0 {
				break
			}
			extra--
		}
		n := heap.Pop(q).(*commitNode)
		if n.flags&fromBase == 0 {
			order = append(order, n)
		}
		for _, p := range n.commit.Parents {
			if err := add(p, n.flags); err != nil {
				return nil, err
			}
		}
	}
	out := order[:0]
	for _, n := range order {
		if n.flags&fromBase == 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

func onlyBase(q queue) bool {
	for _, n := range q {
		if n.flags&fromBase == 0 {
			return false
		}
	}
	return true
}

// isAncestor reports whether ancestor is reachable from descendant (or equal to it).
func (r *Repository) isAncestor(ancestor, descendant string) (bool, error) {
	if ancestor == descendant {
		return true, nil
	}
	stack := []string{descendant}
	seen := map[string]bool{descendant: true}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c, err := r.loadCommit(h)
		if err != nil {
			return false, err
		}
		for _, p := range c.Parents {
			if p == ancestor {
				return true, nil
			}
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false, nil
}

// commitTime is the committer time git uses for SSH validity windows.
func commitTime(c *gitobj.Commit) time.Time { return c.Committer.When }
