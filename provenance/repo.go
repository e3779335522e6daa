package provenance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repository reads raw objects from a Git repository with go-git. It is safe for concurrent use.
type Repository struct {
	repo *git.Repository
	mu   sync.Mutex // go-git's storage is not documented as safe for concurrent reads

	tagsOnce sync.Once
	tagsErr  error
	tagsAt   map[string][]string // commit hash -> annotated tag object hashes pointing at it
	tagNames map[string]string   // tag object hash -> short tag name (refs/tags/ stripped)
}

// OpenRepository opens the repository at dir or the nearest directory above it that is one, as
// git finds it: a work tree (with a .git directory, or a .git file as in linked worktrees and
// submodules), or a bare repository (a directory holding HEAD, objects/ and refs/, as
// `git init --bare` and `git clone --bare` make, and CI systems and mirrors use).
func OpenRepository(dir string) (*Repository, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening git repository %s: %w", dir, err)
	}
	for p := abs; ; {
		var r *git.Repository
		switch {
		case exists(filepath.Join(p, git.GitDirName)) || isGitDir(p):
			// go-git opens a directory without .git as a bare repository; its own .git detection
			// (DetectDotGit) never finds a bare one. EnableDotGitCommonDir reads a linked
			// worktree's objects and refs from the main repository.
			r, err = git.PlainOpenWithOptions(p, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
		default:
			parent := filepath.Dir(p)
			if parent == p {
				return nil, fmt.Errorf("opening git repository %s: neither it nor any parent directory is a git repository (a work tree with .git, or a bare repository)", dir)
			}
			p = parent
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("opening git repository %s: %w", p, err)
		}
		return NewRepository(r), nil
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// isGitDir reports whether dir is a git directory itself (a bare repository, or a work tree's
// .git): git's own test is a HEAD file and objects/ and refs/ directories.
func isGitDir(dir string) bool {
	head, err := os.Stat(filepath.Join(dir, "HEAD"))
	if err != nil || !head.Mode().IsRegular() {
		return false
	}
	for _, sub := range []string{"objects", "refs"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// NewRepository wraps an open go-git repository.
func NewRepository(r *git.Repository) *Repository { return &Repository{repo: r} }

// raw returns an object's bytes and type.
func (r *Repository) raw(hash string) ([]byte, plumbing.ObjectType, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, err := r.repo.Storer.EncodedObject(plumbing.AnyObject, plumbing.NewHash(hash))
	if err != nil {
		return nil, plumbing.InvalidObject, fmt.Errorf("reading object %s: %w", hash, err)
	}
	rd, err := o.Reader()
	if err != nil {
		return nil, plumbing.InvalidObject, err
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	return b, o.Type(), err
}

// resolve turns a revision (branch, tag, hash, HEAD~2 …) into a commit or tag object hash. Tags
// resolve to the tag object when peel is false.
func (r *Repository) resolve(rev string, peel bool) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !peel {
		for _, name := range []string{rev, "refs/tags/" + rev} {
			ref, err := r.repo.Reference(plumbing.ReferenceName(name), true)
			if err == nil && ref.Name().IsTag() {
				return ref.Hash().String(), nil
			}
		}
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrRevision, rev, err)
	}
	return h.String(), nil
}

// tagsPointingAt returns the annotated tag objects that point at commit, with their names.
func (r *Repository) tagsPointingAt(commit string) (hashes []string, names map[string]string, err error) {
	r.tagsOnce.Do(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tagsAt, r.tagNames = map[string][]string{}, map[string]string{}
		iter, err := r.repo.Tags()
		if err != nil {
			r.tagsErr = err
			return
		}
		r.tagsErr = iter.ForEach(func(ref *plumbing.Reference) error {
			t, err := r.repo.TagObject(ref.Hash())
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return nil // lightweight tag: carries no signature, cannot approve
			}
			if err != nil {
				return err
			}
			if t.TargetType == plumbing.CommitObject {
				h := t.Hash.String()
				r.tagsAt[t.Target.String()] = append(r.tagsAt[t.Target.String()], h)
				r.tagNames[h] = ref.Name().Short()
			}
			return nil
		})
	})
	return r.tagsAt[commit], r.tagNames, r.tagsErr
}

// changedPaths lists the files a commit changes relative to its first parent (every file for a
// root commit).
func (r *Repository) changedPaths(commit string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, err
	}
	to, err := c.Tree()
	if err != nil {
		return nil, err
	}
	var from *object.Tree
	if c.NumParents() > 0 {
		p, err := c.Parent(0)
		if err != nil {
			return nil, err
		}
		if from, err = p.Tree(); err != nil {
			return nil, err
		}
	}
	changes, err := object.DiffTree(from, to)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ch := range changes {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" {
				out = append(out, name)
			}
		}
	}
	return out, nil
}
