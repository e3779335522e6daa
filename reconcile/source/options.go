package source

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Auth holds the credentials for one source. Set at most one kind; the zero Auth is anonymous
// access.
type Auth struct {
	// Username and Password are HTTP basic credentials (https://, or http:// to a loopback host).
	Username, Password string
	// BearerToken is sent as "Authorization: Bearer <token>" (https://, or http:// to loopback).
	BearerToken string
	// SSHPrivateKey is an unencrypted private key in PEM or OpenSSH format (ssh:// or
	// user@host:path).
	SSHPrivateKey []byte
	// SSHKnownHosts holds known_hosts lines and is required with SSHPrivateKey: the server's
	// host key is always checked, there is no way to skip it.
	SSHKnownHosts []byte
}

// Ref names the revision to fetch. Set exactly one field.
type Ref struct {
	// Branch is a branch name ("main"; "refs/heads/main" is accepted too). Its tip is used.
	Branch string
	// Tag is a tag name ("v1.2.3" or "refs/tags/v1.2.3"), lightweight or annotated.
	Tag string
	// SemVer is a range over tags, e.g. ">=1.2.0 <2.0.0"; the highest matching tag is used.
	// Tags that are not semantic versions are ignored; "v" prefixes are allowed.
	SemVer string
	// Commit is a full 40-character commit hash. It must be reachable from a branch or tag of
	// the remote.
	Commit string
}

// Options says what to fetch.
type Options struct {
	// URL is the repository: https://, http:// (only loopback hosts may receive credentials
	// over it), ssh://, the scp-like user@host:path form, or file://. Credentials belong in Auth:
	// a URL with a password is rejected.
	URL string
	// Ref is the revision to fetch.
	Ref Ref
	// Auth are the credentials, matching the URL's scheme.
	Auth Auth
	// Depth limits history: 0 fetches it all (needed when the trust policy verifies a range of
	// commits or rejects rollbacks); 1 fetches only the tips. A pinned Commit needs 0.
	Depth int
	// Timeout bounds the whole Fetch; 0 means only ctx bounds it.
	Timeout time.Duration
}

// Errors that Fetch and Checkout wrap, for errors.Is.
var (
	// ErrInvalidOptions: Options are wrong; retrying will not help until they change.
	ErrInvalidOptions = errors.New("invalid source options")
	// ErrRefNotFound: the branch, tag or commit does not exist, or no tag matches the range.
	ErrRefNotFound = errors.New("ref not found")
	// ErrAuth: the server rejected the credentials (or asked for some and none were given).
	ErrAuth = errors.New("authentication failed")
	// ErrHostKey: the SSH server's host key is not in Auth.SSHKnownHosts.
	ErrHostKey = errors.New("ssh host key not trusted")
	// ErrTagName: the tag ref points at an annotated tag object of another name: an old
	// release's tag served under a new name (a replay). git accepts this; Writ does not.
	ErrTagName = errors.New("tag reached under another name")
	// ErrUnsafeTree (from Checkout): the commit's tree holds an entry Writ will not write: a
	// symlink that leaves the tree, a name git refuses ("..", ".git"), a name listed twice, an
	// unknown mode. The commit cannot be deployed as it is; another commit can.
	ErrUnsafeTree = errors.New("unsafe tree")
)

type refKind int

const (
	kindBranch refKind = iota
	kindTag
	kindSemVer
	kindCommit
)

// plan is validated Options, ready to fetch.
type plan struct {
	url        string
	scheme     string // https, http, ssh or file
	host, port string // for ssh host key lookup
	user       string // ssh user
	hasAuth    bool
	kind       refKind
	name       string // branch or tag name, range text or commit hash
	constraint *semver.Constraints
	depth      int
	timeout    time.Duration
}

var fullCommit = regexp.MustCompile(`^[0-9a-f]{40}$`)

// invalid wraps ErrInvalidOptions with an explanation.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
}

// compile validates o. Its errors never quote a credential.
func (o Options) compile() (*plan, error) {
	p := &plan{url: o.URL, depth: o.Depth, timeout: o.Timeout}
	if err := p.parseURL(o.URL); err != nil {
		return nil, err
	}
	if err := p.parseRef(o.Ref); err != nil {
		return nil, err
	}
	if err := p.checkAuth(o.Auth); err != nil {
		return nil, err
	}
	switch {
	case o.Depth < 0:
		return nil, invalid("depth is %d: use 0 for full history or a positive number of commits", o.Depth)
	case o.Depth > 0 && p.kind == kindCommit:
		return nil, invalid("ref.commit needs depth 0: a shallow fetch only has branch and tag tips")
	case o.Timeout < 0:
		return nil, invalid("timeout is negative: use 0 for none")
	}
	return p, nil
}

func (p *plan) parseURL(raw string) error {
	if raw == "" {
		return invalid("url is empty")
	}
	if !strings.Contains(raw, "://") {
		// The scp-like form; go-git's parser decides, so that both agree on host and port.
		ep, err := transport.NewEndpoint(raw)
		if err != nil || ep.Protocol != "ssh" {
			return invalid("url %q has no scheme: use https://, ssh://, user@host:path or file://", raw)
		}
		if strings.Contains(ep.User, ":") {
			return invalid("url carries a password: put credentials in auth instead")
		}
		p.scheme, p.user, p.host = "ssh", ep.User, ep.Host
		p.port = strconv.Itoa(cmp.Or(ep.Port, 22))
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL, which may hold a password
		}
		return invalid("url is not a valid URL: %v", err)
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return invalid("url %s carries a password: put credentials in auth instead", u.Redacted())
	}
	p.scheme = strings.ToLower(u.Scheme)
	p.host, p.port, p.user = u.Hostname(), u.Port(), u.User.Username()
	switch p.scheme {
	case "https", "http", "ssh":
		if p.host == "" {
			return invalid("url %q has no host", raw)
		}
		if p.scheme == "ssh" && p.port == "" {
			p.port = "22"
		}
	case "file":
		if p.host != "" && p.host != "localhost" {
			return invalid("url %q: a file:// URL names a local path (file:///path), not host %q", raw, p.host)
		}
		if u.Path == "" {
			return invalid("url %q has no path", raw)
		}
	default:
		return invalid("url scheme %q is not supported: use https://, ssh://, user@host:path or file://", u.Scheme)
	}
	if _, err := transport.NewEndpoint(raw); err != nil {
		return invalid("url %q: %v", raw, err)
	}
	return nil
}

func (p *plan) parseRef(r Ref) error {
	var set []string
	for _, f := range []struct {
		name, value string
		kind        refKind
	}{{"branch", r.Branch, kindBranch}, {"tag", r.Tag, kindTag}, {"semver", r.SemVer, kindSemVer}, {"commit", r.Commit, kindCommit}} {
		if f.value != "" {
			set = append(set, f.name)
			p.kind, p.name = f.kind, f.value
		}
	}
	if len(set) != 1 {
		got := "none"
		if len(set) > 1 {
			got = strings.Join(set, " and ")
		}
		return invalid("ref: set exactly one of branch, tag, semver and commit (got %s)", got)
	}
	switch p.kind {
	case kindBranch:
		p.name = strings.TrimPrefix(p.name, "refs/heads/")
		if plumbing.NewBranchReferenceName(p.name).Validate() != nil {
			return invalid("ref.branch %q is not a valid branch name", r.Branch)
		}
	case kindTag:
		p.name = strings.TrimPrefix(p.name, "refs/tags/")
		if plumbing.NewTagReferenceName(p.name).Validate() != nil {
			return invalid("ref.tag %q is not a valid tag name", r.Tag)
		}
	case kindSemVer:
		c, err := semver.NewConstraint(p.name)
		if err != nil {
			return invalid("ref.semver %q is not a version range (e.g. \">=1.2.0 <2.0.0\"): %v", p.name, err)
		}
		p.constraint = c
	case kindCommit:
		p.name = strings.ToLower(p.name)
		if !fullCommit.MatchString(p.name) {
			return invalid("ref.commit %q is not a full 40-character commit hash", r.Commit)
		}
	}
	return nil
}

func (p *plan) checkAuth(a Auth) error {
	var kinds []string
	if a.Username != "" || a.Password != "" {
		kinds = append(kinds, "username/password")
	}
	if a.BearerToken != "" {
		kinds = append(kinds, "bearer token")
	}
	if len(a.SSHPrivateKey) > 0 || len(a.SSHKnownHosts) > 0 {
		kinds = append(kinds, "ssh key")
	}
	if len(kinds) > 1 {
		return invalid("auth: set one kind of credentials, not %s", strings.Join(kinds, " and "))
	}
	kind := ""
	if len(kinds) == 1 {
		kind = kinds[0]
	}
	p.hasAuth = kind != ""
	switch p.scheme {
	case "file":
		if kind != "" {
			return invalid("auth: a file:// source takes no credentials (got %s)", kind)
		}
	case "https", "http":
		if kind == "ssh key" {
			return invalid("auth: an ssh key needs an ssh:// or user@host:path url, not %s://", p.scheme)
		}
		if kind == "username/password" && (a.Username == "" || a.Password == "") {
			return invalid("auth: set both username and password for basic authentication")
		}
		if kind != "" && p.scheme == "http" && !isLoopback(p.host) {
			return invalid("auth: refusing to send credentials over plain http to %s: use https", p.host)
		}
	case "ssh":
		switch {
		case kind == "username/password" || kind == "bearer token":
			return invalid("auth: an ssh url takes an ssh key, not a %s", kind)
		case len(a.SSHPrivateKey) == 0:
			return invalid("auth: an ssh url needs auth.sshPrivateKey")
		case len(a.SSHKnownHosts) == 0:
			return invalid("auth: an ssh url needs auth.sshKnownHosts: the host key is always checked (get it with ssh-keyscan and check it out of band)")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
