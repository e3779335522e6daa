package provenance

import (
	"strings"

	"writ.dev/writ/provenance/signature"
)

// principals ties signers to the people holding their keys, for two-person rules. A signer is
// known by tokens: its key, the principal spec.principals lists its fingerprint under, and the
// e-mail address its identity names. Signers sharing any token are one principal. Tokens only
// ever merge signers, so no policy entry can make one key count as two approvers: a mistake in
// spec.principals fails closed (too few approvers), never open.
type principals struct {
	byFingerprint map[string]string // normalized fingerprint -> principal name
	listed        []listedKey       // spec.principals' fingerprints, in order, for warnings
}

type listedKey struct {
	field, fingerprint string
}

// principalWarnings names the spec.principals fingerprints that match no trusted primary key:
// such an entry groups nothing (a typo, a key id, a subkey's fingerprint, a key removed since).
// An SSH fingerprint may belong to a key a trusted CA certified, listed nowhere.
func principalWarnings(listed []listedKey, primary map[string]bool, sshCA bool) []string {
	var out []string
	for _, k := range listed {
		if primary[k.fingerprint] || (sshCA && strings.HasPrefix(k.fingerprint, "SHA256:")) {
			continue
		}
		out = append(out, k.field+": "+k.fingerprint+" matches no trusted key's (primary) fingerprint, so it groups nothing; check it")
	}
	return out
}

// tokens returns what ties s to a principal.
func (p principals) tokens(s signature.Signer) []string {
	out := []string{"key:" + s.Key()}
	if s.Method != signature.Keyless {
		if name, ok := p.byFingerprint[normalizeFingerprint(s.Fingerprint)]; ok {
			out = append(out, "principal:"+name)
			if e := emailOf(name); e != "" {
				out = append(out, "email:"+e)
			}
		}
	}
	if e := emailOf(s.Identity); e != "" {
		out = append(out, "email:"+e)
	}
	return out
}

// name is how a principal is shown: the name spec.principals gives it, else its e-mail address,
// else its key.
func (p principals) name(s signature.Signer) string {
	if s.Method != signature.Keyless {
		if name, ok := p.byFingerprint[normalizeFingerprint(s.Fingerprint)]; ok {
			return name
		}
	}
	if e := emailOf(s.Identity); e != "" {
		return e
	}
	return s.ID()
}

// group partitions signers into principals and returns, for each signer, the index of the first
// signer of its principal.
func (p principals) group(signers []signature.Signer) []int {
	parent := make([]int, len(signers))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, s := range signers {
		for _, t := range p.tokens(s) {
			j, ok := owner[t]
			if !ok {
				owner[t] = i
				continue
			}
			a, b := find(i), find(j)
			if a > b {
				a, b = b, a
			}
			parent[b] = a // the earliest signer stays the representative
		}
	}
	out := make([]int, len(signers))
	for i := range signers {
		out[i] = find(i)
	}
	return out
}

// emailOf returns the lower-cased e-mail address an identity names ("Alice <alice@example.com>",
// "alice@example.com"), or "" when it names none. allowed_signers patterns ("*@example.com",
// "!x@y,z@y") may stand for many people and name no one.
func emailOf(identity string) string {
	identity = strings.TrimSpace(identity)
	if i, j := strings.LastIndex(identity, "<"), strings.LastIndex(identity, ">"); i >= 0 && j > i {
		identity = identity[i+1 : j] // an OpenPGP user id: "Name (comment) <address>"
	}
	if strings.Count(identity, "@") != 1 || strings.HasPrefix(identity, "@") || strings.HasSuffix(identity, "@") ||
		strings.ContainsAny(identity, " \t<>*?!,\"") {
		return ""
	}
	return strings.ToLower(identity)
}
