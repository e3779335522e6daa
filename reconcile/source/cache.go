package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// Cache owns the sources' caches on disk under one root: for each source (a Key) a bare
// repository and checkouts of the commits its reconciler verified, behind one lock per source
// that serialises fetching, checking out and cleaning up. Use one Cache per root in a process,
// shared by everything that reads or writes those sources.
//
// Layout: <root>/<namespace>/<name>/repo is the bare repository, .../trees/<commit> a checkout.
type Cache struct {
	root string

	mu    sync.Mutex
	locks map[string]chan struct{} // source dir -> capacity 1: held while fetching, checking out or cleaning
	pins  map[string]int           // tree dir -> Trees open on it, which cleanup leaves alone
}

// Key names one source's cache.
type Key struct{ Namespace, Name string }

func (k Key) String() string { return k.Namespace + "/" + k.Name }

// Layout of one source's directory.
const (
	repoDir  = "repo"  // bare repository
	treesDir = "trees" // trees/<commit>: checkouts of verified commits
)

// NewCache returns the cache rooted at root, which is created when needed.
func NewCache(root string) *Cache {
	return &Cache{root: filepath.Clean(root), locks: map[string]chan struct{}{}, pins: map[string]int{}}
}

// dir is k's directory. Both parts must be single path elements: a Key never leaves the root.
func (c *Cache) dir(k Key) (string, error) {
	for _, part := range []string{k.Namespace, k.Name} {
		if part == "" || part == "." || part == ".." || strings.ContainsAny(part, `/\`+"\x00") {
			return "", invalid("source key %q: namespace and name must each be one non-empty path element", k.String())
		}
	}
	return filepath.Join(c.root, k.Namespace, k.Name), nil
}

// lockKey takes k's lock and returns k's directory, giving up when ctx ends.
func (c *Cache) lockKey(ctx context.Context, k Key) (dir string, unlock func(), err error) {
	if dir, err = c.dir(k); err != nil {
		return "", nil, err
	}
	if unlock, err = c.lock(ctx, dir); err != nil {
		return "", nil, err
	}
	return dir, unlock, nil
}

// lock takes dir's lock, giving up when ctx ends.
func (c *Cache) lock(ctx context.Context, dir string) (unlock func(), err error) {
	c.mu.Lock()
	ch, ok := c.locks[dir]
	if !ok {
		ch = make(chan struct{}, 1)
		c.locks[dir] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another fetch or checkout of %s: %w", dir, ctx.Err())
	}
}

// Fetch brings k's repository up to date with o.URL and resolves the revision o.Ref names. It
// checks nothing out: the commit is not verified yet, and only verified commits reach the disk
// as files (Checkout).
//
// The first call clones; later calls fetch into the same repository, force-updating refs so that
// a force-push to an older commit is reported as that commit (rejecting the rollback is the
// verifier's job, not Fetch's). The returned Repo stays valid; objects are never pruned.
//
// Errors wrap ErrInvalidOptions, ErrRefNotFound, ErrAuth, ErrHostKey, ErrTagName or the
// context's error where those apply, and never contain a password, token or private key.
func (c *Cache) Fetch(ctx context.Context, k Key, o Options) (_ *Artifact, err error) {
	defer func() { err = secretsOf(o.Auth).scrub(err) }()
	p, err := o.compile()
	if err != nil {
		return nil, err
	}
	dir, err := c.dir(k)
	if err != nil {
		return nil, err
	}
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	auth, err := p.transportAuth(ctx, o.Auth)
	if err != nil {
		return nil, err
	}
	unlock, err := c.lock(ctx, dir)
	if err != nil {
		return nil, err
	}
	release := unlock
	defer func() { release() }()

	repo, err := openRepo(filepath.Join(dir, repoDir), p.depth)
	if err != nil {
		return nil, err
	}
	remote := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{p.url}})
	fetched := make(chan error, 1)
	go func() {
		fetched <- remote.FetchContext(ctx, &git.FetchOptions{
			RefSpecs: p.refSpecs(),
			Depth:    p.depth,
			Auth:     auth,
			Tags:     git.NoTags, // tags come through the refspecs
			Force:    true,
			Prune:    true, // a deleted tag or branch must stop resolving
		})
	}()
	select {
	case err = <-fetched:
	case <-ctx.Done():
		// go-git does not watch ctx during an SSH handshake. Return now, and keep the cache
		// locked until that fetch gives up, so that nothing else writes beside it.
		release = func() { go func() { <-fetched; unlock() }() }
		return nil, fmt.Errorf("fetching %s: %w", p.url, ctx.Err())
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, p.fetchError(ctx, err)
	}
	res, err := p.resolve(repo)
	if err != nil {
		return nil, err
	}
	return &Artifact{Commit: res.commit.String(), Ref: res.ref, Tag: res.tag, Repo: repo}, nil
}

// Repository opens k's repository as the last Fetch left it, for reading (verifying the served
// commit again while the remote is down).
func (c *Cache) Repository(ctx context.Context, k Key) (*git.Repository, error) {
	dir, unlock, err := c.lockKey(ctx, k)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return git.PlainOpen(filepath.Join(dir, repoDir))
}

// Tree is a checkout of one commit. Its files stay in place until Close, whatever cleanup runs
// meanwhile. Treat Dir as read-only.
type Tree struct {
	Commit string
	Dir    string
	close  func()
}

// Close releases the tree: cleanup may remove it from now on. It is safe to call twice.
func (t *Tree) Close() {
	if t.close != nil {
		t.close()
	}
}

// Checkout returns the files of commit in k's repository, writing them into trees/<commit> the
// first time. Give it only a commit the source's reconciler verified (a GitSource's
// status.lastVerifiedCommit, or a commit a sync applied): Fetch checks nothing out, so an
// unverified commit is never written as files, and Checkout is where that is kept. The tree is
// written into a temporary directory and renamed into place when complete, so no reader ever
// sees half a tree; a tree already in place is reused, since a commit's tree never changes.
// Symlinks that resolve outside the tree, and entries git would refuse ("..", ".git"), fail the
// checkout and leave nothing behind.
func (c *Cache) Checkout(ctx context.Context, k Key, commit string) (*Tree, error) {
	h := plumbing.NewHash(commit)
	if h.IsZero() || h.String() != commit {
		return nil, invalid("%q is not a full commit hash", commit)
	}
	dir, unlock, err := c.lockKey(ctx, k)
	if err != nil {
		return nil, err
	}
	defer unlock()
	final := filepath.Join(dir, treesDir, commit)
	if _, err := os.Lstat(final); errors.Is(err, os.ErrNotExist) {
		repo, err := git.PlainOpen(filepath.Join(dir, repoDir))
		if err != nil {
			return nil, fmt.Errorf("checking out %s: opening the cache of %s: %w", commit, k, err)
		}
		if err := checkout(ctx, repo, h, final); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("checking out %s: %w", commit, err)
	}
	c.mu.Lock()
	c.pins[final]++
	c.mu.Unlock()
	var once sync.Once
	return &Tree{Commit: commit, Dir: final, close: func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.pins[final]--; c.pins[final] <= 0 {
				delete(c.pins, final)
				// The source may have been removed while this tree was open.
				if _, err := os.Lstat(filepath.Join(dir, repoDir)); errors.Is(err, os.ErrNotExist) {
					go c.sweepRemoved(dir)
				}
			}
		})
	}}, nil
}

// Clean removes k's checkouts other than keep's and those a Tree still holds open (a sync
// rendering an earlier commit), and the leftovers of an interrupted checkout. The source's
// reconciler calls it with the commit it serves. Removal is best effort: what fails is tried
// again on the next Clean.
func (c *Cache) Clean(ctx context.Context, k Key, keep string) error {
	dir, unlock, err := c.lockKey(ctx, k)
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.removeTrees(dir, keep); err != nil {
		return fmt.Errorf("cleaning the checkouts of %s: %w", k, err)
	}
	return nil
}

// Remove deletes k's cache: its repository, every checkout no Tree holds open, and then k's
// directory. The source's reconciler calls it when the GitSource is gone, so a deleted source
// leaves nothing on disk and a new source of the same name starts from an empty cache. A tree a
// sync still holds open at that moment is removed when it is closed. Fetching k again (a new
// source of that name) starts a new cache.
func (c *Cache) Remove(ctx context.Context, k Key) error {
	dir, unlock, err := c.lockKey(ctx, k)
	if err != nil {
		return err
	}
	defer unlock()
	if err := os.RemoveAll(filepath.Join(dir, repoDir)); err != nil {
		return fmt.Errorf("removing the cache of %s: %w", k, err)
	}
	if err := c.removeTrees(dir, ""); err != nil {
		return fmt.Errorf("removing the checkouts of %s: %w", k, err)
	}
	// Both only when empty: an open tree keeps them until it is closed.
	_ = os.Remove(filepath.Join(dir, treesDir))
	_ = os.Remove(dir)
	return nil
}

// sweepRemoved finishes a Remove of the source in dir once its last open tree is closed: if the
// source's repository is gone (removed, and not fetched again since), its remaining checkouts and
// directory go too.
func (c *Cache) sweepRemoved(dir string) {
	unlock, err := c.lock(context.Background(), dir)
	if err != nil {
		return
	}
	defer unlock()
	if _, err := os.Lstat(filepath.Join(dir, repoDir)); !errors.Is(err, os.ErrNotExist) {
		return
	}
	if c.removeTrees(dir, "") == nil {
		_ = os.Remove(filepath.Join(dir, treesDir))
		_ = os.Remove(dir)
	}
}

// removeTrees removes the checkouts in dir (a source's directory, whose lock the caller holds)
// other than keep's and those a Tree holds open, and the leftovers of an interrupted checkout.
// Removal is best effort: a checkout that cannot be removed is tried again next time.
func (c *Cache) removeTrees(dir, keep string) error {
	trees := filepath.Join(dir, treesDir)
	entries, err := os.ReadDir(trees)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range entries {
		p := filepath.Join(trees, e.Name())
		if (keep == "" || e.Name() != keep) && c.pins[p] == 0 {
			_ = os.RemoveAll(p)
		}
	}
	return nil
}
