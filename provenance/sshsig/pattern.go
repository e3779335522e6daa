package sshsig

// matchList reports whether s matches a pattern list the way OpenSSH's match_pattern_list does
// for principals and namespaces: s must match at least one pattern and no pattern negated with
// "!". Matching is case-sensitive and byte-wise.
func matchList(s string, patterns []string) bool {
	positive := false
	for _, p := range patterns {
		negated := len(p) > 0 && p[0] == '!'
		if negated {
			p = p[1:]
		}
		if !match(s, p) {
			continue
		}
		if negated {
			return false
		}
		positive = true
	}
	return positive
}

// match reports whether s matches pattern, where "*" matches any run of bytes and "?" any one
// byte, as OpenSSH's match_pattern does. It backtracks only to the last "*", so it runs in
// O(len(s)*len(pattern)) even on hostile input.
func match(s, pattern string) bool {
	si, pi := 0, 0
	star, resume := -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, resume = pi, si
			pi++
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			si++
			pi++
		case star >= 0:
			resume++
			si, pi = resume, star+1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
