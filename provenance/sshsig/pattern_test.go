package sshsig

import (
	"strings"
	"testing"
)

// refMatch is OpenSSH's recursive match_pattern (match.c), kept as a reference for match. It is
// exponential on hostile patterns, so it only runs on short inputs.
func refMatch(s, p string) bool {
	for {
		if p == "" {
			return s == ""
		}
		if p[0] == '*' {
			for p != "" && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for ; s != ""; s = s[1:] {
				if (p[0] == '?' || p[0] == '*' || s[0] == p[0]) && refMatch(s, p) {
					return true
				}
			}
			return false
		}
		if s == "" || (p[0] != '?' && p[0] != s[0]) {
			return false
		}
		s, p = s[1:], p[1:]
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		s, p string
		want bool
	}{
		{"alice", "alice", true},
		{"alice", "Alice", false},
		{"alice", "al*", true},
		{"alice", "*", true},
		{"", "*", true},
		{"", "", true},
		{"a", "", false},
		{"", "?", false},
		{"alice", "al?ce", true},
		{"alce", "al?ce", false},
		{"alice@example.com", "*@example.com", true},
		{"alice@example.com.evil", "*@example.com", false},
		{"alice@sub.example.com", "*@example.com", false},
		{"aXbXc", "a*b*c", true},
		{"abc", "a**c", true},
		{"ab", "a?*", true},
		{"a", "a?*", false},
		{"mississippi", "m*iss*ppi", true},
		{"mississippi", "m*issx*", false},
		{"a*b", "a*b", true},
		{"Lorenz Leutgeb", "Lorenz *", true},
	} {
		if got := match(tc.s, tc.p); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.s, tc.p, got, tc.want)
		}
		if ref := refMatch(tc.s, tc.p); ref != tc.want {
			t.Errorf("reference match(%q, %q) = %v, test table is wrong", tc.s, tc.p, ref)
		}
	}
}

func TestMatchList(t *testing.T) {
	for _, tc := range []struct {
		s, list string
		want    bool
	}{
		{"alice", "*,!bob", true},
		{"bob", "*,!bob", false},
		{"bob", "!bob,*", false},
		{"alice", "!bob", false},
		{"git", "file,git", true},
		{"git", "*,!git", false},
		{"git", "g?t", true},
		{"git", "", false},
		{"", "", true},
		{"!bob", "!bob", false},
	} {
		if got := matchList(tc.s, strings.Split(tc.list, ",")); got != tc.want {
			t.Errorf("matchList(%q, %q) = %v, want %v", tc.s, tc.list, got, tc.want)
		}
	}
}

// FuzzMatch checks match against OpenSSH's recursive algorithm.
func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{{"alice@example.com", "*@example.com"}, {"mississippi", "m*iss*p?i"}, {"", "*"}, {"ab", "a?*"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, s, p string) {
		if len(s) > 32 || strings.Count(p, "*") > 4 {
			return // keep the exponential reference fast
		}
		if got, want := match(s, p), refMatch(s, p); got != want {
			t.Fatalf("match(%q, %q) = %v, OpenSSH says %v", s, p, got, want)
		}
	})
}

// BenchmarkMatchHostile matches a pattern that makes naive backtracking exponential.
func BenchmarkMatchHostile(b *testing.B) {
	s := strings.Repeat("a", 4096)
	p := strings.Repeat("*a", 64) + "b"
	for b.Loop() {
		if match(s, p) {
			b.Fatal("matched")
		}
	}
}
