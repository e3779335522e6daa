package render

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// mixed returns a tree of n objects, ConfigMaps, Services and Deployments in turn, in files of 100
// documents.
func mixed(n int) map[string]string {
	files := map[string]string{}
	var b strings.Builder
	for i := range n {
		name := fmt.Sprintf("app-%04d", i)
		switch i % 3 {
		case 0:
			b.WriteString(configMap(name))
		case 1:
			b.WriteString(service(name))
		case 2:
			b.WriteString(deployment(name))
		}
		b.WriteString("---\n")
		if (i+1)%100 == 0 || i == n-1 {
			files[fmt.Sprintf("apps/%02d/manifests.yaml", i/100)] = b.String()
			b.Reset()
		}
	}
	return files
}

func benchRender(b *testing.B, files map[string]string, want int) {
	root := writeTree(b, b.TempDir(), files)
	o := Options{Root: root, TargetNamespace: "bench"}
	b.ReportAllocs()
	for b.Loop() {
		objs, err := Render(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		if len(objs) != want {
			b.Fatalf("rendered %d objects, want %d", len(objs), want)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/object")
}

// benchRefuse measures how long refusing hostile input takes.
func benchRefuse(b *testing.B, files map[string]string, sentinel error) {
	root := writeTree(b, b.TempDir(), files)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(context.Background(), Options{Root: root}); !errors.Is(err, sentinel) {
			b.Fatalf("err = %v, want %v", err, sentinel)
		}
	}
}

// BenchmarkRender1000: plain YAML, 1,000 mixed objects in 10 files.
func BenchmarkRender1000(b *testing.B) { benchRender(b, mixed(1000), 1000) }

// BenchmarkRenderKustomize1000: the same objects through a kustomization with a name prefix
// and common labels.
func BenchmarkRenderKustomize1000(b *testing.B) {
	files := mixed(1000)
	var res []string
	for name := range files {
		res = append(res, "- "+name)
	}
	files["kustomization.yaml"] = "namePrefix: k-\nlabels:\n- pairs: {team: bench}\nresources:\n" + strings.Join(res, "\n") + "\n"
	benchRender(b, files, 1000)
}

// BenchmarkRenderEmptyDocuments: hostile input, a file just under MaxFileSize of empty
// documents, refused at document MaxObjects+1.
func BenchmarkRenderEmptyDocuments(b *testing.B) {
	benchRefuse(b, map[string]string{"empty.yaml": strings.Repeat("---\n", MaxFileSize/4-1)}, ErrLimit)
}

// BenchmarkRenderWideDocument: hostile input, one document just under MaxFileSize holding a
// list of five million numbers.
func BenchmarkRenderWideDocument(b *testing.B) {
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wide}\nx: [" + strings.Repeat("1,", MaxFileSize/2-100) + "1]\n"
	benchRender(b, map[string]string{"wide.yaml": doc}, 1)
}
