package source_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"writ.dev/writ/reconcile/source"
)

// symlinkCommit adds symlinks (path -> target) to the origin and commits them.
func (o *origin) symlinkCommit(links map[string]string) string {
	o.t.Helper()
	for p, target := range links {
		full := filepath.Join(o.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			o.t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			o.t.Fatal(err)
		}
	}
	return o.commit(nil)
}

func TestCheckoutKeepsSymlinksInsideTheRepository(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.commit(map[string]string{"base/app.yaml": "kind: Deployment\n"})
	want := o.symlinkCommit(map[string]string{
		"app.yaml":         "base/app.yaml",
		"overlays/prod/up": "../../base",
		"dangling.yaml":    "missing.yaml", // allowed: reading it fails, inside the tree
	})
	a, tree := fetchAndCheckout(t, t.TempDir(), source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}})
	if a.Commit != want {
		t.Fatalf("got %s, want %s", a.Commit, want)
	}
	for _, p := range []string{"app.yaml", "overlays/prod/up/app.yaml"} {
		if got := readFile(t, tree.Dir, p); got != "kind: Deployment\n" {
			t.Errorf("%s reads %q", p, got)
		}
	}
}

func TestCheckoutRefusesEscapingSymlinks(t *testing.T) {
	t.Parallel()
	for name, links := range map[string]map[string]string{
		"absolute": {"token": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
		"parent":   {"deploy/secret.yaml": "../../../etc/passwd"},
		// Each link is lexically inside, but together they climb out: self/.. is the parent.
		"chain": {"self": ".", "deploy/escape": "../self/.."},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t)
			good := o.commit(map[string]string{"app.yaml": "ok\n"})
			opts, dir := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}, t.TempDir()
			fetchAndCheckout(t, dir, opts)

			o.symlinkCommit(links)
			_, err := checkoutErr(dir, fetch(t, dir, opts).Commit)
			if !errors.Is(err, source.ErrUnsafeTree) || !strings.Contains(err.Error(), "must point inside the repository") {
				t.Fatalf("got %v, want the symlink refused", err)
			}
			// The failed checkout left nothing behind, and the previous one is intact.
			if got := checkouts(t, dir); !slices.Equal(got, []string{good}) {
				t.Fatalf("checkouts after the refused checkout: %v, want only %s", got, good)
			}
			if got := readFile(t, filepath.Join(sourceDir(dir), "trees", good), "app.yaml"); got != "ok\n" {
				t.Fatalf("previous checkout changed: %q", got)
			}
		})
	}
}

// TestCheckoutRefusesUnsafeTreeEntries uses trees git's porcelain would never write, made with
// git mktree, as a hostile server could send them.
func TestCheckoutRefusesUnsafeTreeEntries(t *testing.T) {
	t.Parallel()
	for name, entries := range map[string][]string{
		"dot-dot":   {".."},
		"dot-git":   {".GIT"},
		"duplicate": {"app.yaml", "app.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := newOrigin(t)
			o.commitN(1)
			blob := o.git("hash-object", "-w", "--stdin")
			var tree strings.Builder
			for _, e := range entries {
				tree.WriteString("100644 blob " + blob + "\t" + e + "\n")
			}
			treeHash := o.gitStdin(tree.String(), "mktree")
			commit := o.git("commit-tree", "-p", "HEAD", "-m", "hostile", treeHash)
			o.git("update-ref", "refs/heads/main", commit)

			dir := t.TempDir()
			_, err := checkoutErr(dir, fetch(t, dir, source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}).Commit)
			if !errors.Is(err, source.ErrUnsafeTree) {
				t.Fatalf("a tree with entries %q: got %v, want ErrUnsafeTree", entries, err)
			}
			t.Log(err)
		})
	}
}
