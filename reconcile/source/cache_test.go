package source_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"writ.dev/writ/reconcile/source"
)

// Fetch writes no files of what it fetched: the head is not verified yet. Only Checkout, given
// a commit the reconciler verified, writes a tree.
func TestFetchChecksNothingOut(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	first := o.commitN(1)
	dir := t.TempDir()
	opts := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}
	if a := fetch(t, dir, opts); a.Commit != first {
		t.Fatalf("got %s, want %s", a.Commit, first)
	}
	if got := checkouts(t, dir); len(got) != 0 {
		t.Fatalf("Fetch checked out %v before anything verified it", got)
	}
	checkout(t, dir, first)
	second := o.commitN(1)
	if a := fetch(t, dir, opts); a.Commit != second {
		t.Fatalf("got %s, want %s", a.Commit, second)
	}
	if got := checkouts(t, dir); !slices.Equal(got, []string{first}) {
		t.Fatalf("checkouts after fetching %s: %v, want only the checked-out %s", second, got, first)
	}
}

// One lock per source serialises Fetch and Checkout: while a fetch holds the cache (here an SSH
// handshake the server never answers, which outlives the fetch's own timeout), a checkout of the
// same source waits for it, and one of another source does not.
func TestCheckoutWaitsForAFetchOfTheSameSource(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	commit := o.commitN(1)
	dir := t.TempDir()
	other := source.Key{Namespace: "test", Name: "other"}
	if _, err := cacheAt(dir).Fetch(context.Background(), other, source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}); err != nil {
		t.Fatal(err)
	}

	addr := silentServer(t)
	_, clientKey := newSigner(t, false)
	host, _ := newSigner(t, false)
	stalled := source.Options{URL: "ssh://git@" + addr + "/repo", Ref: source.Ref{Branch: "main"}, Timeout: 300 * time.Millisecond,
		Auth: source.Auth{SSHPrivateKey: clientKey, SSHKnownHosts: []byte(knownhosts.Line([]string{addr}, host.PublicKey()))}}
	if _, err := fetchErr(dir, stalled); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled fetch: got %v, want context.DeadlineExceeded", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := cacheAt(dir).Checkout(ctx, key, commit)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for another fetch or checkout") {
		t.Fatalf("checkout beside a running fetch: got %v, want it to wait for the fetch's lock", err)
	}
	tree, err := cacheAt(dir).Checkout(context.Background(), other, commit)
	if err != nil {
		t.Fatalf("checkout of another source waited for this one's fetch: %v", err)
	}
	tree.Close()
}

// Fetches and checkouts of one source running at once neither fail nor leave a half-written tree
// (go test -race also sees their shared state).
func TestConcurrentFetchAndCheckout(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	commit := o.commitN(2)
	dir := t.TempDir()
	opts := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}
	fetch(t, dir, opts)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = fetchErr(dir, opts)
				return
			}
			tree, err := checkoutErr(dir, commit)
			if err == nil {
				if got := readFileErr(tree.Dir, "app.yaml"); got != "replicas: 2\n" {
					err = errors.New("checkout reads " + got)
				}
				tree.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := checkouts(t, dir); !slices.Equal(got, []string{commit}) {
		t.Fatalf("checkouts: %v, want only %s (no temporary leftovers)", got, commit)
	}
}

// Clean keeps the served commit and every tree a reader still holds open, and removes the rest,
// leftovers of an interrupted checkout included.
func TestCleanKeepsTheServedCommitAndOpenTrees(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	opts := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}
	var commits []string
	for range 3 {
		commits = append(commits, o.commitN(1))
		fetch(t, dir, opts)
	}
	old, open, served := commits[0], commits[1], commits[2]
	checkout(t, dir, old).Close()
	reading := checkout(t, dir, open) // a sync still rendering the commit it applied
	checkout(t, dir, served).Close()
	if err := cacheAt(dir).Clean(context.Background(), key, served); err != nil {
		t.Fatal(err)
	}
	want := []string{open, served}
	slices.Sort(want)
	if got := checkouts(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after Clean(%s) with %s open: %v, want %v", served, open, got, want)
	}
	if got := readFile(t, reading.Dir, "app.yaml"); got != "replicas: 2\n" {
		t.Fatalf("the open tree changed under its reader: %q", got)
	}
	reading.Close()
	if err := cacheAt(dir).Clean(context.Background(), key, served); err != nil {
		t.Fatal(err)
	}
	if got := checkouts(t, dir); !slices.Equal(got, []string{served}) {
		t.Fatalf("after the reader closed: %v, want only the served %s", got, served)
	}
	if err := cacheAt(dir).Clean(context.Background(), source.Key{Namespace: "test", Name: "never-fetched"}, served); err != nil {
		t.Fatalf("cleaning a source with no checkouts: %v", err)
	}
}

// Remove deletes a source's repository and checkouts; a tree a sync still holds open stays
// readable until it is closed, and then goes too. A source fetched again after Remove starts a
// new cache.
func TestRemoveLeavesNothingOnceTreesClose(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	dir := t.TempDir()
	opts := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}
	first := o.commitN(1)
	fetch(t, dir, opts)
	checkout(t, dir, first).Close()
	second := o.commitN(1)
	fetch(t, dir, opts)
	reading := checkout(t, dir, second) // a sync rendering when the source is deleted
	if err := cacheAt(dir).Remove(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sourceDir(dir), "repo")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the repository is still there after Remove: %v", err)
	}
	if got := checkouts(t, dir); !slices.Equal(got, []string{second}) {
		t.Fatalf("checkouts after Remove with %s open: %v, want only the open one", second, got)
	}
	if got := readFile(t, reading.Dir, "app.yaml"); got != "replicas: 2\n" {
		t.Fatalf("the open tree changed under its reader: %q", got)
	}
	reading.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := os.Stat(sourceDir(dir))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source's directory is still there after its last tree closed: %v (checkouts %v)", err, checkouts(t, dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cacheAt(dir).Remove(context.Background(), key); err != nil {
		t.Fatalf("removing a source with no cache: %v", err)
	}
	third := o.commitN(1)
	if a := fetch(t, dir, opts); a.Commit != third {
		t.Fatalf("fetch after Remove: got %s, want %s", a.Commit, third)
	}
	if got := checkouts(t, dir); len(got) != 0 {
		t.Fatalf("a fetch after Remove found old checkouts: %v", got)
	}
}
