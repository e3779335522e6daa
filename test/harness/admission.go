package harness

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// writeAdmissionConfig writes the static policies and an AdmissionConfiguration that loads them
// into a new directory, points te's apiserver at it, and returns the directory.
func writeAdmissionConfig(te *envtest.Environment, objs []runtime.Object) (_ string, err error) {
	dir, err := os.MkdirTemp("", "writ-admission-")
	if err != nil {
		return "", err
	}
	defer func() { // the named err: set by every return below
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	manifests := filepath.Join(dir, "static")
	if err := os.Mkdir(manifests, 0o755); err != nil {
		return "", err
	}
	var docs []byte
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return "", fmt.Errorf("static admission policy %T: %w", o, err)
		}
		docs = append(append(docs, "---\n"...), b...)
	}
	if err := os.WriteFile(filepath.Join(manifests, "policies.yaml"), docs, 0o644); err != nil {
		return "", err
	}
	config := fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionPolicy
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: ValidatingAdmissionPolicyConfiguration
    staticManifestsDir: %q
`, manifests)
	path := filepath.Join(dir, "admission.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return "", err
	}
	te.ControlPlane.GetAPIServer().Configure().Set("admission-control-config-file", path)
	return dir, nil
}
