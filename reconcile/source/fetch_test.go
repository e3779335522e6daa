package source_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"writ.dev/writ/reconcile/source"
)

func TestFetchBranchSeesNewCommits(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	first := o.commit(map[string]string{"deploy/app.yaml": "replicas: 1\n", "run.sh": "#!/bin/sh\n"})
	if err := os.Chmod(filepath.Join(o.dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	o.git("commit", "-q", "-am", "executable")
	first = o.git("rev-parse", "HEAD")
	opts, dir := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}, t.TempDir()

	a, ta := fetchAndCheckout(t, dir, opts)
	if a.Commit != first || a.Ref != "refs/heads/main" || a.Tag != "" {
		t.Fatalf("got commit %s ref %q tag %q, want %s refs/heads/main", a.Commit, a.Ref, a.Tag, first)
	}
	if got := readFile(t, ta.Dir, "deploy/app.yaml"); got != "replicas: 1\n" {
		t.Fatalf("checkout has %q", got)
	}
	if fi, err := os.Stat(filepath.Join(ta.Dir, "run.sh")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("run.sh lost its executable bit: %v %v", fi.Mode(), err)
	}
	if h, err := a.Repo.ResolveRevision(plumbing.Revision(a.Ref)); err != nil || h.String() != first {
		t.Fatalf("Repo resolves %s to %v, %v", a.Ref, h, err)
	}
	ta.Close()

	second := o.commit(map[string]string{"deploy/app.yaml": "replicas: 2\n"})
	b, tb := fetchAndCheckout(t, dir, opts)
	if b.Commit != second {
		t.Fatalf("second fetch got %s, want the new commit %s", b.Commit, second)
	}
	if got := readFile(t, tb.Dir, "deploy/app.yaml"); got != "replicas: 2\n" {
		t.Fatalf("second checkout has %q", got)
	}
	if err := cacheAt(dir).Clean(context.Background(), key, second); err != nil {
		t.Fatal(err)
	}
	if got := checkouts(t, dir); !slices.Equal(got, []string{second}) {
		t.Fatalf("checkouts after the second fetch: %v, want only %s", got, second)
	}

	// Nothing new: the same checkout is reused.
	c, tc := fetchAndCheckout(t, dir, opts)
	if c.Commit != second || tc.Dir != tb.Dir {
		t.Fatalf("third fetch got %s in %s, want %s in %s", c.Commit, tc.Dir, second, tb.Dir)
	}
}

func TestFetchForcePushReportsOlderCommit(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	older := o.commitN(1)
	newer := o.commitN(2)
	opts, dir := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}, t.TempDir()
	if a := fetch(t, dir, opts); a.Commit != newer {
		t.Fatalf("got %s, want %s", a.Commit, newer)
	}

	o.git("reset", "-q", "--hard", older)
	a := fetch(t, dir, opts)
	if a.Commit != older {
		t.Fatalf("after a force-push to %s, Fetch reported %s: the rollback must be visible", older, a.Commit)
	}
	// The commit deployed before stays readable, so the verifier can see it is not an ancestor.
	if _, err := a.Repo.CommitObject(plumbing.NewHash(newer)); err != nil {
		t.Fatalf("the previously fetched commit %s is gone from the cache: %v", newer, err)
	}
}

func TestFetchTags(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	light := o.commitN(1)
	o.git("tag", "v1.0.0")
	annotated := o.commitN(1)
	o.git("tag", "-a", "-m", "release 1.1.0", "v1.1.0")
	o.commitN(1) // main moves on; tags must not follow it
	dir := t.TempDir()

	for _, tc := range []struct{ tag, want string }{
		{"v1.0.0", light},
		{"refs/tags/v1.1.0", annotated},
	} {
		a := fetch(t, dir, source.Options{URL: o.url(), Ref: source.Ref{Tag: tc.tag}})
		if a.Commit != tc.want {
			t.Errorf("tag %s: got %s, want %s", tc.tag, a.Commit, tc.want)
		}
		if a.Ref != "refs/tags/"+a.Tag || a.Tag != filepath.Base(tc.tag) {
			t.Errorf("tag %s: Ref %q, Tag %q", tc.tag, a.Ref, a.Tag)
		}
	}

	// The annotated tag object is kept for Tag-mode verification.
	a := fetch(t, dir, source.Options{URL: o.url(), Ref: source.Ref{Tag: "v1.1.0"}})
	ref, err := a.Repo.Reference(plumbing.ReferenceName(a.Ref), false)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := a.Repo.TagObject(ref.Hash())
	if err != nil {
		t.Fatalf("refs/tags/v1.1.0 does not name the annotated tag object: %v", err)
	}
	if tag.Target.String() != annotated || tag.Message != "release 1.1.0\n" {
		t.Fatalf("tag object points at %s with message %q", tag.Target, tag.Message)
	}

	_, err = fetchErr(dir, source.Options{URL: o.url(), Ref: source.Ref{Tag: "v9.9.9"}})
	if !errors.Is(err, source.ErrRefNotFound) {
		t.Fatalf("missing tag: got %v, want ErrRefNotFound", err)
	}
}

func TestFetchSemVer(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	tag := func(name string, annotated bool) string {
		h := o.commitN(1)
		if annotated {
			o.git("tag", "-a", "-m", name, name)
		} else {
			o.git("tag", name)
		}
		return h
	}
	tag("v1.0.0", false)
	tag("v1.2.0", true)
	want := tag("1.3.0", true) // no "v" prefix counts too
	tag("v2.0.0", false)       // outside the range
	tag("v1.9.0-rc.1", true)   // pre-release: excluded by a range without one
	tag("2024", false)         // not semver: must not read as 2024.0.0
	tag("v1.10", false)        // not semver: must not read as 1.10.0
	tag("approve/v1.8.0", false)
	tag("latest", false)
	opts, dir := source.Options{URL: o.url(), Ref: source.Ref{SemVer: ">=1.0.0 <2.0.0"}}, t.TempDir()

	a := fetch(t, dir, opts)
	if a.Commit != want || a.Tag != "1.3.0" || a.Ref != "refs/tags/1.3.0" {
		t.Fatalf("got %s (tag %q, ref %q), want 1.3.0 at %s", a.Commit, a.Tag, a.Ref, want)
	}

	newer := tag("v1.4.0", true)
	if a := fetch(t, dir, opts); a.Commit != newer || a.Tag != "v1.4.0" {
		t.Fatalf("after tagging v1.4.0 got %s (%s), want %s", a.Tag, a.Commit, newer)
	}

	// A tag deleted upstream stops matching.
	o.git("tag", "-d", "v1.4.0")
	if a := fetch(t, dir, opts); a.Tag != "1.3.0" {
		t.Fatalf("after deleting v1.4.0 got %s, want 1.3.0", a.Tag)
	}

	_, err := fetchErr(dir, source.Options{URL: o.url(), Ref: source.Ref{SemVer: ">=3.0.0"}})
	if !errors.Is(err, source.ErrRefNotFound) {
		t.Fatalf("empty range: got %v, want ErrRefNotFound", err)
	}
}

func TestFetchPinnedCommit(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	pinned := o.commitN(1)
	o.commitN(1)
	o.git("checkout", "-q", "-b", "feature")
	onBranch := o.commitN(1)
	o.git("checkout", "-q", "main")
	dir := t.TempDir()

	for _, want := range []string{pinned, onBranch} {
		a := fetch(t, dir, source.Options{URL: o.url(), Ref: source.Ref{Commit: want}})
		if a.Commit != want || a.Ref != want || a.Tag != "" {
			t.Errorf("pinned %s: got commit %s ref %q tag %q", want, a.Commit, a.Ref, a.Tag)
		}
	}

	missing := "0123456789abcdef0123456789abcdef01234567"
	_, err := fetchErr(dir, source.Options{URL: o.url(), Ref: source.Ref{Commit: missing}})
	if !errors.Is(err, source.ErrRefNotFound) {
		t.Fatalf("unknown commit: got %v, want ErrRefNotFound", err)
	}
}

func TestFetchMissingBranch(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.commitN(1)
	_, err := fetchErr(t.TempDir(), source.Options{URL: o.url(), Ref: source.Ref{Branch: "nope"}})
	if !errors.Is(err, source.ErrRefNotFound) {
		t.Fatalf("got %v, want ErrRefNotFound", err)
	}
	t.Log(err)
}

func TestFetchShallowThenFull(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.commitN(3)
	tip := o.commitN(1)
	parent := o.git("rev-parse", "HEAD~1")
	opts, dir := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}, Depth: 1}, t.TempDir()

	a := fetch(t, dir, opts)
	if a.Commit != tip {
		t.Fatalf("got %s, want %s", a.Commit, tip)
	}
	if shallow, _ := a.Repo.Storer.Shallow(); len(shallow) == 0 {
		t.Fatal("depth 1 did not make a shallow cache")
	}
	if _, err := a.Repo.CommitObject(plumbing.NewHash(parent)); err == nil {
		t.Fatal("depth 1 fetched the tip's parent")
	}

	newTip := o.commitN(1)
	if a := fetch(t, dir, opts); a.Commit != newTip {
		t.Fatalf("shallow refetch got %s, want %s", a.Commit, newTip)
	}

	opts.Depth = 0
	a = fetch(t, dir, opts)
	if shallow, _ := a.Repo.Storer.Shallow(); len(shallow) != 0 {
		t.Fatalf("depth 0 left a shallow cache: %v", shallow)
	}
	n := 0
	iter, err := a.Repo.Log(&git.LogOptions{From: plumbing.NewHash(a.Commit)})
	if err != nil {
		t.Fatal(err)
	}
	_ = iter.ForEach(func(*object.Commit) error { n++; return nil })
	if n != 5 {
		t.Fatalf("full history has %d commits, want 5", n)
	}

	// Back to shallow on a full cache: more history than asked for is harmless.
	opts.Depth = 1
	latest := o.commitN(1)
	if a := fetch(t, dir, opts); a.Commit != latest {
		t.Fatalf("depth 1 on a full cache got %s, want %s", a.Commit, latest)
	}
}

func TestFetchStartsOverFromABrokenCache(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	want := o.commitN(1)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "repo"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A cache whose HEAD is garbage, as an interrupted first clone on a full disk might leave.
	if err := os.WriteFile(filepath.Join(dir, "repo", "HEAD"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "repo", "config"), []byte("[core\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if a := fetch(t, dir, source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}); a.Commit != want {
		t.Fatalf("got %s, want %s", a.Commit, want)
	}
}

func TestFetchConcurrentCallsOnOneDir(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	want := o.commitN(2)
	opts, dir := source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}}, t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			a, err := fetchErr(dir, opts)
			if err == nil && a.Commit != want {
				err = errors.New("wrong commit " + a.Commit)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestFetchHonoursCancelledContext(t *testing.T) {
	t.Parallel()
	o := newOrigin(t)
	o.commitN(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := fetchCtx(ctx, t.TempDir(), source.Options{URL: o.url(), Ref: source.Ref{Branch: "main"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
