package interop_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"writ.dev/writ/test/controlplane"
)

// bitnamiTools are kubeseal and Bitnami's controller, built once from test/tools/sealedsecrets
// into the cache (keyed by that module's go.sum, so a version bump rebuilds them).
type bitnamiTools struct{ kubeseal, controller string }

var (
	toolsOnce sync.Once
	tools     bitnamiTools
	toolsErr  error
)

func buildBitnamiTools(t testing.TB) bitnamiTools {
	t.Helper()
	toolsOnce.Do(func() { tools, toolsErr = build() })
	if toolsErr != nil {
		t.Fatal(toolsErr)
	}
	return tools
}

func build() (bitnamiTools, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return bitnamiTools{}, err
	}
	mod := filepath.Join(root, "test", "tools", "sealedsecrets")
	sum, err := os.ReadFile(filepath.Join(mod, "go.sum"))
	if err != nil {
		return bitnamiTools{}, err
	}
	cache, err := controlplane.CacheRoot()
	if err != nil {
		return bitnamiTools{}, err
	}
	h := sha256.Sum256(sum)
	dir := filepath.Join(cache, "sealed-secrets-"+hex.EncodeToString(h[:8]))
	bt := bitnamiTools{kubeseal: filepath.Join(dir, "kubeseal"), controller: filepath.Join(dir, "controller")}
	if _, err := os.Stat(bt.controller); err == nil {
		if _, err := os.Stat(bt.kubeseal); err == nil {
			return bt, nil
		}
	}
	tmp, err := os.MkdirTemp(cache, ".sealed-secrets-build-")
	if err != nil {
		return bitnamiTools{}, err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "interop: building kubeseal and Bitnami's controller from %s into %s (once, about a minute)\n", mod, dir)
	cmd := exec.Command("go", "build", "-o", tmp+string(filepath.Separator), "github.com/bitnami/sealed-secrets/cmd/kubeseal", "github.com/bitnami/sealed-secrets/cmd/controller")
	cmd.Dir = mod
	if out, err := cmd.CombinedOutput(); err != nil {
		return bitnamiTools{}, fmt.Errorf("building Bitnami's tools in %s: %v\n%s", mod, err, out)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return bitnamiTools{}, err
	}
	if err := os.Rename(tmp, dir); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(bt.controller); serr != nil { // another process may have won the race
			return bitnamiTools{}, err
		}
	}
	return bt, nil
}
