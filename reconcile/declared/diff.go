package declared

// diff appends the paths at which live differs from n (hasLive false: the key is absent).
func (n *node) diff(path string, live any, hasLive bool, out []string) []string {
	if n == nil {
		return out
	}
	if !hasLive || live == nil {
		if n.absentOK {
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
		for i, k := range n.keys {
			lv, lok := l[k]
			out = n.kids[i].diff(path+"."+k, lv, lok, out)
		}
		return out
	case namedListNode:
		l, ok := live.([]any)
		if !ok {
			return append(out, path)
		}
		byName := map[string]any{}
		if ln, ok := elementNames(l); ok {
			for i, name := range ln {
				byName[name] = l[i]
			}
		}
		for i, name := range n.names {
			p := path + elementPath(name)
			lv, lok := byName[name]
			if !lok {
				out = append(out, p)
				continue
			}
			out = n.elems[i].diff(p, lv, true, out)
		}
		return out
	case listNode:
		l, ok := live.([]any)
		if !ok {
			return append(out, path)
		}
		if len(l) != len(n.elems) {
			return append(out, path)
		}
		for i, e := range n.elems {
			out = e.diff(path+indexPath(i), l[i], true, out)
		}
		return out
	}
	if n.matches(scalarOf(live)) {
		return out
	}
	return append(out, path)
}
