package source

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// refSpecs are what p fetches. Tags are always fetched: Tag and SemVer need them, and the trust
// policy's approval tags point at branch commits. A pinned commit may sit on any branch.
// Everything is force-updated ("+"), so a force-push shows up for the verifier to judge.
func (p *plan) refSpecs() []config.RefSpec {
	specs := []config.RefSpec{"+refs/tags/*:refs/tags/*"}
	switch p.kind {
	case kindBranch:
		b := plumbing.NewBranchReferenceName(p.name)
		specs = append(specs, config.RefSpec(fmt.Sprintf("+%s:%s", b, b)))
	case kindCommit:
		specs = append(specs, "+refs/heads/*:refs/heads/*")
	}
	return specs
}

// resolved is the revision a plan names.
type resolved struct {
	commit plumbing.Hash
	ref    string // refs/heads/…, refs/tags/… or, for a pinned commit, its hash
	tag    string // short tag name for Tag and SemVer
}

// resolve finds p's revision in the freshly fetched r.
func (p *plan) resolve(r *git.Repository) (resolved, error) {
	switch p.kind {
	case kindBranch:
		ref, err := r.Reference(plumbing.NewBranchReferenceName(p.name), true)
		if err != nil {
			return resolved{}, fmt.Errorf("%w: branch %q: %v", ErrRefNotFound, p.name, err)
		}
		return resolved{commit: ref.Hash(), ref: ref.Name().String()}, nil
	case kindTag:
		return peelTag(r, p.name)
	case kindSemVer:
		name, err := p.highestTag(r)
		if err != nil {
			return resolved{}, err
		}
		return peelTag(r, name)
	default:
		h := plumbing.NewHash(p.name)
		if _, err := r.CommitObject(h); err != nil {
			return resolved{}, fmt.Errorf("%w: commit %s is not reachable from any branch or tag of %s", ErrRefNotFound, p.name, p.url)
		}
		return resolved{commit: h, ref: p.name}, nil
	}
}

// peelTag follows a lightweight or annotated tag (or a tag of a tag) to its commit. The
// annotated tag object stays in the repository under refs/tags/name for Tag-mode verification.
// An annotated tag must carry the name of the ref that reaches it: refs/tags/v2 pointing at the
// tag object of v1 would deploy an old release under a new name (git only warns about this, in
// git describe), so it fails with ErrTagName in every mode.
func peelTag(r *git.Repository, name string) (resolved, error) {
	refName := plumbing.NewTagReferenceName(name)
	ref, err := r.Reference(refName, true)
	if err != nil {
		return resolved{}, fmt.Errorf("%w: tag %q: %v", ErrRefNotFound, name, err)
	}
	h := ref.Hash()
	for range 10 {
		t, err := r.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			break // not a tag object: a lightweight tag's commit, or what an annotated tag points at
		}
		if err != nil {
			return resolved{}, fmt.Errorf("reading tag %q: %w", name, err)
		}
		if h == ref.Hash() && t.Name != name {
			return resolved{}, fmt.Errorf("%w: %s points at the annotated tag object named %q, a replay of that tag under another name; tag the release anew under its own name (git tag -s %s)",
				ErrTagName, refName, shortName(t.Name), name)
		}
		if t.TargetType != plumbing.CommitObject && t.TargetType != plumbing.TagObject {
			return resolved{}, fmt.Errorf("%w: tag %q points at a %s, not a commit", ErrRefNotFound, name, t.TargetType)
		}
		h = t.Target
	}
	if _, err := r.CommitObject(h); err != nil {
		return resolved{}, fmt.Errorf("%w: tag %q does not point at a commit: %v", ErrRefNotFound, name, err)
	}
	return resolved{commit: h, ref: refName.String(), tag: name}, nil
}

// highestTag returns the tag with the highest version in p's range. Only strict semantic versions
// count (MAJOR.MINOR.PATCH, optionally "v"-prefixed): "2024" or "v1.2" are skipped rather than
// read as 2024.0.0 or 1.2.0. Of equal versions ("1.0.0" and "v1.0.0") the first name in byte
// order wins.
func (p *plan) highestTag(r *git.Repository) (string, error) {
	iter, err := r.Tags()
	if err != nil {
		return "", fmt.Errorf("listing tags: %w", err)
	}
	type candidate struct {
		name string
		v    *semver.Version
	}
	var matches []candidate
	versions := 0
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		name := ref.Name().Short()
		v, err := semver.StrictNewVersion(strings.TrimPrefix(name, "v"))
		if err != nil {
			return nil
		}
		versions++
		if p.constraint.Check(v) {
			matches = append(matches, candidate{name, v})
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("listing tags: %w", err)
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("%w: no tag matches semver range %q (%d version tags in %s)", ErrRefNotFound, p.name, versions, p.url)
	}
	sort.Slice(matches, func(i, j int) bool {
		if c := matches[i].v.Compare(matches[j].v); c != 0 {
			return c > 0
		}
		return matches[i].name < matches[j].name
	})
	return matches[0].name, nil
}

// shortName bounds a name read from a repository for an error message.
func shortName(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
