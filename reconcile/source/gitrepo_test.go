package source_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"writ.dev/writ/reconcile/source"
)

// TestMain isolates every git process (the CLI here, and the git-upload-pack go-git runs for
// file:// URLs) from the machine's git configuration.
func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":   "/dev/null",
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_AUTHOR_NAME":     "Writ Test",
		"GIT_AUTHOR_EMAIL":    "test@writ.dev",
		"GIT_COMMITTER_NAME":  "Writ Test",
		"GIT_COMMITTER_EMAIL": "test@writ.dev",
		"GIT_TERMINAL_PROMPT": "0",
	} {
		os.Setenv(k, v)
	}
	if _, err := exec.LookPath("git"); err != nil {
		fmt.Println("source tests need the git CLI (test/install-deps.sh installs it)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// origin is a repository made with the git CLI that the tests commit, tag and force-push in.
type origin struct {
	t   *testing.T
	dir string
	n   int
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	o := &origin{t: t, dir: filepath.Join(t.TempDir(), "origin")}
	o.git("init", "-q", "-b", "main", o.dir)
	return o
}

func (o *origin) url() string { return "file://" + o.dir }

// git runs git in the origin and returns its trimmed output.
func (o *origin) git(args ...string) string {
	o.t.Helper()
	cmd := exec.Command("git", args...)
	if args[0] != "init" {
		cmd.Dir = o.dir
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		o.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (path -> content) and commits them, returning the commit hash.
func (o *origin) commit(files map[string]string) string {
	o.t.Helper()
	o.n++
	for p, content := range files {
		full := filepath.Join(o.dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			o.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			o.t.Fatal(err)
		}
	}
	o.git("add", "-A")
	o.git("commit", "-q", "--allow-empty", "-m", fmt.Sprintf("commit %d", o.n))
	return o.git("rev-parse", "HEAD")
}

// commitN makes n commits to one file and returns the last hash.
func (o *origin) commitN(n int) string {
	var h string
	for range n {
		h = o.commit(map[string]string{"app.yaml": fmt.Sprintf("replicas: %d\n", o.n+1)})
	}
	return h
}

// key is the one source a test's cache holds.
var key = source.Key{Namespace: "test", Name: "origin"}

// caches holds one Cache per test directory, so that calls on one directory share its lock, as
// the reconcilers share one Cache.
var caches sync.Map

// cacheAt returns the Cache rooted at dir.
func cacheAt(dir string) *source.Cache {
	c, _ := caches.LoadOrStore(dir, source.NewCache(dir))
	return c.(*source.Cache)
}

// fetch runs Cache.Fetch for the test's source in the cache at dir with a 20 s timeout, failing
// the test on error.
func fetch(t *testing.T, dir string, o source.Options) *source.Artifact {
	t.Helper()
	a, err := fetchErr(dir, o)
	if err != nil {
		t.Fatalf("Fetch(%s, %+v): %v", o.URL, o.Ref, err)
	}
	return a
}

func fetchErr(dir string, o source.Options) (*source.Artifact, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return fetchCtx(ctx, dir, o)
}

func fetchCtx(ctx context.Context, dir string, o source.Options) (*source.Artifact, error) {
	return cacheAt(dir).Fetch(ctx, key, o)
}

// checkout checks commit out of the test's source in the cache at dir, failing the test on
// error; the tree is closed when the test ends.
func checkout(t *testing.T, dir, commit string) *source.Tree {
	t.Helper()
	tree, err := checkoutErr(dir, commit)
	if err != nil {
		t.Fatalf("Checkout(%s): %v", commit, err)
	}
	t.Cleanup(tree.Close)
	return tree
}

func checkoutErr(dir, commit string) (*source.Tree, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cacheAt(dir).Checkout(ctx, key, commit)
}

// fetchAndCheckout fetches and checks out what the fetch resolved (as a reconciler does once the
// commit verified).
func fetchAndCheckout(t *testing.T, dir string, o source.Options) (*source.Artifact, *source.Tree) {
	t.Helper()
	a := fetch(t, dir, o)
	return a, checkout(t, dir, a.Commit)
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readFileErr is readFile for goroutines: the error is the text.
func readFileErr(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// sourceDir is the directory of the test's source in the cache at dir.
func sourceDir(dir string) string { return filepath.Join(dir, key.Namespace, key.Name) }

// checkouts lists the checkout directories of the test's source in the cache at dir.
func checkouts(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(sourceDir(dir), "trees"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// gitStdin runs git in the origin with stdin and returns its trimmed output.
func (o *origin) gitStdin(stdin string, args ...string) string {
	o.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = o.dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		o.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
