package render_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"writ.dev/writ/reconcile/render"
)

func ExampleRender() {
	root, _ := os.MkdirTemp("", "checkout")
	defer os.RemoveAll(root)
	dir := filepath.Join(root, "clusters", "prod")
	_ = os.MkdirAll(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
`), 0o644)

	objs, err := render.Render(context.Background(), render.Options{
		Root:            root,
		Path:            "clusters/prod",
		TargetNamespace: "shop",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	render.Sort(objs) // Namespaces (and CRDs) first, for applying
	for _, o := range objs {
		fmt.Println(o.GetKind(), o.GetNamespace(), o.GetName())
	}

	_ = os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("metadata:\n  name: a: b\n"), 0o644)
	_, err = render.Render(context.Background(), render.Options{Root: root, Path: "clusters/prod"})
	fmt.Println(err)
	// Output:
	// Namespace  shop
	// ConfigMap shop settings
	// clusters/prod/broken.yaml: document 1: yaml: line 2: mapping values are not allowed in this context
}
