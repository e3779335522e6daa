package provenance

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"writ.dev/writ/provenance/api/v1alpha1"
)

// TestTagReachedUnderAnotherNameIsAReplay: refs/tags/v2 pointing at the signed tag object of
// v1 deploys an old release under a new name. git verify-tag accepts it (it checks the signature,
// not the name the tag was reached through); Writ rejects it on purpose, since the signed name
// is what the release manager vouched for.
func TestTagReachedUnderAnotherNameIsAReplay(t *testing.T) {
	w := newWorld(t)
	r := w.repo
	old := r.Commit(w.alice, "release 1", map[string]string{"a": "1"})
	r.Tag(w.bob, "v1", old, "release v1")
	cur := r.Commit(w.alice, "release 2", map[string]string{"a": "2"})
	r.Tag(w.bob, "v2-real", cur, "release v2")
	v1Object := r.Git("rev-parse", "refs/tags/v1")
	r.Git("update-ref", "refs/tags/v2", v1Object)

	spec := w.spec(v1alpha1.ModeTag)
	spec.Tag = &v1alpha1.TagOptions{Pattern: "v*"}
	signers := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(signers, []byte(spec.SSH.AllowedSigners), 0o600); err != nil {
		t.Fatal(err)
	}
	// git's verdict: the replayed tag verifies (Git fails the test if it does not).
	r.Git("-c", "gpg.ssh.allowedSignersFile="+signers, "verify-tag", "v2")
	r.Git("-c", "gpg.ssh.allowedSignersFile="+signers, "verify-tag", "v1")

	v := compile(t, spec)
	for _, target := range []string{"v2", "refs/tags/v2"} {
		rep := verify(t, v, r.Dir, Request{Target: target})
		if !errors.Is(rep.Err(), ErrTagName) || rep.Tag == nil || rep.Tag.Verdict != Rejected || rep.Tag.ReasonCode != "TagNameMismatch" {
			t.Fatalf("%s (the tag object of v1) accepted: %+v %v", target, rep.Tag, rep.Err())
		}
	}
	// Under its own name the same tag object verifies.
	for _, target := range []string{"v1", "refs/tags/v1"} {
		if rep := verify(t, v, r.Dir, Request{Target: target}); rep.Err() != nil || rep.Target != old {
			t.Fatalf("%s: %v (target %s)", target, rep.Err(), rep.Target)
		}
	}
	// Named by its hash there is no ref name to compare: the caller pinned the object itself.
	if rep := verify(t, v, r.Dir, Request{Target: v1Object}); rep.Err() != nil {
		t.Fatalf("the tag object by hash: %v", rep.Err())
	}
}

// TestApprovalTagUnderAnotherNameApprovesNothing: a signed tag made for another purpose (a
// release) and served under an approval ref is not an approval; the name the tag signs must
// match the rule's pattern and be the ref it is reached through.
func TestApprovalTagUnderAnotherNameApprovesNothing(t *testing.T) {
	w := newWorld(t)
	r := w.repo
	c := r.Commit(w.alice, "prod change", map[string]string{"clusters/prod/a.yaml": "a"})
	r.Tag(w.carol, "release/2026-01", c, "release notes, not an approval")
	r.Git("update-ref", "refs/tags/approve/carol", r.Git("rev-parse", "refs/tags/release/2026-01"))
	spec := w.spec(v1alpha1.ModeHead)
	spec.Approvals = []v1alpha1.ApprovalRule{{Name: "prod", Paths: []string{"clusters/prod/**"}, MinSigners: 2}}
	if rep := verify(t, compile(t, spec), r.Dir, Request{Target: "main"}); !errors.Is(rep.Err(), ErrNotEnoughApprovals) {
		t.Fatalf("a release tag served as approve/carol approved the commit: %v", rep.Err())
	}
	// An approval tag of its own name counts.
	r.Tag(w.carol, "approve/carol-real", c, "LGTM")
	if rep := verify(t, compile(t, spec), r.Dir, Request{Target: "main"}); rep.Err() != nil {
		t.Fatalf("a real approval: %v", rep.Err())
	}
}
