package provenance

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/provenance/gitobj"
	"writ.dev/writ/test/fixtures"
)

// withSignature returns raw (a commit without signature) with sig as its gpgsig header.
func withSignature(raw, sig []byte) []byte {
	head, body, _ := bytes.Cut(raw, []byte("\n\n"))
	lines := strings.Split(strings.TrimRight(string(sig), "\n"), "\n")
	hdr := "gpgsig " + strings.Join(lines, "\n ")
	return []byte(string(head) + "\n" + hdr + "\n\n" + string(body))
}

func payloadOf(t *testing.T, raw []byte) []byte {
	t.Helper()
	c, err := gitobj.ParseCommit(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c.Payload
}

// TestAttacks: each attempt to get an unauthorised commit verified is rejected for the right
// reason, on a real repository with real signatures.
func TestAttacks(t *testing.T) {
	w := newWorld(t)
	r := w.repo
	base := r.Commit(w.alice, "base", map[string]string{"app/a.yaml": "a: 1\n"})
	good := r.Commit(w.alice, "good", map[string]string{"app/a.yaml": "a: 2\n"})
	goodRaw := r.RawObject("commit", good)
	goodPayload := payloadOf(t, goodRaw)
	parsed, _ := gitobj.ParseCommit(goodRaw)
	goodSig := parsed.Signature
	otherRaw := r.RawObject("commit", base)

	spec := w.spec(v1alpha1.ModeHead)
	head := compile(t, spec)

	sshOnly := spec
	sshOnly.OpenPGP = nil

	// Eve: an OpenPGP key whose later self-signature expires it before a signature she made.
	born := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	eve := w.gpg.KeyAt(t, "Eve", "eve@example.com", "ed25519", "never", born)
	eveLate := w.gpg.SignAt(t, eve.Fingerprint, goodPayload, born.AddDate(0, 6, 0))
	eve.PublicKey = w.gpg.SetExpiry(t, eve.Fingerprint, "60d", born.Add(time.Hour))
	withEve := spec
	withEve.OpenPGP = &v1alpha1.OpenPGPTrust{Keys: []string{w.carol.PublicKey, eve.PublicKey}}

	revoked := spec
	revoked.Revocations = []v1alpha1.Revocation{{Fingerprint: w.alice.Fingerprint, From: metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))}}

	windowed := spec
	windowed.SSH = &v1alpha1.SSHTrust{AllowedSigners: w.alice.AllowedSigner(`valid-before="20251231"`) + "\n" + w.bob.AllowedSigner(`valid-after="20300101"`) + "\n"}
	fileOnly := spec
	fileOnly.SSH = &v1alpha1.SSHTrust{AllowedSigners: w.alice.AllowedSigner(`namespaces="file"`) + "\n"}

	bobCommit := r.Commit(w.bob, "bob", map[string]string{"app/b.yaml": "b"})
	unsigned := r.Commit(fixtures.Signer{}, "unsigned", map[string]string{"app/c.yaml": "c"})
	mallorySSH := r.Commit(w.mallory, "mallory ssh", map[string]string{"app/d.yaml": "d"})
	malloryPGP := r.Commit(w.malloryPGP, "mallory gpg", map[string]string{"app/e.yaml": "e"})
	carolPGP := r.Commit(w.carol, "carol gpg", map[string]string{"app/f.yaml": "f"})

	// Two signed branches merged by an unsigned merge commit.
	r.Git("checkout", "-q", "-b", "left", good)
	r.Commit(w.alice, "left", map[string]string{"left": "1"})
	r.Git("checkout", "-q", "-b", "right", good)
	r.Commit(w.bob, "right", map[string]string{"right": "1"})
	unsignedMerge := r.Merge(fixtures.Signer{}, "left", "unsigned merge")
	// An unsigned commit hidden on a branch under a signed merge.
	r.Git("checkout", "-q", "-b", "hidden", good)
	r.Commit(fixtures.Signer{}, "sneaky", map[string]string{"sneaky": "1"})
	r.Git("checkout", "-q", "-b", "cover", good)
	r.Commit(w.alice, "cover", map[string]string{"cover": "1"})
	signedMergeOfHidden := r.Merge(w.alice, "hidden", "merge")
	// An approval-requiring change approved only by a lightweight tag and its own author.
	approvals := spec
	approvals.Approvals = []v1alpha1.ApprovalRule{{Name: "app", Paths: []string{"app/**"}, MinSigners: 2}}
	r.Git("tag", "approve/light", good)
	r.Tag(w.alice, "approve/self", good, "self")
	r.Tag(w.mallory, "v-evil", good, "mallory's tag")

	plant := func(raw []byte) string { return r.WriteRaw("commit", raw) }
	tamper := func(from, to string) string {
		if !bytes.Contains(goodRaw, []byte(from)) {
			t.Fatalf("cannot tamper: %q not in commit", from)
		}
		return plant(bytes.Replace(goodRaw, []byte(from), []byte(to), 1))
	}
	goodTree := "tree " + strings.Fields(string(goodRaw))[1]
	goodParent := "parent " + base

	tests := []struct {
		name   string
		v      *Verifier
		req    Request
		target string
		want   error
	}{
		{"unsigned commit", head, Request{}, unsigned, ErrUnsigned},
		{"unknown SSH key", head, Request{}, mallorySSH, ErrUnknownKey},
		{"unknown OpenPGP key", head, Request{}, malloryPGP, ErrUnknownKey},
		{"trusted OpenPGP signer, policy trusts only SSH", compile(t, sshOnly), Request{}, carolPGP, ErrUnknownKey},
		{"tampered message", head, Request{}, tamper("good", "evil"), ErrBadSignature},
		{"tampered tree", head, Request{}, tamper(goodTree, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904"), ErrBadSignature},
		{"tampered parent", head, Request{}, tamper(goodParent, "parent "+bobCommit), ErrBadSignature},
		{"tampered committer", head, Request{}, tamper("committer Alice <alice@example.com>", "committer Alice <alice@evil.example>"), ErrBadSignature},
		{"signature copied onto another commit", head, Request{}, plant(withSignature(payloadOf(t, otherRaw), goodSig)), ErrBadSignature},
		{"SSH signature for namespace file", head, Request{}, plant(withSignature(goodPayload, fixtures.SSHSign(t, w.alice, "file", goodPayload))), ErrWrongNamespace},
		{"SSH key only allowed for namespace file", compile(t, fileOnly), Request{}, good, ErrUnknownKey},
		{"OpenPGP key expired when it signed", compile(t, withEve), Request{}, plant(withSignature(goodPayload, eveLate)), ErrExpired},
		{"revoked key", compile(t, revoked), Request{}, good, ErrRevoked},
		{"commit after the key's valid-before", compile(t, windowed), Request{}, good, ErrExpired},
		{"commit before the key's valid-after", compile(t, windowed), Request{}, bobCommit, ErrExpired},
		{"rollback to an older signed commit", head, Request{LastVerified: good}, base, ErrRollback},
		{"approval only by the author and a lightweight tag", compile(t, approvals), Request{}, good, ErrNotEnoughApprovals},
		{"unsigned merge of two signed branches", head, Request{}, unsignedMerge, ErrUnsigned},
		{"unsigned commit under a signed merge", compile(t, w.spec(v1alpha1.ModeRange)), Request{Base: good}, signedMergeOfHidden, ErrUnsigned},
		{"duplicate tree header (parser confusion)", head, Request{}, plant(bytes.Replace(goodRaw, []byte(goodTree+"\n"), []byte(goodTree+"\ntree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"), 1)), ErrMalformed},
		{"two signature headers", head, Request{}, plant(withSignature(goodRaw, fixtures.SSHSign(t, w.alice, "git", goodPayload))), ErrMalformed},
		{"garbage signature", head, Request{}, plant(withSignature(goodPayload, []byte("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----"))), ErrMalformed},
		{"unknown signature format", head, Request{}, plant(withSignature(goodPayload, []byte("-----BEGIN SOMETHING-----\nAAAA\n-----END SOMETHING-----"))), ErrUnsupported},
		{"keyless signature when the policy trusts no keyless signer", head, Request{}, plant(withSignature(goodPayload, []byte("-----BEGIN SIGNED MESSAGE-----\nMIAG\n-----END SIGNED MESSAGE-----"))), ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Target = tt.target
			rep := verify(t, tt.v, r.Dir, req)
			if err := rep.Err(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if rep.Verified() {
				t.Fatal("report says verified")
			}
		})
	}
	if len(tests) < 20 {
		t.Fatalf("only %d attacks", len(tests))
	}

	tagMode := spec
	tagMode.Mode = v1alpha1.ModeTag
	if rep := verify(t, compile(t, tagMode), r.Dir, Request{Target: "v-evil"}); !errors.Is(rep.Err(), ErrUnknownKey) {
		t.Fatalf("tag signed by an unknown key: %v", rep.Err())
	}
}
