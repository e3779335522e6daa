package sshsig

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Verifier checks SSH signatures against a compiled allowed_signers file. It is safe for
// concurrent use.
type Verifier struct {
	entries []entry
}

// entry is one line of an allowed_signers file.
type entry struct {
	line int
	// principals are the line's patterns, in order, each possibly negated with "!".
	principals []string
	// identity is the first non-negated principal pattern, as written.
	identity string
	// keyBlob is the listed key in SSH wire format.
	keyBlob []byte
	ca      bool
	// namespaces is the namespaces= pattern list; nil when the line has none (any namespace).
	namespaces []string
	// validAfter and validBefore are Unix seconds; 0 means unset.
	validAfter, validBefore int64
}

const lineFormat = "principals [options] keytype base64-key [comment]"

// Compile parses an allowed_signers file (git's gpg.ssh.allowedSignersFile format, see the
// ALLOWED SIGNERS section of ssh-keygen(1)) and returns a Verifier. Errors name the line number
// and what is wrong; they never quote key material.
func Compile(allowedSigners []byte) (*Verifier, error) {
	v := &Verifier{}
	for n, raw := range bytes.Split(allowedSigners, []byte("\n")) {
		e, ok, err := parseLine(string(raw))
		if err != nil {
			return nil, fmt.Errorf("allowed_signers line %d: %w", n+1, err)
		}
		if ok {
			e.line = n + 1
			v.entries = append(v.entries, e)
		}
	}
	return v, nil
}

// parseLine parses one line. It returns ok false for blank and comment lines.
func parseLine(line string) (entry, bool, error) {
	line = strings.TrimRight(line, "\r")
	line = strings.TrimLeft(line, " \t\r")
	if line == "" || line[0] == '#' {
		return entry{}, false, nil
	}
	if strings.Contains(line, "PRIVATE KEY") {
		return entry{}, false, errors.New("this looks like a private key; allowed_signers holds public keys only: remove it and rotate that key")
	}
	field, rest, err := cutPrincipals(line)
	if err != nil {
		return entry{}, false, err
	}
	e := entry{principals: strings.Split(field, ",")}
	for _, p := range e.principals {
		if p == "" || p == "!" {
			return entry{}, false, errors.New("empty principal in the principals list; remove the extra comma or quote")
		}
		if e.identity == "" && p[0] != '!' {
			e.identity = p
		}
	}
	if e.identity == "" {
		return entry{}, false, errors.New("every principal pattern is negated with \"!\", so the line authorises nobody; add a principal or delete the line")
	}

	key, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return entry{}, false, fmt.Errorf("cannot read the public key or its options; expected %q, with the key copied from the signer's .pub file", lineFormat)
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return entry{}, false, errors.New("a certificate is listed where a public key belongs; list its CA key with the cert-authority option instead")
	}
	e.keyBlob = key.Marshal()
	if err := e.parseOptions(opts); err != nil {
		return entry{}, false, err
	}
	return e, true, nil
}

// cutPrincipals splits the principals field, dequoted, from the rest of the line, as OpenSSH's
// strdelimw does: a field that starts with a double quote runs to the next double quote.
func cutPrincipals(line string) (field, rest string, err error) {
	if line[0] == '"' {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return "", "", errors.New("the quoted principals field has no closing double quote; close it")
		}
		field, rest = line[1:1+end], line[2+end:]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return "", "", errors.New("text follows the closing quote of the principals field; put a space between the principals and the key")
		}
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			i = len(line)
		}
		field, rest = line[:i], line[i:]
		if strings.IndexByte(field, '"') >= 0 {
			return "", "", errors.New("a double quote inside the principals field; quote the whole field, e.g. \"Jane Doe\"")
		}
	}
	rest = strings.TrimLeft(rest, " \t")
	if rest == "" {
		return "", "", fmt.Errorf("principals but no key; expected %q", lineFormat)
	}
	return field, rest, nil
}

// parseOptions applies the options field, as split by ssh.ParseAuthorizedKey.
func (e *entry) parseOptions(opts []string) error {
	const supported = "supported options are cert-authority, namespaces, valid-after and valid-before"
	var seenNamespaces bool
	for _, opt := range opts {
		name, value, hasValue := strings.Cut(opt, "=")
		switch strings.ToLower(name) {
		case "cert-authority":
			if hasValue {
				return errors.New("cert-authority takes no value; write it alone")
			}
			e.ca = true
		case "namespaces":
			if seenNamespaces {
				return errors.New("namespaces is given twice; merge them into one list, e.g. namespaces=\"git,file\"")
			}
			seenNamespaces = true
			v, err := dequote(name, value, hasValue)
			if err != nil {
				return err
			}
			e.namespaces = strings.Split(v, ",")
		case "valid-after":
			if e.validAfter != 0 {
				return errors.New("valid-after is given twice; keep one")
			}
			t, err := parseTimeOption(name, value, hasValue)
			if err != nil {
				return err
			}
			e.validAfter = t
		case "valid-before":
			if e.validBefore != 0 {
				return errors.New("valid-before is given twice; keep one")
			}
			t, err := parseTimeOption(name, value, hasValue)
			if err != nil {
				return err
			}
			e.validBefore = t
		default:
			return fmt.Errorf("unknown option %q; %s", truncate(name, 32), supported)
		}
	}
	if e.validAfter != 0 && e.validBefore != 0 && e.validBefore <= e.validAfter {
		return errors.New("valid-before is not after valid-after; fix the dates")
	}
	return nil
}

// dequote returns the value of a name="value" option, with \" unescaped as OpenSSH does.
func dequote(name, value string, hasValue bool) (string, error) {
	if !hasValue || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return "", fmt.Errorf("%s needs a value in double quotes, e.g. %s=\"...\"", name, name)
	}
	inner := value[1 : len(value)-1]
	if strings.Contains(strings.ReplaceAll(inner, `\"`, ""), `"`) {
		return "", fmt.Errorf("the value of %s has a stray double quote; escape it as \\\" or remove it", name)
	}
	return strings.ReplaceAll(inner, `\"`, `"`), nil
}

// timeLayouts are the lengths ssh-keygen accepts for valid-after and valid-before.
var timeLayouts = map[int]string{
	8:  "20060102",
	12: "200601021504",
	14: "20060102150405",
}

// parseTimeOption parses valid-after="..." or valid-before="..." into Unix seconds. A trailing Z
// or UTC marks UTC; without it ssh-keygen uses local time, but Writ always uses UTC so verdicts do
// not depend on the machine's time zone.
func parseTimeOption(name, value string, hasValue bool) (int64, error) {
	v, err := dequote(name, value, hasValue)
	if err != nil {
		return 0, err
	}
	s := v
	switch {
	case len(s) > 3 && strings.EqualFold(s[len(s)-3:], "UTC"):
		s = s[:len(s)-3]
	case len(s) > 1 && (s[len(s)-1] == 'Z' || s[len(s)-1] == 'z'):
		s = s[:len(s)-1]
	}
	bad := fmt.Errorf("%s=%q is not a time; use YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally followed by Z", name, truncate(v, 32))
	layout, ok := timeLayouts[len(s)]
	if !ok || strings.Trim(s, "0123456789") != "" {
		return 0, bad
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil || t.Unix() <= 0 {
		return 0, bad
	}
	return t.Unix(), nil
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
