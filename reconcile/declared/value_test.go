package declared_test

import "testing"

// TestDeclaredAt: every path Diff returns leads back to the manifest's own value there (its
// spelling, compact JSON), keys with dots and named elements included; a path the manifest does
// not declare is refused.
func TestDeclaredAt(t *testing.T) {
	f := compile(t, gitDeployment)
	for _, tc := range []struct {
		path, want string
	}{
		{".spec.template.spec.containers[name=web].image", `"nginx:1.27"`},
		{".spec.template.spec.containers[name=web].args[1]", `"8080"`},
		{".spec.template.spec.containers[name=web].resources.limits.cpu", `"1000m"`},
		{".spec.template.spec.containers[name=web].resources.limits", `{"cpu":"1000m","memory":"128Mi"}`},
		{".spec.template.spec.hostNetwork", `false`},
		{".metadata.labels.writ.dev/managed", `"writ-system.shop"`},
		{".metadata.labels", `{"writ.dev/managed":"writ-system.shop"}`},
		{".spec.template.spec.containers[name=web].args", `["--port","8080"]`},
		{".spec.selector", `{"matchLabels":{"app":"web"}}`},
	} {
		got, ok := f.DeclaredAt(tc.path)
		if !ok || got != tc.want {
			t.Errorf("DeclaredAt(%q) = %s, %v; want %s", tc.path, got, ok, tc.want)
		}
	}
	for _, path := range []string{"", ".spec.replicas", ".spec.template.spec.containers[name=sidecar]", ".metadata.labels.writ",
		".spec.template.spec.containers[name=web].args[2]", ".spec.template.spec.containers[0]", ".metadata.creationTimestamp", ".spec.selectorx"} {
		if got, ok := f.DeclaredAt(path); ok {
			t.Errorf("DeclaredAt(%q) = %s, want nothing declared", path, got)
		}
	}
	n := compile(t, "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, ratio: 0.25, enabled: true, list: [1, null, x]}")
	for path, want := range map[string]string{".spec.size": `3`, ".spec.ratio": `0.25`, ".spec.enabled": `true`, ".spec.list": `[1,null,"x"]`, ".spec.list[2]": `"x"`} {
		if got, ok := n.DeclaredAt(path); !ok || got != want {
			t.Errorf("DeclaredAt(%q) = %s, %v; want %s", path, got, ok, want)
		}
	}
	if got, ok := n.DeclaredAt(".spec.list[1]"); ok {
		t.Errorf("a null element declares nothing, DeclaredAt = %s", got)
	}
	// Every path Diff finds is one DeclaredAt answers.
	for _, p := range f.Diff(obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {template: {spec: {containers: [{name: web, image: x, args: [a]}]}}}").Object) {
		if _, ok := f.DeclaredAt(p); !ok {
			t.Errorf("Diff returned %q, which DeclaredAt does not find", p)
		}
	}
}
