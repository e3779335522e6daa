package provenance

import (
	"os"
	"path/filepath"
	"testing"

	"writ.dev/writ/provenance/api/v1alpha1"
)

// TestOpenRepositoryLayouts: bare repositories (git clone --bare, git init --bare and a push),
// directories inside one and inside a work tree, and a linked worktree open and verify the same
// history as the work tree they come from.
func TestOpenRepositoryLayouts(t *testing.T) {
	w := newWorld(t)
	r := w.repo
	r.Commit(w.alice, "one", map[string]string{"deploy/a.yaml": "a: 1\n"})
	head := r.Commit(w.bob, "two", map[string]string{"deploy/a.yaml": "a: 2\n"})

	tmp := t.TempDir()
	cloned := filepath.Join(tmp, "cloned.git")
	r.Git("clone", "-q", "--bare", r.Dir, cloned)
	pushed := filepath.Join(tmp, "pushed.git")
	r.Git("init", "-q", "--bare", "-b", "main", pushed)
	r.Git("push", "-q", pushed, "main")
	linked := filepath.Join(tmp, "linked")
	r.Git("worktree", "add", "-q", "-b", "linked", linked, "main")

	v := compile(t, w.spec(v1alpha1.ModeRange))
	for name, dir := range map[string]string{
		"work tree":                    r.Dir,
		"inside a work tree":           filepath.Join(r.Dir, "deploy"),
		"the work tree's .git":         filepath.Join(r.Dir, ".git"),
		"git clone --bare":             cloned,
		"git init --bare, then pushed": pushed,
		"inside a bare repository":     filepath.Join(cloned, "refs", "heads"),
		"linked worktree":              linked,
	} {
		t.Run(name, func(t *testing.T) {
			rep := verify(t, v, dir, Request{Target: "main"})
			if rep.Err() != nil || rep.Target != head || len(rep.Commits) != 2 {
				t.Fatalf("target %s, %d commits, %v", rep.Target, len(rep.Commits), rep.Err())
			}
		})
	}

	notRepo := t.TempDir()
	if err := os.WriteFile(filepath.Join(notRepo, "HEAD"), []byte("ref: refs/heads/main\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRepository(notRepo); err == nil {
		t.Fatal("opened a directory with a HEAD file but no objects or refs")
	}
}
