package declared

import (
	"encoding/json"
	"strings"
)

// DeclaredAt returns the compact JSON of what the manifest declares at path, a path Diff or
// FirstDiffJSON returned (".spec.template.spec.containers[name=web].image"), in the manifest's
// own spelling; false if the manifest declares nothing there. It returns a value: a caller must
// never show it for a Secret.
func (f *Fields) DeclaredAt(path string) (string, bool) {
	n, ok := f.root.at(path)
	if !ok || path == "" { // the root is no field
		return "", false
	}
	return string(n.appendJSON(nil)), true
}

// at returns the declared node path leads to from n. A key may itself contain dots or brackets
// (".metadata.labels.writ.dev/managed"), so every segment that spells the start of path is tried.
func (n *node) at(path string) (*node, bool) {
	if path == "" {
		return n, n != nil
	}
	if n == nil {
		return nil, false
	}
	try := func(seg string, c *node) (*node, bool) {
		if rest, ok := strings.CutPrefix(path, seg); ok {
			return c.at(rest)
		}
		return nil, false
	}
	switch n.kind {
	case objectNode:
		for i, k := range n.keys {
			if r, ok := try("."+k, n.kids[i]); ok {
				return r, true
			}
		}
	case namedListNode, listNode:
		for i := range n.elems {
			if r, ok := try(n.segment(i), n.elems[i]); ok {
				return r, true
			}
		}
	}
	return nil, false
}

// appendJSON appends the compact JSON of what n declares, in the manifest's spelling.
func (n *node) appendJSON(b []byte) []byte {
	if n == nil {
		return append(b, "null"...)
	}
	switch n.kind {
	case objectNode:
		b = append(b, '{')
		for i, k := range n.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = n.kids[i].appendJSON(append(b, ':'))
		}
		return append(b, '}')
	case namedListNode, listNode:
		b = append(b, '[')
		for i, e := range n.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.appendJSON(b)
		}
		return append(b, ']')
	}
	switch w := n.want; w.kind {
	case stringScalar:
		return appendString(b, w.s)
	case numberScalar:
		j, _ := json.Marshal(w.f) // finite: NaN never compiles to a number
		return append(b, j...)
	case boolScalar:
		if w.b {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	}
	return append(b, "null"...)
}

func appendString(b []byte, s string) []byte {
	j, _ := json.Marshal(s)
	return append(b, j...)
}
