package provenance

import "testing"

// FuzzLoadPolicy: policy files come from users and clusters; loading and compiling any bytes must
// never panic, and a policy that compiles must trust some signer.
func FuzzLoadPolicy(f *testing.F) {
	f.Add([]byte("apiVersion: writ.dev/v1alpha1\nkind: TrustPolicy\nspec:\n  mode: Head\n  ssh:\n    allowedSigners: \"a ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJh+DptM4evPi/xiZgpYt4CVJLW9iLmxVe+JzTFqFkWf\"\n"))
	f.Add([]byte("apiVersion: writ.dev/v1alpha1\nkind: TrustPolicy\nspec:\n  approvals:\n  - name: x\n    paths: ['a/**']\n    minSigners: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tp, err := LoadPolicy(data)
		if err != nil {
			return
		}
		v, err := Compile(tp.Spec)
		if err != nil {
			return
		}
		if len(v.formats) == 0 {
			t.Fatal("a policy trusting no signer compiled")
		}
	})
}
