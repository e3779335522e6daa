package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// KubernetesVersion is the version of kube-apiserver the tests run against. It must match the
// k8s.io/kubernetes requirement in test/tools/kube-apiserver/go.mod.
const KubernetesVersion = "v1.37.1"

// Binaries are the executables a complete control-plane directory holds.
var Binaries = []string{"kube-apiserver", "etcd"}

// DirEnv, when set, names the control-plane directory to use instead of the computed one.
const DirEnv = "WRIT_CONTROLPLANE_DIR"

// tool is one binary and the tools module it is built from.
type tool struct {
	name    string
	module  string // directory under test/tools
	ldflags string
}

var tools = []tool{
	{name: "kube-apiserver", module: "kube-apiserver", ldflags: versionLDFlags(KubernetesVersion)},
	{name: "etcd", module: "etcd"},
}

func versionLDFlags(v string) string {
	major, minor, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	pkg := "k8s.io/component-base/version"
	return fmt.Sprintf("-s -w -X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]s -X %[1]s.gitMinor=%[4]s -X %[1]s.gitTreeState=clean",
		pkg, v, major, minor)
}

// RepoRoot returns the root of the Writ checkout that holds this package.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("controlplane: cannot locate the source tree")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "test", "tools")); err != nil {
		return "", fmt.Errorf("controlplane: %s is not a Writ checkout: %w", root, err)
	}
	return root, nil
}

// Key hashes everything that decides the binaries' contents: each tools module's go.mod, go.sum
// and main.go, the build flags, and the Go toolchain version.
func Key(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "go=%s\n", runtime.Version())
	for _, t := range tools {
		fmt.Fprintf(h, "tool=%s ldflags=%s\n", t.name, t.ldflags)
		for _, f := range []string{"go.mod", "go.sum", "main.go"} {
			b, err := os.ReadFile(filepath.Join(root, "test", "tools", t.module, f))
			if err != nil {
				return "", fmt.Errorf("controlplane: reading tools module: %w", err)
			}
			fmt.Fprintf(h, "%s/%s %d\n", t.module, f, len(b))
			h.Write(b)
		}
	}
	return KubernetesVersion + "-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// CacheRoot is the directory under which control-plane builds are kept.
func CacheRoot() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("controlplane: no XDG_CACHE_HOME and no home directory: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "writ", "controlplane"), nil
}

// Dir returns the directory the control plane for this checkout is (or would be) built into.
// WRIT_CONTROLPLANE_DIR overrides it.
func Dir() (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	key, err := Key(root)
	if err != nil {
		return "", err
	}
	cache, err := CacheRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, key), nil
}

// ErrMissing reports that the control-plane binaries have not been built.
var ErrMissing = errors.New("the control-plane binaries are not built: run `make controlplane` (about 15 minutes the first time, cached afterwards)")

// Locate returns Dir if it holds every binary, or an error wrapping ErrMissing.
func Locate() (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	if !complete(dir) {
		return "", fmt.Errorf("%w (looked in %s)", ErrMissing, dir)
	}
	return dir, nil
}

func complete(dir string) bool {
	for _, b := range Binaries {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// Build makes sure the control plane for this checkout is built and returns its directory.
// Progress from the Go toolchain goes to log. It is safe to call from several processes at once.
func Build(log io.Writer) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	if complete(dir) {
		return dir, nil
	}
	if os.Getenv(DirEnv) != "" {
		return "", fmt.Errorf("controlplane: %s=%s does not hold %v; unset it to build into the cache", DirEnv, dir, Binaries)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("controlplane: %w", err)
	}
	unlock, err := lock(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if complete(dir) { // another process built it while we waited
		return dir, nil
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("controlplane: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	for _, t := range tools {
		fmt.Fprintf(log, "controlplane: building %s into %s\n", t.name, dir)
		args := []string{"build", "-trimpath", "-o", filepath.Join(tmp, t.name)}
		if t.ldflags != "" {
			args = append(args, "-ldflags", t.ldflags)
		}
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Dir = filepath.Join(root, "test", "tools", t.module)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("controlplane: building %s: %w", t.name, err)
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("controlplane: %w", err)
	}
	_ = os.RemoveAll(dir) // an incomplete leftover from a build without this lock
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("controlplane: %w", err)
	}
	return dir, nil
}

func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("controlplane: locking %s: %w", path, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
