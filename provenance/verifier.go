package provenance

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/go-git/go-git/v5/plumbing"

	"writ.dev/writ/provenance/api/v1alpha1"
	"writ.dev/writ/provenance/gitobj"
	"writ.dev/writ/provenance/openpgp"
	"writ.dev/writ/provenance/signature"
	"writ.dev/writ/provenance/sshsig"
)

// formatVerifier verifies one signature format. at is the signed object's committer or tagger
// time, which SSH validity windows use.
type formatVerifier interface {
	Verify(payload, sig []byte, at time.Time) (signature.Signer, error)
}

type openpgpAdapter struct{ v *openpgp.Verifier }

func (a openpgpAdapter) Verify(payload, sig []byte, _ time.Time) (signature.Signer, error) {
	return a.v.Verify(payload, sig)
}

type approvalRule struct {
	name       string
	paths      []string
	minSigners int
	tagPattern string
}

type revocation struct {
	fingerprint string
	identity    *identityMatcher
	from        time.Time
	reason      string
}

// Verifier verifies commits and tags against one compiled TrustPolicy. It is safe for concurrent
// use and caches verified commits by hash; a failure is never cached, so the cache can only save
// work, never turn a failure into a success.
type Verifier struct {
	mode          v1alpha1.VerificationMode
	base          string
	tagPattern    string
	allowRollback bool
	formats       map[signature.Method]formatVerifier
	approvals     []approvalRule
	revocations   []revocation
	principals    principals
	workers       int
	warnings      []string

	cache sync.Map // object hash -> Result (verified only)
}

// Option tunes a Verifier.
type Option func(*Verifier)

// WithWorkers sets how many signatures are verified in parallel (default GOMAXPROCS).
func WithWorkers(n int) Option {
	return func(v *Verifier) {
		if n > 0 {
			v.workers = n
		}
	}
}

// Compile validates a policy once and returns a Verifier for it. Every problem is reported with
// its field path, wrapped in ErrInvalidPolicy.
func Compile(spec v1alpha1.TrustPolicySpec, opts ...Option) (*Verifier, error) {
	if errs := validate(&spec); len(errs) > 0 {
		return nil, errs.err()
	}
	v := &Verifier{
		mode:          spec.Mode,
		allowRollback: spec.Rollback.Allow,
		formats:       map[signature.Method]formatVerifier{},
		workers:       runtime.GOMAXPROCS(0),
	}
	if v.mode == "" {
		v.mode = v1alpha1.ModeRange
	}
	if spec.Range != nil {
		v.base = spec.Range.Base
	}
	if spec.Tag != nil {
		v.tagPattern = spec.Tag.Pattern
	}
	var errs fieldErrors
	if spec.OpenPGP != nil {
		if pv, err := openpgp.Compile(spec.OpenPGP.Keys); err != nil {
			errs.add("openpgp.keys", "%v", err)
		} else {
			v.formats[signature.OpenPGP] = openpgpAdapter{pv}
		}
	}
	if spec.SSH != nil {
		if sv, err := sshsig.Compile([]byte(spec.SSH.AllowedSigners)); err != nil {
			errs.add("ssh.allowedSigners", "%v", err)
		} else {
			v.formats[signature.SSH] = sv
		}
	}
	if spec.Keyless != nil {
		if kv, err := compileKeyless(spec.Keyless); err != nil {
			errs.add("keyless", "%v", err)
		} else {
			v.formats[signature.Keyless] = kv
		}
	}
	for _, a := range spec.Approvals {
		r := approvalRule{name: a.Name, paths: a.Paths, minSigners: a.MinSigners, tagPattern: a.TagPattern}
		if r.tagPattern == "" {
			r.tagPattern = "approve/*"
		}
		v.approvals = append(v.approvals, r)
	}
	v.principals.byFingerprint = map[string]string{}
	for i, p := range spec.Principals {
		for j, fp := range p.Fingerprints {
			v.principals.byFingerprint[normalizeFingerprint(fp)] = p.Name
			v.principals.listed = append(v.principals.listed, listedKey{fmt.Sprintf("spec.principals[%d].fingerprints[%d]", i, j), normalizeFingerprint(fp)})
		}
	}
	for _, r := range spec.Revocations {
		rv := revocation{fingerprint: normalizeFingerprint(r.Fingerprint), from: r.From.Time, reason: r.Reason}
		if r.Identity != nil {
			m := newIdentityMatcher(*r.Identity)
			rv.identity = &m
		}
		v.revocations = append(v.revocations, rv)
	}
	if len(errs) > 0 {
		return nil, errs.err()
	}
	v.collectWarnings()
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// normalizeFingerprint makes OpenPGP fingerprints comparable (upper case, no spaces); SSH
// fingerprints (SHA256:…) are case-sensitive base64 and kept as written.
func normalizeFingerprint(fp string) string {
	if strings.HasPrefix(fp, "SHA256:") {
		return fp
	}
	return strings.ToUpper(strings.ReplaceAll(fp, " ", ""))
}

// Mode returns the policy's verification mode.
func (v *Verifier) Mode() v1alpha1.VerificationMode { return v.mode }

// verifySignature checks one signed object's signature and the revocation list.
func (v *Verifier) verifySignature(payload, sig []byte, at time.Time) (signature.Signer, error) {
	if len(sig) == 0 {
		return signature.Signer{}, fmt.Errorf("%w: no signature", ErrUnsigned)
	}
	m := signature.Detect(sig)
	if m == "" {
		return signature.Signer{}, fmt.Errorf("%w: signature format not recognised (want OpenPGP, SSH or Sigstore)", ErrUnsupported)
	}
	fv, ok := v.formats[m]
	if !ok {
		return signature.Signer{}, fmt.Errorf("%w: signed with %s, but the policy trusts no %s signers", ErrUnknownKey, m, m)
	}
	s, err := fv.Verify(payload, sig, at)
	if err != nil {
		return s, err
	}
	if err := v.checkRevoked(s); err != nil {
		return s, err
	}
	return s, nil
}

func (v *Verifier) checkRevoked(s signature.Signer) error {
	for _, r := range v.revocations {
		hit := false
		if r.fingerprint != "" {
			// A revoked subkey's fingerprint revokes that subkey, not its primary's other subkeys.
			hit = normalizeFingerprint(s.Fingerprint) == r.fingerprint || (s.SubkeyFingerprint != "" && s.SubkeyFingerprint == r.fingerprint)
		} else if r.identity != nil && s.Method == signature.Keyless {
			hit = r.identity.match(s.Issuer, s.Identity)
		}
		if hit && !s.SigningTime.Before(r.from) {
			why := ""
			if r.reason != "" {
				why = " (" + r.reason + ")"
			}
			who := s.Fingerprint
			if s.SubkeyFingerprint == r.fingerprint {
				who = "subkey " + s.SubkeyFingerprint + " of " + s.Fingerprint
			}
			if s.Method == signature.Keyless {
				who = s.Identity + " from " + s.Issuer
			}
			return fmt.Errorf("%w: %s was revoked from %s%s and signed at %s (%s time)", ErrRevoked, who,
				r.from.UTC().Format(time.RFC3339), why, s.SigningTime.UTC().Format(time.RFC3339), s.TimeSource)
		}
	}
	return nil
}

// VerifyCommitObject verifies one raw commit object on its own: its signature, the revocation
// list, and nothing that needs a repository (no approvals, no rollback check). It is what
// `writ verify` does for a commit file, and how the real-commit corpus is checked.
func (v *Verifier) VerifyCommitObject(raw []byte) Result {
	hash := gitobj.Hash("commit", raw)
	c, err := gitobj.ParseCommit(raw)
	if err != nil {
		return rejected(Result{Commit: hash, Type: "commit"}, fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	return v.checkCommit(hash, c)
}

func (v *Verifier) checkCommit(hash string, c *gitobj.Commit) Result {
	if r, ok := v.cache.Load(hash); ok {
		return r.(Result)
	}
	res := Result{Commit: hash, Type: "commit", Subject: subject(c.Message), Committer: c.Committer.String(), CommittedAt: c.Committer.When.UTC()}
	s, err := v.verifySignature(c.Payload, c.Signature, commitTime(c))
	res.Signer = s
	if err != nil {
		return rejected(res, err)
	}
	res.Verdict = Verified
	return res
}

func subject(msg []byte) string {
	s, _, _ := strings.Cut(string(msg), "\n")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// Request says what to verify.
type Request struct {
	// Target is the revision to deploy: a branch, commit or (in Tag mode) tag name.
	Target string
	// Base, in Range mode, is where verification starts: commits reachable from it are not
	// checked. Empty means LastVerified, then the policy's range.base, then the whole history.
	Base string
	// LastVerified is the last target that verified. Unless the policy allows rollback, Target
	// must descend from it.
	LastVerified string
}

// Verify verifies req in repo according to the policy's mode. The error is non-nil only when
// verification could not be carried out (a revision that does not resolve, an unreadable
// repository); a commit that fails verification is reported in the Report, whose Err says why.
func (v *Verifier) Verify(ctx context.Context, repo *Repository, req Request) (*Report, error) {
	if req.Target == "" {
		return nil, fmt.Errorf("%w: no target revision given", ErrRevision)
	}
	rep := &Report{Mode: v.mode, TargetRef: req.Target}
	var target string
	if v.mode == v1alpha1.ModeTag {
		tagHash, err := resolveTag(repo, req.Target)
		if err != nil {
			return nil, err
		}
		tr, commit, err := v.verifyTag(repo, req.Target, tagRefName(repo, req.Target, tagHash), tagHash)
		if err != nil {
			return nil, err
		}
		rep.Tag = &tr
		target = commit
	} else {
		h, err := repo.resolve(req.Target, true)
		if err != nil {
			return nil, err
		}
		target = h
	}
	rep.Target = target

	if req.LastVerified != "" && !v.allowRollback {
		last, err := repo.resolve(req.LastVerified, true)
		if err != nil {
			return nil, err
		}
		ok, err := repo.isAncestor(last, target)
		if err != nil {
			return nil, err
		}
		if !ok {
			rep.Rollback = fmt.Errorf("%w: %s does not descend from the last verified commit %s; set spec.rollback.allow to permit it",
				ErrRollback, short(target), short(last))
		}
	}

	var nodes []*commitNode
	switch v.mode {
	case v1alpha1.ModeRange:
		base := firstNonEmpty(req.Base, req.LastVerified, v.base)
		var bases []string
		if base != "" {
			b, err := repo.resolve(base, true)
			if err != nil {
				return nil, err
			}
			rep.Base = b
			bases = []string{b}
		}
		var err error
		if nodes, err = repo.newCommits(target, bases); err != nil {
			return malformed(rep, err)
		}
	default:
		c, err := repo.loadCommit(target)
		if err != nil {
			return malformed(rep, err)
		}
		nodes = []*commitNode{{hash: target, commit: c}}
	}
	rep.Commits = v.checkAll(ctx, nodes)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := v.checkApprovals(repo, rep.Commits); err != nil {
		return nil, err
	}
	for _, r := range rep.Commits {
		if r.Verdict == Verified {
			v.cache.Store(r.Commit, r)
		}
	}
	return rep, nil
}

// malformed turns an unparseable commit into a rejection in the report; other errors pass.
func malformed(rep *Report, err error) (*Report, error) {
	var me *malformedError
	if !errors.As(err, &me) {
		return nil, err
	}
	rep.Commits = append(rep.Commits, rejected(Result{Commit: me.hash, Type: "commit"}, err))
	return rep, nil
}

// checkAll verifies the commits' signatures in parallel, keeping their order.
func (v *Verifier) checkAll(ctx context.Context, nodes []*commitNode) []Result {
	out := make([]Result, len(nodes))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < v.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = v.checkCommit(nodes[i].hash, nodes[i].commit)
			}
		}()
	}
	for i := range nodes {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// resolveTag returns the tag object target names: a tag ref, or the tag object's own hash (how
// a caller re-verifies a tag it admitted before, after the ref has moved on).
func resolveTag(repo *Repository, target string) (string, error) {
	if len(target) == 40 && strings.Trim(strings.ToLower(target), "0123456789abcdef") == "" {
		if _, typ, err := repo.raw(target); err == nil && typ == plumbing.TagObject {
			return strings.ToLower(target), nil
		}
	}
	return repo.resolve(target, false)
}

// tagRefName returns the tag name target reaches tagHash through (refs/tags/ stripped), or ""
// when target names no tag ref (a hash).
func tagRefName(repo *Repository, target, tagHash string) string {
	name := strings.TrimPrefix(target, "refs/tags/")
	if h, err := repo.resolve("refs/tags/"+name, false); err == nil && h == tagHash {
		return name
	}
	return ""
}

// verifyTag checks a signed annotated tag and returns the commit it points at. refName is the
// name of the ref the tag was reached through ("" when it was named by hash): it must be the
// tag's own name. git does not check this (git verify-tag accepts refs/tags/v2 pointing at the
// tag object of v1); Writ does, since the signature covers the name, and a release tag served
// under a newer name is a replay of an old release.
func (v *Verifier) verifyTag(repo *Repository, name, refName, tagHash string) (Result, string, error) {
	raw, typ, err := repo.raw(tagHash)
	if err != nil {
		return Result{}, "", err
	}
	if typ == plumbing.CommitObject {
		res := Result{Commit: tagHash, Type: "tag", Subject: name}
		return rejected(res, fmt.Errorf("%w: %q is a lightweight tag (a ref straight to commit %s), which carries no signature; Tag mode needs a signed annotated tag: replace it with git tag -s -f %s %s, then git push --force origin refs/tags/%s",
			ErrUnsigned, name, short(tagHash), name, short(tagHash), name)), tagHash, nil
	}
	t, err := gitobj.ParseTag(raw)
	if err != nil {
		return Result{}, "", fmt.Errorf("%w: %q is not an annotated tag: %v", ErrRevision, name, err)
	}
	res := Result{Commit: tagHash, Type: "tag", Subject: t.Name, Committer: t.Tagger.String(), CommittedAt: t.Tagger.When.UTC()}
	if t.Type != "commit" {
		return Result{}, "", fmt.Errorf("%w: tag %q points at a %s, not a commit", ErrRevision, name, t.Type)
	}
	if refName != "" && refName != t.Name {
		return rejected(res, fmt.Errorf("%w: refs/tags/%s points at the signed tag object named %q; a tag counts only under its own name, so this is a replay of %q: sign a new tag (git tag -s %s)",
			ErrTagName, refName, t.Name, t.Name, refName)), t.Object, nil
	}
	if v.tagPattern != "" {
		if ok, _ := path.Match(v.tagPattern, t.Name); !ok {
			return rejected(res, fmt.Errorf("%w: tag %q does not match spec.tag.pattern %q", ErrTagPattern, t.Name, v.tagPattern)), t.Object, nil
		}
	}
	s, err := v.verifySignature(t.Payload, t.Signature, t.Tagger.When)
	res.Signer = s
	if err != nil {
		return rejected(res, err), t.Object, nil
	}
	res.Verdict = Verified
	return res, t.Object, nil
}

// checkApprovals applies the two-person rules to every verified commit that touches their paths.
func (v *Verifier) checkApprovals(repo *Repository, results []Result) error {
	if len(v.approvals) == 0 {
		return nil
	}
	for i := range results {
		r := &results[i]
		if r.Verdict != Verified || r.approved {
			continue
		}
		paths, err := repo.changedPaths(r.Commit)
		if err != nil {
			return err
		}
		for _, rule := range v.approvals {
			if !touches(rule.paths, paths) {
				continue
			}
			approvers, err := v.approvers(repo, r.Commit, rule)
			if err != nil {
				return err
			}
			// Count principals, not keys: two keys of one person are one approver.
			all := append([]signature.Signer{r.Signer}, approvers...)
			of := v.principals.group(all)
			var names []string
			for i, s := range all {
				if of[i] != i {
					continue // not the first signer of its principal
				}
				names = append(names, v.principals.name(s))
				if i > 0 && !slices.ContainsFunc(r.Approvals, func(a signature.Signer) bool { return a.Key() == s.Key() }) {
					r.Approvals = append(r.Approvals, s)
				}
			}
			if len(names) < rule.minSigners {
				*r = rejected(*r, fmt.Errorf("%w: rule %q needs %d distinct principals for changes to %s, found %d (%s): the commit's signer counts once, and so do several keys of one person; add signed tags matching %q by other trusted people",
					ErrNotEnoughApprovals, rule.name, rule.minSigners, strings.Join(rule.paths, ", "), len(names), strings.Join(names, ", "), rule.tagPattern))
				break
			}
		}
		r.approved = true
	}
	return nil
}

func touches(patterns, paths []string) bool {
	for _, p := range paths {
		for _, pat := range patterns {
			if ok, _ := doublestar.Match(pat, p); ok {
				return true
			}
		}
	}
	return false
}

// approvers verifies the approval tags pointing at commit and returns their signers.
func (v *Verifier) approvers(repo *Repository, commit string, rule approvalRule) ([]signature.Signer, error) {
	hashes, _, err := repo.tagsPointingAt(commit)
	if err != nil {
		return nil, err
	}
	var out []signature.Signer
	seen := map[string]bool{}
	for _, h := range hashes {
		if seen[h] {
			continue // one tag object under several refs approves once
		}
		seen[h] = true
		raw, _, err := repo.raw(h)
		if err != nil {
			return nil, err
		}
		t, err := gitobj.ParseTag(raw)
		if err != nil {
			continue // a malformed tag approves nothing
		}
		// The name that counts is the one the tag signs, and the tag must be reached through a
		// ref of that name: a release tag served under approve/… is not an approval.
		if ok, _ := path.Match(rule.tagPattern, t.Name); !ok {
			continue
		}
		if at, err := repo.resolve("refs/tags/"+t.Name, false); err != nil || at != h {
			continue
		}
		s, err := v.verifySignature(t.Payload, t.Signature, t.Tagger.When)
		if err != nil {
			continue // an unsigned or untrusted tag approves nothing
		}
		out = append(out, s)
	}
	return out, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
