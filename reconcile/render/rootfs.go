package render

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// rootFS is a read-only view of the disk below one directory. Every path is resolved through
// its symlinks first, and refused with ErrOutsideRoot when it lands outside the root. It is also
// the filesys.FileSystem Kustomize builds on.
type rootFS struct {
	root  string // absolute, symlinks resolved
	given string // absolute, as the caller named it, for cleaning messages
	disk  filesys.FileSystem
}

var _ filesys.FileSystem = (*rootFS)(nil)

var errReadOnly = errors.New("the repository is read-only while rendering")

func newRootFS(root string) (*rootFS, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("render: root %q: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("render: root %q: %w", root, err)
	}
	info, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("render: root %q: %w", root, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("render: root %q is not a directory: pass the checkout directory", root)
	}
	return &rootFS{root: real, given: abs, disk: filesys.MakeFsOnDisk()}, nil
}

// resolveRel resolves a path relative to the root, refusing absolute paths.
func (f *rootFS) resolveRel(p string) (string, error) {
	if filepath.IsAbs(p) || strings.HasPrefix(filepath.ToSlash(p), "/") {
		return "", mark(ErrOutsideRoot, "render: path %q must be relative to the root", p)
	}
	real, err := f.resolve(filepath.Join(f.root, filepath.FromSlash(p)))
	if errors.Is(err, ErrOutsideRoot) {
		return "", fmt.Errorf("render: path %q: %w: choose a directory inside the checkout", p, ErrOutsideRoot)
	}
	return real, err
}

// resolve returns the real path p names: symlinks of its existing part followed, the rest
// appended. It fails with ErrOutsideRoot if that is not the root or below it.
func (f *rootFS) resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	dir, rest := abs, ""
	for {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			real = filepath.Join(real, rest)
			if !within(f.root, real) {
				return "", fmt.Errorf("%s: %w", f.rel(abs), ErrOutsideRoot)
			}
			return real, nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, fs.ErrNotExist) || parent == dir {
			return "", fmt.Errorf("%s: %w", f.rel(abs), bare(err))
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// bare drops the absolute path an *fs.PathError carries, for messages that name the file
// relative to the root themselves.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// within reports whether p is root or below it; both are clean and absolute.
func within(root, p string) bool {
	if p == root || root == string(filepath.Separator) {
		return true
	}
	return strings.HasPrefix(p, root+string(filepath.Separator))
}

// rel names the absolute path p for messages: slash-separated and relative to the root.
func (f *rootFS) rel(p string) string {
	base := f.given
	if within(f.root, p) {
		base = f.root
	}
	if r, err := filepath.Rel(base, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

// clean strips the root from a message, so errors name files relative to it.
func (f *rootFS) clean(msg string) string {
	for _, base := range []string{f.root, f.given} {
		msg = strings.ReplaceAll(msg, base+string(filepath.Separator), "")
		for _, q := range []string{"'", `"`} {
			msg = strings.ReplaceAll(msg, q+base+q, q+"."+q)
		}
	}
	return msg
}

// read returns a file's content, refusing one larger than MaxFileSize.
func (f *rootFS) read(p string) ([]byte, error) {
	real, err := f.resolve(p)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.rel(p), bare(err))
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.rel(p), bare(err))
	}
	if len(data) > MaxFileSize {
		return nil, mark(ErrLimit, "%s: file is larger than %d MiB (MaxFileSize): split it, or keep it out of the synced path", f.rel(p), MaxFileSize>>20)
	}
	return data, nil
}

// The filesys.FileSystem methods Kustomize uses.

func (f *rootFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (f *rootFS) Mkdir(string) error                  { return errReadOnly }
func (f *rootFS) MkdirAll(string) error               { return errReadOnly }
func (f *rootFS) RemoveAll(string) error              { return errReadOnly }
func (f *rootFS) WriteFile(string, []byte) error      { return errReadOnly }

func (f *rootFS) Open(p string) (filesys.File, error) {
	real, err := f.resolve(p)
	if err != nil {
		return nil, err
	}
	return f.disk.Open(real)
}

func (f *rootFS) IsDir(p string) bool {
	real, err := f.resolve(p)
	return err == nil && f.disk.IsDir(real)
}

func (f *rootFS) Exists(p string) bool {
	real, err := f.resolve(p)
	return err == nil && f.disk.Exists(real)
}

func (f *rootFS) ReadDir(p string) ([]string, error) {
	real, err := f.resolve(p)
	if err != nil {
		return nil, err
	}
	return f.disk.ReadDir(real)
}

func (f *rootFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if _, err := f.resolve(p); err != nil {
		return "", "", err
	}
	d, name, err := f.disk.CleanedAbs(p)
	if err != nil {
		return "", "", err
	}
	if !within(f.root, d.String()) {
		return "", "", fmt.Errorf("%s: %w", f.rel(p), ErrOutsideRoot)
	}
	return d, name, nil
}

func (f *rootFS) Glob(pattern string) ([]string, error) {
	matches, err := f.disk.Glob(pattern)
	if err != nil {
		return nil, err
	}
	kept := matches[:0]
	for _, m := range matches {
		if _, err := f.resolve(m); err == nil {
			kept = append(kept, m)
		}
	}
	return kept, nil
}

func (f *rootFS) ReadFile(p string) ([]byte, error) { return f.read(p) }

func (f *rootFS) Walk(p string, walkFn filepath.WalkFunc) error {
	if _, err := f.resolve(p); err != nil {
		return err
	}
	return f.disk.Walk(p, walkFn)
}
