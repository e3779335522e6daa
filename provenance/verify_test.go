package provenance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

// world is a repository with SSH and OpenPGP signers and a policy trusting Alice (SSH), Bob
// (SSH) and Carol (OpenPGP), but not Mallory.
type world struct {
	repo                       *fixtures.Repo
	alice, bob, carol, mallory fixtures.Signer
	malloryPGP                 fixtures.Signer
	gpg                        *fixtures.GPG
}

func newWorld(t *testing.T) *world {
	t.Helper()
	g := fixtures.NewGPG(t)
	w := &world{
		repo:       fixtures.NewRepo(t),
		alice:      fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519"),
		bob:        fixtures.SSHKey(t, "Bob", "bob@example.com", "ecdsa"),
		mallory:    fixtures.SSHKey(t, "Mallory", "mallory@example.com", "ed25519"),
		carol:      g.Key(t, "Carol", "carol@example.com", "rsa2048", "never"),
		malloryPGP: g.Key(t, "Mallory", "mallory@example.com", "ed25519", "never"),
		gpg:        g,
	}
	return w
}

func (w *world) spec(mode v1alpha1.VerificationMode) v1alpha1.TrustPolicySpec {
	return v1alpha1.TrustPolicySpec{
		Mode:    mode,
		SSH:     &v1alpha1.SSHTrust{AllowedSigners: w.alice.AllowedSigner(`namespaces="git"`) + "\n" + w.bob.AllowedSigner("") + "\n"},
		OpenPGP: &v1alpha1.OpenPGPTrust{Keys: []string{w.carol.PublicKey}},
	}
}

func compile(t *testing.T, spec v1alpha1.TrustPolicySpec) *Verifier {
	t.Helper()
	v, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func verify(t *testing.T, v *Verifier, dir string, req Request) *Report {
	t.Helper()
	repo, err := OpenRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := v.Verify(context.Background(), repo, req)
	if err != nil {
		t.Fatalf("Verify(%+v): %v", req, err)
	}
	return rep
}

func TestRangeVerifiesEveryNewCommit(t *testing.T) {
	w := newWorld(t)
	r := w.repo
	c1 := r.Commit(w.alice, "one", map[string]string{"a.yaml": "a: 1\n"})
	c2 := r.Commit(w.carol, "two", map[string]string{"b.yaml": "b: 1\n"})
	r.Git("checkout", "-q", "-b", "feature")
	f1 := r.Commit(w.bob, "feature", map[string]string{"c.yaml": "c: 1\n"})
	r.Git("checkout", "-q", "main")
	c3 := r.Commit(w.alice, "three", map[string]string{"a.yaml": "a: 2\n"})
	m := r.Merge(w.carol, "feature", "merge feature")

	v := compile(t, w.spec(v1alpha1.ModeRange))
	rep := verify(t, v, r.Dir, Request{Target: "main"})
	if err := rep.Err(); err != nil {
		t.Fatalf("signed history rejected: %v", err)
	}
	got := map[string]Result{}
	for _, c := range rep.Commits {
		got[c.Commit] = c
	}
	for h, who := range map[string]fixtures.Signer{c1: w.alice, c2: w.carol, f1: w.bob, c3: w.alice, m: w.carol} {
		if got[h].Fingerprint != who.Fingerprint {
			t.Errorf("commit %s: signer %q, want %s's %q", h[:8], got[h].Fingerprint, who.Name, who.Fingerprint)
		}
	}
	if len(rep.Commits) != 5 || rep.Target != m {
		t.Fatalf("verified %d commits up to %s", len(rep.Commits), rep.Target)
	}

	// From the last verified commit, only new commits are walked, including the merged branch's.
	rep = verify(t, v, r.Dir, Request{Target: "main", LastVerified: c2})
	if len(rep.Commits) != 3 || rep.Err() != nil {
		t.Fatalf("after %s: %d commits, err %v", c2[:8], len(rep.Commits), rep.Err())
	}
	rep = verify(t, v, r.Dir, Request{Target: "main", Base: c3})
	if len(rep.Commits) != 2 { // the merge and the feature commit
		t.Fatalf("after %s: %d commits", c3[:8], len(rep.Commits))
	}
}

func TestHeadModeChecksOnlyTheTarget(t *testing.T) {
	w := newWorld(t)
	w.repo.Commit(fixtures.Signer{}, "unsigned base", map[string]string{"a": "1"})
	head := w.repo.Commit(w.alice, "signed", map[string]string{"a": "2"})
	rep := verify(t, compile(t, w.spec(v1alpha1.ModeHead)), w.repo.Dir, Request{Target: "HEAD"})
	if rep.Err() != nil || len(rep.Commits) != 1 || rep.Commits[0].Commit != head {
		t.Fatalf("head mode: %+v %v", rep.Commits, rep.Err())
	}
	// The same history fails in Range mode because of the unsigned base.
	rep = verify(t, compile(t, w.spec(v1alpha1.ModeRange)), w.repo.Dir, Request{Target: "HEAD"})
	if !errors.Is(rep.Err(), ErrUnsigned) {
		t.Fatalf("range mode accepted an unsigned ancestor: %v", rep.Err())
	}
}

func TestTagMode(t *testing.T) {
	w := newWorld(t)
	c := w.repo.Commit(w.alice, "release", map[string]string{"a": "1"})
	w.repo.Tag(w.bob, "v1.0.0", c, "release 1.0.0")
	w.repo.Tag(fixtures.Signer{}, "v1.0.1", c, "unsigned")
	w.repo.Tag(w.bob, "nightly", c, "not a release")
	spec := w.spec(v1alpha1.ModeTag)
	spec.Tag = &v1alpha1.TagOptions{Pattern: "v*"}
	v := compile(t, spec)
	rep := verify(t, v, w.repo.Dir, Request{Target: "v1.0.0"})
	if rep.Err() != nil || rep.Tag == nil || rep.Tag.Fingerprint != w.bob.Fingerprint || rep.Target != c {
		t.Fatalf("signed tag: %+v %v", rep.Tag, rep.Err())
	}
	if rep := verify(t, v, w.repo.Dir, Request{Target: "v1.0.1"}); !errors.Is(rep.Err(), ErrUnsigned) {
		t.Fatalf("unsigned tag: %v", rep.Err())
	}
	if rep := verify(t, v, w.repo.Dir, Request{Target: "nightly"}); !errors.Is(rep.Err(), ErrTagPattern) {
		t.Fatalf("tag outside pattern: %v", rep.Err())
	}
}

func TestApprovals(t *testing.T) {
	w := newWorld(t)
	r := w.repo
	base := r.Commit(w.alice, "base", map[string]string{"clusters/dev/a.yaml": "a", "clusters/prod/a.yaml": "a"})
	dev := r.Commit(w.alice, "dev change", map[string]string{"clusters/dev/a.yaml": "b"})
	prod := r.Commit(w.alice, "prod change", map[string]string{"clusters/prod/a.yaml": "b"})
	spec := w.spec(v1alpha1.ModeRange)
	spec.Approvals = []v1alpha1.ApprovalRule{{Name: "prod", Paths: []string{"clusters/prod/**"}, MinSigners: 2}}

	// Alice approving her own commit does not count twice; an unsigned tag and Mallory's count
	// for nothing.
	r.Tag(w.alice, "approve/alice", prod, "self-approval")
	r.Tag(fixtures.Signer{}, "approve/anon", prod, "unsigned")
	r.Tag(w.mallory, "approve/mallory", prod, "untrusted")
	rep := verify(t, compile(t, spec), r.Dir, Request{Target: "main", Base: dev})
	if !errors.Is(rep.Err(), ErrNotEnoughApprovals) {
		t.Fatalf("self-approved prod change accepted: %v", rep.Err())
	}

	// Carol's signed approval makes two distinct signers.
	r.Tag(w.carol, "approve/carol", prod, "LGTM")
	rep = verify(t, compile(t, spec), r.Dir, Request{Target: "main", Base: dev})
	if err := rep.Err(); err != nil {
		t.Fatalf("approved change rejected: %v", err)
	}
	if a := rep.Commits[0].Approvals; len(a) != 1 || a[0].Fingerprint != w.carol.Fingerprint {
		t.Fatalf("approvals %+v", a)
	}
	// The dev change needs no approval; the root commit, which created the prod files, does.
	rep = verify(t, compile(t, spec), r.Dir, Request{Target: dev, Base: base})
	if rep.Err() != nil {
		t.Fatalf("dev change: %v", rep.Err())
	}
	rep = verify(t, compile(t, spec), r.Dir, Request{Target: dev})
	if f := rep.Failures(); len(f) != 1 || f[0].Commit != base || !errors.Is(f[0].Err(), ErrNotEnoughApprovals) {
		t.Fatalf("unapproved root commit creating prod files: %+v", f)
	}
}

func TestRollbackProtection(t *testing.T) {
	w := newWorld(t)
	old := w.repo.Commit(w.alice, "v1", map[string]string{"a": "1"})
	cur := w.repo.Commit(w.alice, "v2", map[string]string{"a": "2"})
	v := compile(t, w.spec(v1alpha1.ModeRange))
	rep := verify(t, v, w.repo.Dir, Request{Target: old, LastVerified: cur})
	if !errors.Is(rep.Err(), ErrRollback) {
		t.Fatalf("rollback accepted: %v", rep.Err())
	}
	spec := w.spec(v1alpha1.ModeRange)
	spec.Rollback.Allow = true
	if rep := verify(t, compile(t, spec), w.repo.Dir, Request{Target: old, LastVerified: cur, Base: ""}); errors.Is(rep.Err(), ErrRollback) {
		t.Fatalf("rollback refused although allowed: %v", rep.Err())
	}
	if rep := verify(t, v, w.repo.Dir, Request{Target: cur, LastVerified: cur}); rep.Err() != nil || len(rep.Commits) != 0 {
		t.Fatalf("re-verifying the same target: %d commits, %v", len(rep.Commits), rep.Err())
	}
}

func TestRevocation(t *testing.T) {
	w := newWorld(t)
	w.repo.SetClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	before := w.repo.Commit(w.alice, "before", map[string]string{"a": "1"})
	w.repo.SetClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	after := w.repo.Commit(w.alice, "after", map[string]string{"a": "2"})
	spec := w.spec(v1alpha1.ModeHead)
	spec.Revocations = []v1alpha1.Revocation{{Fingerprint: w.alice.Fingerprint, From: metav1.NewTime(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)), Reason: "laptop stolen"}}
	v := compile(t, spec)
	if rep := verify(t, v, w.repo.Dir, Request{Target: before}); rep.Err() != nil {
		t.Fatalf("commit signed before the revocation: %v", rep.Err())
	}
	rep := verify(t, v, w.repo.Dir, Request{Target: after})
	if !errors.Is(rep.Err(), ErrRevoked) || !strings.Contains(rep.Err().Error(), "laptop stolen") {
		t.Fatalf("commit signed after the revocation: %v", rep.Err())
	}
}

func TestCacheNeverTurnsFailureIntoSuccess(t *testing.T) {
	w := newWorld(t)
	bad := w.repo.Commit(w.mallory, "mallory", map[string]string{"a": "1"})
	v := compile(t, w.spec(v1alpha1.ModeHead))
	for i := 0; i < 2; i++ {
		if rep := verify(t, v, w.repo.Dir, Request{Target: bad}); !errors.Is(rep.Err(), ErrUnknownKey) {
			t.Fatalf("run %d: %v", i, rep.Err())
		}
	}
	good := w.repo.Commit(w.alice, "alice", map[string]string{"a": "2"})
	verify(t, v, w.repo.Dir, Request{Target: good})
	if _, ok := v.cache.Load(bad); ok {
		t.Fatal("a failure was cached")
	}
	if _, ok := v.cache.Load(good); !ok {
		t.Fatal("a success was not cached")
	}
}

func TestVerifyErrors(t *testing.T) {
	w := newWorld(t)
	w.repo.Commit(w.alice, "one", nil)
	v := compile(t, w.spec(v1alpha1.ModeRange))
	repo, err := OpenRepository(w.repo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []Request{{}, {Target: "no-such-branch"}, {Target: "main", Base: "nope"}, {Target: "main", LastVerified: "deadbeef"}} {
		if _, err := v.Verify(context.Background(), repo, req); !errors.Is(err, ErrRevision) {
			t.Errorf("%+v: err %v, want ErrRevision", req, err)
		}
	}
	if _, err := OpenRepository(t.TempDir()); err == nil {
		t.Error("opened a directory that is no repository")
	}
}
