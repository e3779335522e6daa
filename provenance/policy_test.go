package provenance

import (
	"errors"
	"strings"
	"testing"

	"writ.dev/writ/provenance/api/v1alpha1"
)

func TestCompileRejectsInvalidPolicies(t *testing.T) {
	ssh := &v1alpha1.SSHTrust{AllowedSigners: "alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh+DptM4evPi/xiZgpYt4CVJLW9iLmxVe+JzTFqFkWf"}
	tests := []struct {
		name string
		spec v1alpha1.TrustPolicySpec
		want string // the field path the message must name
	}{
		{"trusts nothing", v1alpha1.TrustPolicySpec{}, "at least one of openpgp, ssh and keyless"},
		{"bad mode", v1alpha1.TrustPolicySpec{Mode: "Latest", SSH: ssh}, "spec.mode"},
		{"bad key", v1alpha1.TrustPolicySpec{OpenPGP: &v1alpha1.OpenPGPTrust{Keys: []string{"nope"}}}, "spec.openpgp.keys"},
		{"bad allowed signers", v1alpha1.TrustPolicySpec{SSH: &v1alpha1.SSHTrust{AllowedSigners: "alice ssh-ed25519 !!!"}}, "spec.ssh.allowedSigners"},
		{"approval without paths", v1alpha1.TrustPolicySpec{SSH: ssh, Approvals: []v1alpha1.ApprovalRule{{Name: "a", MinSigners: 2}}}, "spec.approvals[0].paths"},
		{"one-person rule", v1alpha1.TrustPolicySpec{SSH: ssh, Approvals: []v1alpha1.ApprovalRule{{Name: "a", Paths: []string{"x/**"}, MinSigners: 1}}}, "spec.approvals[0].minSigners"},
		{"bad path glob", v1alpha1.TrustPolicySpec{SSH: ssh, Approvals: []v1alpha1.ApprovalRule{{Name: "a", Paths: []string{"x/[**"}, MinSigners: 2}}}, "spec.approvals[0].paths[0]"},
		{"duplicate rule", v1alpha1.TrustPolicySpec{SSH: ssh, Approvals: []v1alpha1.ApprovalRule{{Name: "a", Paths: []string{"x"}, MinSigners: 2}, {Name: "a", Paths: []string{"y"}, MinSigners: 2}}}, "spec.approvals[1].name"},
		{"bad tag pattern", v1alpha1.TrustPolicySpec{SSH: ssh, Tag: &v1alpha1.TagOptions{Pattern: "v["}}, "spec.tag.pattern"},
		{"revocation of nothing", v1alpha1.TrustPolicySpec{SSH: ssh, Revocations: []v1alpha1.Revocation{{}}}, "spec.revocations[0]"},
		{"revocation identity regexp", v1alpha1.TrustPolicySpec{SSH: ssh, Revocations: []v1alpha1.Revocation{{Identity: &v1alpha1.KeylessIdentity{Issuer: "x", SubjectRegExp: "("}}}}, "spec.revocations[0].identity.subjectRegExp"},
	}
	for _, tt := range tests {
		_, err := Compile(tt.spec)
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalidPolicy naming %q", tt.name, err, tt.want)
		}
	}
}

func TestLoadPolicyAcceptsKubectlOutput(t *testing.T) {
	// What `kubectl get trustpolicy prod -o yaml` prints, unchanged.
	const kubectl = `apiVersion: writ.dev/v1alpha1
kind: TrustPolicy
metadata:
  creationTimestamp: "2026-11-20T10:00:00Z"
  generation: 1
  managedFields:
  - apiVersion: writ.dev/v1alpha1
    fieldsType: FieldsV1
    fieldsV1:
      f:spec:
        f:mode: {}
    manager: kubectl
    operation: Apply
    time: "2026-11-20T10:00:00Z"
  name: prod
  resourceVersion: "1234"
  uid: 0b7c3a8e-5a43-4d8e-9f35-6c3d1b0a9c11
spec:
  mode: Range
  ssh:
    allowedSigners: |
      alice@example.com namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh+DptM4evPi/xiZgpYt4CVJLW9iLmxVe+JzTFqFkWf
  rollback: {}
status:
  conditions:
  - lastTransitionTime: "2026-11-20T10:00:01Z"
    message: compiled
    reason: Compiled
    status: "True"
    type: Ready
  observedGeneration: 1
`
	tp, err := LoadPolicy([]byte(kubectl))
	if err != nil {
		t.Fatal(err)
	}
	if tp.Name != "prod" || tp.Spec.Mode != v1alpha1.ModeRange {
		t.Fatalf("%+v", tp)
	}
	if _, err := Compile(tp.Spec); err != nil {
		t.Fatal(err)
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"wrong kind":    "apiVersion: writ.dev/v1alpha1\nkind: GuardPolicy\nspec: {}\n",
		"wrong version": "apiVersion: writ.dev/v1\nkind: TrustPolicy\n",
		"unknown field": "apiVersion: writ.dev/v1alpha1\nkind: TrustPolicy\nspec:\n  sshh: {}\n",
		"not yaml":      "{{{",
	} {
		if _, err := LoadPolicy([]byte(doc)); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
