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
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Artifact is a fetched revision.
type Artifact struct {
	// Commit is the resolved commit hash.
	Commit string
	// Ref is what was resolved, as Repo names it: refs/heads/<branch>, refs/tags/<tag>, or for a
	// pinned commit the hash itself. It is the Target to give the provenance verifier; in Tag
	// mode, refs/tags/<tag> names the annotated tag object the verifier checks.
	Ref string
	// Tag is the tag name (without refs/tags/) for Tag and SemVer refs, empty otherwise.
	Tag string
	// Repo is the cached bare repository, with the history fetched so far (objects are never
	// pruned, so an earlier commit stays readable after a force-push, for rollback checks).
	Repo *git.Repository
	// Dir holds Commit's files, for the renderer. Treat it as read-only.
	Dir string
}

// Cache layout under Options.Dir.
const (
	repoDir  = "repo"  // bare repository
	treesDir = "trees" // trees/<commit>: checkouts
)

// Fetch brings o.Dir's cache up to date with o.URL and checks out the revision o.Ref names.
//
// The first call clones; later calls fetch into the same cache, force-updating refs so that a
// force-push to an older commit is reported as that commit (rejecting the rollback is the
// verifier's job, not Fetch's). The returned Repo and Dir stay valid until the next Fetch with
// the same Dir, which removes the previous checkout. Fetch calls on one Dir are serialized
// within a process; use one process per Dir.
//
// Errors wrap ErrInvalidOptions, ErrRefNotFound, ErrAuth, ErrHostKey or the context's error
// where those apply, and never contain a password, token or private key.
func Fetch(ctx context.Context, o Options) (_ *Artifact, err error) {
	defer func() { err = secretsOf(o.Auth).scrub(err) }()
	p, err := o.compile()
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
	unlock, err := lockDir(ctx, p.dir)
	if err != nil {
		return nil, err
	}
	release := unlock
	defer func() { release() }()

	repo, err := openCache(filepath.Join(p.dir, repoDir), p.depth)
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
		// locked until that fetch gives up, so that no other Fetch writes beside it.
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
	dir, err := checkout(ctx, repo, res.commit, filepath.Join(p.dir, treesDir))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("checking out %s: %w", res.commit, ctx.Err())
		}
		return nil, err
	}
	return &Artifact{Commit: res.commit.String(), Ref: res.ref, Tag: res.tag, Repo: repo, Dir: dir}, nil
}

// fetchError explains a failed fetch and wraps the matching sentinel.
func (p *plan) fetchError(ctx context.Context, err error) error {
	var keyErr *knownhosts.KeyError
	var noRef git.NoMatchingRefSpecError
	cause := strings.Join(strings.Fields(err.Error()), " ") // HTTP errors quote the response body
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("fetching %s: %w (%s)", p.url, ctx.Err(), cause)
	case errors.As(err, &noRef) && p.kind == kindBranch:
		return fmt.Errorf("%w: branch %q does not exist in %s", ErrRefNotFound, p.name, p.url)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed),
		strings.Contains(err.Error(), "ssh: unable to authenticate"):
		if !p.hasAuth {
			return fmt.Errorf("%w: %s asks for credentials (%s): set auth", ErrAuth, p.url, cause)
		}
		return fmt.Errorf("%w: %s refused the credentials (%s): check auth", ErrAuth, p.url, cause)
	case errors.As(err, &keyErr):
		if len(keyErr.Want) > 0 {
			return fmt.Errorf("%w: fetching %s: the server's host key differs from auth.sshKnownHosts (%s)", ErrHostKey, p.url, cause)
		}
		return fmt.Errorf("%w: fetching %s: auth.sshKnownHosts has no key for this server (%s)", ErrHostKey, p.url, cause)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("fetching %s: %w: check the url and that the credentials may read it", p.url, transport.ErrRepositoryNotFound)
	}
	return fmt.Errorf("fetching %s: %w", p.url, err)
}

// openCache opens or creates the bare repository at dir. An unreadable cache is started over,
// and so is a shallow one when full history is wanted (go-git cannot deepen a shallow clone).
func openCache(dir string, depth int) (*git.Repository, error) {
	r, err := git.PlainOpen(dir)
	if err == nil && depth == 0 {
		if shallow, serr := r.Storer.Shallow(); serr != nil || len(shallow) > 0 {
			err = errors.New("shallow")
		}
	}
	if err != nil {
		if !errors.Is(err, git.ErrRepositoryNotExists) {
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("resetting git cache %s: %w", dir, err)
			}
		}
		if r, err = git.PlainInit(dir, true); err != nil {
			return nil, fmt.Errorf("creating git cache %s: %w", dir, err)
		}
	}
	return r, nil
}

var dirLocks sync.Map // absolute Dir -> chan struct{} (capacity 1)

// lockDir serializes Fetch calls on one Dir, giving up when ctx ends.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	v, _ := dirLocks.LoadOrStore(dir, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for another fetch into %s: %w", dir, ctx.Err())
	}
}
