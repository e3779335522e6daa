package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	provenancev1 "writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/reconcile"
	reconcilev1 "writ.dev/writ/reconcile/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
	"writ.dev/writ/test/harness"
)

// TestUnverifiedHeadsNeverReachTheDisk: an unsigned head and one signed by an untrusted key are
// fetched and refused, and neither is ever written out as files, although a sync of the source
// runs all the while; the verified commit is the only checkout, and it stays.
func TestUnverifiedHeadsNeverReachTheDisk(t *testing.T) {
	harness.Require(t, env)
	ctx := context.Background()
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	mallory := fixtures.SSHKey(t, "Mallory", "mallory@example.com", "ed25519")
	repo := fixtures.NewRepo(t)
	first := repo.Commit(alice, "first", map[string]string{"apps/a.yaml": cmYAML("a", "1")})
	rec := start(t)
	const ns = "cache-disk"
	for _, n := range []string{ns, "shop"} {
		if err := env.EnsureNamespace(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	fast := &metav1.Duration{Duration: time.Second}
	for _, o := range []client.Object{
		&provenancev1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns},
			Spec: provenancev1.TrustPolicySpec{Mode: provenancev1.ModeRange, SSH: &provenancev1.SSHTrust{AllowedSigners: alice.AllowedSigner("")}}},
		&reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: reconcilev1.GitSourceSpec{
			URL: "file://" + repo.Dir, TrustPolicy: ns, Interval: fast}},
		&reconcilev1.Sync{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}, Spec: reconcilev1.SyncSpec{
			SourceRef: reconcilev1.LocalObjectReference{Name: "app"}, Path: "apps", Interval: fast}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	applied := func(commit string) func() (bool, string) {
		return func() (bool, string) {
			var s reconcilev1.Sync
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &s)
			return s.Status.LastAppliedCommit == commit, s.Status.LastAppliedCommit
		}
	}
	refused := func(commit, reason string) func() (bool, string) {
		return func() (bool, string) {
			var g reconcilev1.GitSource
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "app"}, &g)
			c := apimeta.FindStatusCondition(g.Status.Conditions, reconcile.SourceVerified)
			return g.Status.LastFetchedCommit == commit && c != nil && c.Reason == reason && g.Status.LastVerifiedCommit == first, g.Status.Verdict
		}
	}
	eventually(t, "first commit applied", applied(first))

	unsigned := repo.Commit(fixtures.Signer{}, "unsigned", map[string]string{"apps/a.yaml": cmYAML("a", "unsigned")})
	eventually(t, "unsigned head refused", refused(unsigned, "Unsigned"))
	repo.Git("reset", "-q", "--hard", first)
	untrusted := repo.Commit(mallory, "mallory", map[string]string{"apps/a.yaml": cmYAML("a", "mallory")})
	eventually(t, "untrusted head refused", refused(untrusted, "UnknownKey"))
	time.Sleep(2 * time.Second) // more fetches of the refused head, and more drift checks of the sync

	trees := filepath.Join(rec.cache, ns, "app", "trees")
	entries, err := os.ReadDir(trees)
	if err != nil {
		t.Fatalf("no checkout of the verified commit: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{first}) {
		t.Fatalf("checkouts %v, want only the verified %s", names, first)
	}
	// Nowhere in the cache is a refused commit's tree or a file with its content.
	err = filepath.WalkDir(rec.cache, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == unsigned || d.Name() == untrusted {
			t.Errorf("a refused commit was checked out: %s", p)
		}
		if d.Type().IsRegular() && !strings.Contains(p, string(filepath.Separator)+"repo"+string(filepath.Separator)) {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), "unsigned") || strings.Contains(string(b), "mallory") {
				t.Errorf("%s holds a refused commit's content", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Deleting the GitSource removes its cache: nothing of it stays on disk, although its sync
	// is still there.
	if err := env.Client.Delete(ctx, &reconcilev1.GitSource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted source's cache removed", func() (bool, string) {
		_, err := os.Stat(filepath.Join(rec.cache, ns, "app"))
		return errors.Is(err, fs.ErrNotExist), fmt.Sprint(err)
	})
}
