package provenance

import (
	"errors"
	"strings"
	"testing"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/test/fixtures"
)

// TestApprovalsCountPrincipalsNotKeys: two keys of one person are one approver, whether the
// person is known by the e-mail address their keys name (SSH and OpenPGP, across formats) or by
// an explicit spec.principals entry, and a second person's approval still counts.
func TestApprovalsCountPrincipalsNotKeys(t *testing.T) {
	g := fixtures.NewGPG(t)
	alice1 := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	alice2 := fixtures.SSHKey(t, "Alice", "alice@example.com", "ecdsa") // her second laptop
	alicePGP := g.Key(t, "Alice Example", "Alice@Example.com", "ed25519", "never")
	carol1 := g.Key(t, "Carol", "carol@example.com", "ed25519", "never")
	carol2 := g.Key(t, "Carol (work)", "carol@example.com", "ed25519", "never")
	dave1 := fixtures.SSHKey(t, "Dave", "dave@example.com", "ed25519")
	dave2 := fixtures.SSHKey(t, "Dave", "d.ops@corp.example", "ed25519") // another address
	bob := fixtures.SSHKey(t, "Bob", "bob@example.com", "ed25519")

	spec := v1alpha1.TrustPolicySpec{
		Mode: v1alpha1.ModeHead,
		SSH: &v1alpha1.SSHTrust{AllowedSigners: strings.Join([]string{alice1.AllowedSigner(""), alice2.AllowedSigner(""),
			dave1.AllowedSigner(""), dave2.AllowedSigner(""), bob.AllowedSigner("")}, "\n")},
		OpenPGP:   &v1alpha1.OpenPGPTrust{Keys: []string{alicePGP.PublicKey, carol1.PublicKey, carol2.PublicKey}},
		Approvals: []v1alpha1.ApprovalRule{{Name: "prod", Paths: []string{"prod/**"}, MinSigners: 2}},
	}
	withDave := spec
	withDave.Principals = []v1alpha1.Principal{{Name: "dave", Fingerprints: []string{dave1.Fingerprint, dave2.Fingerprint}}}

	tests := []struct {
		name             string
		spec             v1alpha1.TrustPolicySpec
		signer, approver fixtures.Signer
		principals       int
	}{
		{"two SSH keys of one address", spec, alice1, alice2, 1},
		{"an SSH and an OpenPGP key of one address (case differs)", spec, alice1, alicePGP, 1},
		{"two OpenPGP keys whose user ids share an address", spec, carol1, carol2, 1},
		{"two keys of different addresses, no principals listed", spec, dave1, dave2, 2},
		{"two keys listed under one principal", withDave, dave1, dave2, 1},
		{"two people", withDave, alice1, bob, 2},
		{"a principal and another person", withDave, dave2, carol1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixtures.NewRepo(t)
			c := r.Commit(tt.signer, "prod change", map[string]string{"prod/a.yaml": "a: 1\n"})
			r.Tag(tt.approver, "approve/second-key", c, "LGTM")
			rep := verify(t, compile(t, tt.spec), r.Dir, Request{Target: "main"})
			if tt.principals < 2 {
				if !errors.Is(rep.Err(), ErrNotEnoughApprovals) {
					t.Fatalf("a second key of the same principal approved the commit: %v", rep.Err())
				}
				if !strings.Contains(rep.Err().Error(), "found 1 (") {
					t.Errorf("the message does not count one principal: %v", rep.Err())
				}
				if a := rep.Commits[0].Approvals; len(a) != 0 {
					t.Errorf("the signer's own second key is listed as an approver: %+v", a)
				}
				return
			}
			if err := rep.Err(); err != nil {
				t.Fatalf("two principals rejected: %v", err)
			}
			if a := rep.Commits[0].Approvals; len(a) != 1 || a[0].Fingerprint != tt.approver.Fingerprint {
				t.Fatalf("approvals %+v, want the approver's key %s", a, tt.approver.Fingerprint)
			}
		})
	}

	// A third key of the same person adds nothing either, while a second person completes a
	// 2-of-M rule that a person with three keys could not.
	r := fixtures.NewRepo(t)
	c := r.Commit(alice1, "prod change", map[string]string{"prod/a.yaml": "a: 2\n"})
	r.Tag(alice2, "approve/alice-laptop", c, "LGTM")
	r.Tag(alicePGP, "approve/alice-gpg", c, "LGTM")
	three := spec
	three.Approvals = []v1alpha1.ApprovalRule{{Name: "prod", Paths: []string{"prod/**"}, MinSigners: 2}}
	if rep := verify(t, compile(t, three), r.Dir, Request{Target: "main"}); !errors.Is(rep.Err(), ErrNotEnoughApprovals) {
		t.Fatalf("three keys of one person approved: %v", rep.Err())
	}
	r.Tag(bob, "approve/bob", c, "LGTM")
	rep := verify(t, compile(t, three), r.Dir, Request{Target: "main"})
	if err := rep.Err(); err != nil {
		t.Fatalf("approved by a second person: %v", err)
	}
	if a := rep.Commits[0].Approvals; len(a) != 1 || a[0].Fingerprint != bob.Fingerprint {
		t.Fatalf("approvals %+v, want bob alone", a)
	}
}

func TestPrincipalsAreValidated(t *testing.T) {
	ssh := &v1alpha1.SSHTrust{AllowedSigners: "alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh+DptM4evPi/xiZgpYt4CVJLW9iLmxVe+JzTFqFkWf"}
	fp := "SHA256:xX6bpr+AeF5G0wIvU8nLisgYRM6XjQVNJs3hkMGt+T0"
	tests := []struct {
		name       string
		principals []v1alpha1.Principal
		want       string
	}{
		{"no name", []v1alpha1.Principal{{Fingerprints: []string{fp}}}, "spec.principals[0].name"},
		{"no keys", []v1alpha1.Principal{{Name: "alice"}}, "spec.principals[0].fingerprints"},
		{"one name twice", []v1alpha1.Principal{{Name: "a", Fingerprints: []string{fp}}, {Name: "a", Fingerprints: []string{"ABCD"}}}, "spec.principals[1].name"},
		{"one key, two holders", []v1alpha1.Principal{{Name: "a", Fingerprints: []string{"abcd ef"}}, {Name: "b", Fingerprints: []string{"ABCDEF"}}}, "spec.principals[1].fingerprints[0]"},
	}
	for _, tt := range tests {
		_, err := Compile(v1alpha1.TrustPolicySpec{SSH: ssh, Principals: tt.principals})
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalidPolicy naming %q", tt.name, err, tt.want)
		}
	}
}

func TestEmailOf(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com":                 "alice@example.com",
		"Alice <Alice@Example.com>":         "alice@example.com",
		"Alice (work) <alice@example.com>":  "alice@example.com",
		"alice <alice@example.com> (old)":   "alice@example.com",
		"Ops, Team <OPS@example.com>":       "ops@example.com",
		"*@example.com":                     "",
		"Lorenz Leutgeb":                    "",
		"https://github.com/x/y/.github/wf": "",
		"":                                  "",
	} {
		if got := emailOf(in); got != want {
			t.Errorf("emailOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPrincipalsWarnOnFingerprintsThatMatchNoKey: an entry that names no trusted key groups
// nothing, and the policy says so.
func TestPrincipalsWarnOnFingerprintsThatMatchNoKey(t *testing.T) {
	g := fixtures.NewGPG(t)
	alice := fixtures.SSHKey(t, "Alice", "alice@example.com", "ed25519")
	carol := g.Key(t, "Carol", "carol@example.com", "ed25519", "never")
	v := compile(t, v1alpha1.TrustPolicySpec{
		SSH:        &v1alpha1.SSHTrust{AllowedSigners: alice.AllowedSigner("")},
		OpenPGP:    &v1alpha1.OpenPGPTrust{Keys: []string{carol.PublicKey}},
		Principals: []v1alpha1.Principal{{Name: "alice", Fingerprints: []string{alice.Fingerprint, strings.ToLower(carol.Fingerprint), "SHA256:typo", carol.Fingerprint[24:]}}},
	})
	w := strings.Join(v.Warnings(), "\n")
	for _, want := range []string{"spec.principals[0].fingerprints[2]: SHA256:typo", "spec.principals[0].fingerprints[3]"} {
		if !strings.Contains(w, want) {
			t.Errorf("no warning %q in %q", want, w)
		}
	}
	for _, fine := range []string{"fingerprints[0]", "fingerprints[1]"} {
		if strings.Contains(w, fine) {
			t.Errorf("a warning about a trusted key's fingerprint (%s): %q", fine, w)
		}
	}
}
