package declared

// diff appends the paths at which live differs from n (hasLive false: the key is absent).
func (f *Fields) diff(n *node, path string, live any, hasLive bool, out []string) []string {
	if n.kind == nullNode {
		return out
	}
	if !hasLive || live == nil {
		if n.flags&absentOK != 0 {
			return out
		}
		return append(out, path)
	}
	switch n.kind {
	case objectNode:
		l, ok := live.(map[string]any)
		if !ok {
			return append(out, path)
		}
		for i := range f.kids(n) {
			k := &f.nodes[int(n.first)+i]
			lv, lok := l[f.str(k.key)]
			out = f.diff(k, path+f.segment(n, i), lv, lok, out)
		}
		return out
	case namedListNode:
		l, ok := live.([]any)
		if !ok {
			return append(out, path)
		}
		byName := map[string]any{}
		if ln, ok := identities(l, f.keys[n.keys]); ok {
			for i, name := range ln {
				byName[name] = l[i]
			}
		}
		for i := range f.kids(n) {
			e := &f.nodes[int(n.first)+i]
			p := path + f.segment(n, i)
			lv, lok := byName[f.str(e.key)]
			if !lok {
				out = append(out, p)
				continue
			}
			out = f.diff(e, p, lv, true, out)
		}
		return out
	case listNode:
		l, ok := live.([]any)
		if !ok {
			return append(out, path)
		}
		if len(l) != int(n.count) {
			return append(out, path)
		}
		for i := range f.kids(n) {
			out = f.diff(&f.nodes[int(n.first)+i], path+f.segment(n, i), l[i], true, out)
		}
		return out
	}
	if f.matches(n, scalarOf(live)) {
		return out
	}
	return append(out, path)
}
