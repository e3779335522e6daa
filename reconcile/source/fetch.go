package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Artifact is a fetched revision, not verified yet and not checked out.
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

// openRepo opens or creates the bare repository at dir. An unreadable cache is started over,
// and so is a shallow one when full history is wanted (go-git cannot deepen a shallow clone).
func openRepo(dir string, depth int) (*git.Repository, error) {
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
