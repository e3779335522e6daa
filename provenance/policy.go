package provenance

import (
	"errors"
	"fmt"
	"path"
	"regexp"

	"github.com/bmatcuk/doublestar/v4"
	"sigs.k8s.io/yaml"

	"writ.dev/writ/provenance/api/v1alpha1"
)

// LoadPolicy reads a TrustPolicy from YAML or JSON: a file written for `writ verify`, or the
// output of `kubectl get trustpolicy NAME -o yaml`, unchanged. Unknown fields are errors.
func LoadPolicy(data []byte) (*v1alpha1.TrustPolicy, error) {
	var tp v1alpha1.TrustPolicy
	if err := yaml.UnmarshalStrict(data, &tp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	want := v1alpha1.GroupVersion.String()
	if tp.APIVersion != want || tp.Kind != "TrustPolicy" {
		return nil, fmt.Errorf("%w: apiVersion/kind is %q/%q, want %s/TrustPolicy", ErrInvalidPolicy, tp.APIVersion, tp.Kind, want)
	}
	return &tp, nil
}

// fieldErrors collects validation errors with their field paths.
type fieldErrors []error

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, fmt.Errorf("spec.%s: %s", field, fmt.Sprintf(format, args...)))
}

func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidPolicy, errors.Join(f...))
}

// validate checks what the CRD schema cannot (and everything, for files that never met it).
func validate(s *v1alpha1.TrustPolicySpec) fieldErrors {
	var errs fieldErrors
	switch s.Mode {
	case "", v1alpha1.ModeHead, v1alpha1.ModeRange, v1alpha1.ModeTag:
	default:
		errs.add("mode", "%q is not a mode: use Head, Range or Tag", s.Mode)
	}
	if s.OpenPGP == nil && s.SSH == nil && s.Keyless == nil {
		errs.add("openpgp", "the policy trusts no signer: set at least one of openpgp, ssh and keyless")
	}
	if s.Tag != nil && s.Tag.Pattern != "" {
		if _, err := path.Match(s.Tag.Pattern, ""); err != nil {
			errs.add("tag.pattern", "%q is not a glob: %v", s.Tag.Pattern, err)
		}
	}
	names := map[string]bool{}
	for i, a := range s.Approvals {
		f := fmt.Sprintf("approvals[%d]", i)
		if a.Name == "" {
			errs.add(f+".name", "must be set")
		} else if names[a.Name] {
			errs.add(f+".name", "%q is used twice", a.Name)
		}
		names[a.Name] = true
		if len(a.Paths) == 0 {
			errs.add(f+".paths", "list at least one path glob, e.g. clusters/prod/**")
		}
		for j, p := range a.Paths {
			if p == "" || !doublestar.ValidatePattern(p) {
				errs.add(fmt.Sprintf("%s.paths[%d]", f, j), "%q is not a valid path glob", p)
			}
		}
		if a.MinSigners < 2 {
			errs.add(f+".minSigners", "is %d: a two-person rule needs at least 2", a.MinSigners)
		}
		if a.TagPattern != "" {
			if _, err := path.Match(a.TagPattern, ""); err != nil {
				errs.add(f+".tagPattern", "%q is not a glob: %v", a.TagPattern, err)
			}
		}
	}
	owners := map[string]string{}
	pnames := map[string]bool{}
	for i, p := range s.Principals {
		f := fmt.Sprintf("principals[%d]", i)
		if p.Name == "" {
			errs.add(f+".name", "must be set: name the person or robot holding the keys")
		} else if pnames[p.Name] {
			errs.add(f+".name", "%q is used twice; list all of a principal's keys in one entry", p.Name)
		}
		pnames[p.Name] = true
		if len(p.Fingerprints) == 0 {
			errs.add(f+".fingerprints", "list at least one key fingerprint (OpenPGP hex or SSH SHA256:...)")
		}
		for j, fp := range p.Fingerprints {
			n := normalizeFingerprint(fp)
			switch {
			case n == "":
				errs.add(fmt.Sprintf("%s.fingerprints[%d]", f, j), "is empty")
			case owners[n] != "" && owners[n] != p.Name:
				errs.add(fmt.Sprintf("%s.fingerprints[%d]", f, j), "%s already belongs to principal %q: a key has one holder", fp, owners[n])
			}
			owners[n] = p.Name
		}
	}
	for i, r := range s.Revocations {
		f := fmt.Sprintf("revocations[%d]", i)
		if (r.Fingerprint == "") == (r.Identity == nil) {
			errs.add(f, "set exactly one of fingerprint and identity")
		}
		if r.From.IsZero() {
			errs.add(f+".from", "must say from when the revocation holds (RFC 3339)")
		}
		if r.Identity != nil {
			validateIdentity(&errs, f+".identity", *r.Identity)
		}
	}
	return errs
}

func validateIdentity(errs *fieldErrors, f string, id v1alpha1.KeylessIdentity) {
	if (id.Issuer == "") == (id.IssuerRegExp == "") {
		errs.add(f, "set exactly one of issuer and issuerRegExp")
	}
	if (id.Subject == "") == (id.SubjectRegExp == "") {
		errs.add(f, "set exactly one of subject and subjectRegExp")
	}
	for name, re := range map[string]string{"issuerRegExp": id.IssuerRegExp, "subjectRegExp": id.SubjectRegExp} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			errs.add(f+"."+name, "%q does not compile: %v", re, err)
		}
	}
}

// identityMatcher matches a keyless issuer and subject. Regular expressions must match the whole
// value (they are anchored), as the keyless verifier's identities are.
type identityMatcher struct {
	issuer, subject     string
	issuerRE, subjectRE *regexp.Regexp
}

func newIdentityMatcher(id v1alpha1.KeylessIdentity) identityMatcher {
	m := identityMatcher{issuer: id.Issuer, subject: id.Subject}
	if id.IssuerRegExp != "" {
		m.issuerRE = regexp.MustCompile("^(?:" + id.IssuerRegExp + ")$")
	}
	if id.SubjectRegExp != "" {
		m.subjectRE = regexp.MustCompile("^(?:" + id.SubjectRegExp + ")$")
	}
	return m
}

func (m identityMatcher) match(issuer, subject string) bool {
	okI := issuer == m.issuer
	if m.issuerRE != nil {
		okI = m.issuerRE.MatchString(issuer)
	}
	okS := subject == m.subject
	if m.subjectRE != nil {
		okS = m.subjectRE.MatchString(subject)
	}
	return okI && okS
}
