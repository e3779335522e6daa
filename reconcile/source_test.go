package reconcile

import "testing"

// The writ.dev/source annotation names the repository and the path once each, without the
// double slash a joined URL would print ("…/shop//deploy").
func TestSourceOf(t *testing.T) {
	for _, c := range []struct{ url, path, want string }{
		{"https://git.example.com/shop", "deploy", "https://git.example.com/shop (path deploy)"},
		{"https://git.example.com/shop", "/deploy/", "https://git.example.com/shop (path deploy)"},
		{"https://git.example.com/shop", "", "https://git.example.com/shop"},
		{"git@example.com:shop.git", ".", "git@example.com:shop.git"},
	} {
		if got := sourceOf(c.url, c.path); got != c.want {
			t.Errorf("sourceOf(%q, %q) = %q, want %q", c.url, c.path, got, c.want)
		}
	}
}
