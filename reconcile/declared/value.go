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
	n, ok := f.at(&f.nodes[0], path)
	if !ok || path == "" { // the root is no field
		return "", false
	}
	return string(f.appendJSON(n, nil)), true
}

// at returns the declared node path leads to from n. A key may itself contain dots or brackets
// (".metadata.labels.writ.dev/managed"), so every segment that spells the start of path is tried.
func (f *Fields) at(n *node, path string) (*node, bool) {
	if n.kind == nullNode {
		return nil, false
	}
	if path == "" {
		return n, true
	}
	if n.kind == scalarNode {
		return nil, false
	}
	for i := range f.kids(n) {
		if rest, ok := strings.CutPrefix(path, f.segment(n, i)); ok {
			if r, ok := f.at(&f.nodes[int(n.first)+i], rest); ok {
				return r, true
			}
		}
	}
	return nil, false
}

// appendJSON appends the compact JSON of what n declares, in the manifest's spelling.
func (f *Fields) appendJSON(n *node, b []byte) []byte {
	switch n.kind {
	case nullNode:
		return append(b, "null"...)
	case objectNode:
		b = append(b, '{')
		for i := range f.kids(n) {
			if i > 0 {
				b = append(b, ',')
			}
			k := &f.nodes[int(n.first)+i]
			b = appendString(b, f.str(k.key))
			b = f.appendJSON(k, append(b, ':'))
		}
		return append(b, '}')
	case namedListNode, listNode:
		b = append(b, '[')
		for i := range f.kids(n) {
			if i > 0 {
				b = append(b, ',')
			}
			b = f.appendJSON(&f.nodes[int(n.first)+i], b)
		}
		return append(b, ']')
	}
	switch w := f.scalar(n); w.kind {
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
