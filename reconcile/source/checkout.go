package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// checkout writes commit's tree into final, which must not exist: into a temporary directory
// beside it first, renamed into place only when complete, so no reader ever sees half a tree.
func checkout(ctx context.Context, r *git.Repository, commit plumbing.Hash, final string) error {
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating checkout directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return fmt.Errorf("creating checkout directory: %w", err)
	}
	if err := writeTree(ctx, r, commit, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		if ctx.Err() != nil {
			return fmt.Errorf("checking out %s: %w", commit, ctx.Err())
		}
		return fmt.Errorf("checking out %s: %w", commit, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("checking out %s: %w", commit, err)
	}
	return nil
}

type symlink struct{ path, target string }

// writeTree writes commit's tree into the empty directory dir. Every write goes through an
// os.Root, so no tree entry can land outside dir. Symlinks are created last (so nothing is
// written through one) and must resolve inside dir: a link to /var/run/secrets or ../../ would
// let a renderer read files outside the repository. Submodules become empty directories.
func writeTree(ctx context.Context, r *git.Repository, commit plumbing.Hash, dir string) error {
	c, err := r.CommitObject(commit)
	if err != nil {
		return err
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var links []symlink
	if err := writeEntries(ctx, r, root, tree, ".", &links); err != nil {
		return err
	}
	for _, l := range links {
		if err := created(l.path, root.Symlink(l.target, l.path)); err != nil {
			return err
		}
	}
	for _, l := range links {
		// Stat follows the link inside root and fails if it leaves root. A link to a missing
		// file inside the tree is allowed: git allows it, and reading it fails harmlessly.
		if _, err := root.Stat(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return unsafeTree("symlink %s -> %s is refused: it must point inside the repository (%v)", l.path, l.target, err)
		}
	}
	return nil
}

func writeEntries(ctx context.Context, r *git.Repository, root *os.Root, t *object.Tree, dir string, links *[]symlink) error {
	for _, e := range t.Entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !validName(e.Name) {
			return unsafeTree("tree entry %q in directory %q is not a safe file name", e.Name, dir)
		}
		p := path.Join(dir, e.Name)
		switch e.Mode {
		case filemode.Dir:
			sub, err := object.GetTree(r.Storer, e.Hash)
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			if err := created(p, root.Mkdir(p, 0o755)); err != nil {
				return err
			}
			if err := writeEntries(ctx, r, root, sub, p, links); err != nil {
				return err
			}
		case filemode.Submodule:
			if err := created(p, root.Mkdir(p, 0o755)); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
			perm := fs.FileMode(0o644)
			if e.Mode == filemode.Executable {
				perm = 0o755
			}
			if err := writeBlob(r, root, e.Hash, p, perm); err != nil {
				return err
			}
		case filemode.Symlink:
			target, err := readBlob(r, e.Hash, 4096)
			if err != nil {
				return fmt.Errorf("reading symlink %s: %w", p, err)
			}
			if target == "" || strings.ContainsRune(target, 0) {
				return unsafeTree("symlink %s has an invalid target", p)
			}
			*links = append(*links, symlink{p, target})
		default:
			return unsafeTree("tree entry %s has unsupported mode %s", p, e.Mode)
		}
	}
	return nil
}

// unsafeTreeError is a tree Writ refuses to write; it matches ErrUnsafeTree.
type unsafeTreeError struct{ msg string }

func (e *unsafeTreeError) Error() string        { return e.msg }
func (e *unsafeTreeError) Is(target error) bool { return target == ErrUnsafeTree }

func unsafeTree(format string, args ...any) error {
	return &unsafeTreeError{msg: fmt.Sprintf(format, args...)}
}

// created explains the error of creating p; a name that exists already was listed twice.
func created(p string, err error) error {
	if errors.Is(err, fs.ErrExist) {
		return unsafeTree("tree lists %s twice", p)
	}
	return err
}

// validName refuses entries git itself refuses to check out.
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.EqualFold(name, ".git") &&
		!strings.ContainsAny(name, "/\x00")
}

func writeBlob(r *git.Repository, root *os.Root, h plumbing.Hash, p string, perm fs.FileMode) error {
	b, err := object.GetBlob(r.Storer, h)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	rd, err := b.Reader()
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	defer rd.Close()
	// O_EXCL: a tree listing a name twice must not overwrite the first entry.
	f, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err := created(p, err); err != nil {
		return err
	}
	_, err = io.Copy(f, rd)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

func readBlob(r *git.Repository, h plumbing.Hash, limit int64) (string, error) {
	b, err := object.GetBlob(r.Storer, h)
	if err != nil {
		return "", err
	}
	if b.Size > limit {
		return "", fmt.Errorf("%d bytes is too long", b.Size)
	}
	rd, err := b.Reader()
	if err != nil {
		return "", err
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	return string(data), err
}
