package controlplane

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, tl := range tools {
		d := filepath.Join(root, "test", "tools", tl.module)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"go.mod", "go.sum", "main.go"} {
			if err := os.WriteFile(filepath.Join(d, f), []byte(tl.module+"/"+f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestKeyFollowsToolsModules(t *testing.T) {
	root := fakeTree(t)
	k1, err := Key(root)
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := Key(root); k2 != k1 {
		t.Fatalf("key not stable: %s vs %s", k1, k2)
	}
	if !strings.HasPrefix(k1, KubernetesVersion+"-") {
		t.Fatalf("key %s does not start with the Kubernetes version", k1)
	}
	if err := os.WriteFile(filepath.Join(root, "test", "tools", "etcd", "go.sum"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if k3, _ := Key(root); k3 == k1 {
		t.Fatal("changing etcd's go.sum did not change the key")
	}
	if err := os.Remove(filepath.Join(root, "test", "tools", "etcd", "main.go")); err != nil {
		t.Fatal(err)
	}
	if _, err := Key(root); err == nil {
		t.Fatal("a missing tools file did not fail Key")
	}
}

func TestRepoKeyMatchesCheckout(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Key(root); err != nil {
		t.Fatalf("this checkout's tools modules: %v", err)
	}
}

func TestLocateAndBuildWithOverride(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(DirEnv, empty)
	if _, err := Locate(); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "make controlplane") {
		t.Fatalf("Locate on an empty dir: %v", err)
	}
	if _, err := Build(io.Discard); err == nil || !strings.Contains(err.Error(), DirEnv) {
		t.Fatalf("Build into an override without binaries must refuse: %v", err)
	}
	for _, b := range Binaries {
		if err := os.WriteFile(filepath.Join(empty, b), []byte("#!/bin/true\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if dir, err := Locate(); err != nil || dir != empty {
		t.Fatalf("Locate = %q, %v", dir, err)
	}
	if dir, err := Build(io.Discard); err != nil || dir != empty {
		t.Fatalf("Build of a complete dir = %q, %v; want it returned at once", dir, err)
	}
}

func TestVersionLDFlags(t *testing.T) {
	f := versionLDFlags("v1.37.1")
	for _, want := range []string{"gitVersion=v1.37.1", "gitMajor=1", "gitMinor=37"} {
		if !strings.Contains(f, want) {
			t.Errorf("%q lacks %q", f, want)
		}
	}
}
