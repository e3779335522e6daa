package gitobj

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // Git object names are SHA-1.
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed git object")

// Person is an author, committer or tagger line.
type Person struct {
	Name  string
	Email string
	When  time.Time
}

func (p Person) String() string { return fmt.Sprintf("%s <%s>", p.Name, p.Email) }

// Commit is a parsed commit object.
type Commit struct {
	Tree      string
	Parents   []string
	Author    Person
	Committer Person
	Message   []byte
	// Payload is the object without its signature headers: what the signature covers.
	Payload []byte
	// Signature is the armored signature from the gpgsig header, or nil if unsigned.
	Signature []byte
}

// Tag is a parsed annotated tag object.
type Tag struct {
	Object  string
	Type    string
	Name    string
	Tagger  Person
	Message []byte
	// Payload is the tag without its signature; Signature the armored signature, or nil.
	Payload   []byte
	Signature []byte
}

// Hash returns the SHA-1 object name of a raw object of the given type ("commit", "tag").
func Hash(objType string, raw []byte) string {
	h := sha1.New() //nolint:gosec
	fmt.Fprintf(h, "%s %d\x00", objType, len(raw))
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))
}

// header is one header with its continuation lines joined by '\n'.
type header struct {
	key   string
	value []byte
	start int // byte offsets of the whole header (key line and continuations) in raw
	end   int
}

// splitHeaders parses the header block of raw: lines up to the first empty line. Continuation
// lines start with a space; their value is the line without that space.
func splitHeaders(raw []byte) (hs []header, body []byte, err error) {
	pos := 0
	for {
		if pos >= len(raw) {
			return hs, nil, nil // no message: headers only
		}
		nl := bytes.IndexByte(raw[pos:], '\n')
		if nl < 0 {
			return nil, nil, fmt.Errorf("%w: header line without newline at byte %d", ErrMalformed, pos)
		}
		line := raw[pos : pos+nl]
		next := pos + nl + 1
		switch {
		case len(line) == 0:
			return hs, raw[next:], nil
		case line[0] == ' ':
			if len(hs) == 0 {
				return nil, nil, fmt.Errorf("%w: continuation line before any header", ErrMalformed)
			}
			h := &hs[len(hs)-1]
			h.value = append(append(h.value, '\n'), line[1:]...)
			h.end = next
		default:
			key, value, ok := bytes.Cut(line, []byte{' '})
			if !ok || len(key) == 0 {
				return nil, nil, fmt.Errorf("%w: header line %q has no value", ErrMalformed, truncate(line))
			}
			hs = append(hs, header{key: string(key), value: append([]byte(nil), value...), start: pos, end: next})
		}
		pos = next
	}
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// singletons are headers that may appear at most once; git uses the first, some libraries the
// last, so a second one is an attack.
var singletons = map[string]bool{
	"tree": true, "author": true, "committer": true, "encoding": true,
	"object": true, "type": true, "tag": true, "tagger": true,
	"gpgsig": true, "gpgsig-sha256": true,
}

func isSignatureHeader(k string) bool { return k == "gpgsig" || k == "gpgsig-sha256" }

// index checks singletons and returns the first value of each header key.
func index(hs []header) (map[string][]byte, error) {
	m := map[string][]byte{}
	for _, h := range hs {
		if _, dup := m[h.key]; dup && singletons[h.key] {
			return nil, fmt.Errorf("%w: duplicate %q header", ErrMalformed, h.key)
		}
		if _, ok := m[h.key]; !ok {
			m[h.key] = h.value
		}
	}
	return m, nil
}

// withoutSignatureHeaders returns raw with every gpgsig / gpgsig-sha256 header removed.
func withoutSignatureHeaders(raw []byte, hs []header) []byte {
	var out []byte
	last := 0
	for _, h := range hs {
		if isSignatureHeader(h.key) {
			out = append(out, raw[last:h.start]...)
			last = h.end
		}
	}
	if out == nil && last == 0 {
		return raw
	}
	return append(out, raw[last:]...)
}

// ParseCommit parses a raw commit object.
func ParseCommit(raw []byte) (*Commit, error) {
	hs, body, err := splitHeaders(raw)
	if err != nil {
		return nil, err
	}
	m, err := index(hs)
	if err != nil {
		return nil, err
	}
	c := &Commit{Message: body, Payload: withoutSignatureHeaders(raw, hs)}
	if len(hs) == 0 || hs[0].key != "tree" {
		return nil, fmt.Errorf("%w: a commit starts with a tree header", ErrMalformed)
	}
	if c.Tree, err = objectName(m["tree"], "tree"); err != nil {
		return nil, err
	}
	for _, h := range hs {
		if h.key == "parent" {
			p, err := objectName(h.value, "parent")
			if err != nil {
				return nil, err
			}
			c.Parents = append(c.Parents, p)
		}
	}
	if c.Author, err = parsePerson(m["author"], "author"); err != nil {
		return nil, err
	}
	if c.Committer, err = parsePerson(m["committer"], "committer"); err != nil {
		return nil, err
	}
	if sig, ok := m["gpgsig"]; ok {
		c.Signature = sig
	}
	return c, nil
}

// ParseTag parses a raw annotated tag object. The signature of a tag follows its message; a
// gpgsig header (the SHA-256 transition's form) is accepted too.
func ParseTag(raw []byte) (*Tag, error) {
	hs, body, err := splitHeaders(raw)
	if err != nil {
		return nil, err
	}
	m, err := index(hs)
	if err != nil {
		return nil, err
	}
	t := &Tag{Type: string(m["type"]), Name: string(m["tag"])}
	if t.Object, err = objectName(m["object"], "object"); err != nil {
		return nil, err
	}
	if t.Type == "" || t.Name == "" {
		return nil, fmt.Errorf("%w: a tag needs type and tag headers", ErrMalformed)
	}
	if _, ok := m["tagger"]; ok {
		if t.Tagger, err = parsePerson(m["tagger"], "tagger"); err != nil {
			return nil, err
		}
	}
	payload := withoutSignatureHeaders(raw, hs)
	if sig, ok := m["gpgsig"]; ok {
		t.Signature = sig
	}
	// A signature appended to the message starts at a line beginning with an armor header.
	if i := trailingSignature(payload); i >= 0 {
		if t.Signature != nil {
			return nil, fmt.Errorf("%w: tag carries two signatures", ErrMalformed)
		}
		t.Signature = payload[i:]
		payload = payload[:i]
	}
	t.Payload = payload
	msgStart := len(raw) - len(body)
	if body != nil && msgStart <= len(payload) {
		t.Message = payload[msgStart:]
	}
	return t, nil
}

var armorStarts = [][]byte{
	[]byte("-----BEGIN PGP SIGNATURE-----"),
	[]byte("-----BEGIN SSH SIGNATURE-----"),
	[]byte("-----BEGIN SIGNED MESSAGE-----"),
}

// trailingSignature returns the offset of the last line that begins an armored signature, or -1.
// That is git's rule for tags (parse_signed_buffer): everything before the last armor line is the
// signed payload, so a message that quotes an armored block is signed like any other text, and a
// second armor appended after a good one becomes the signature (over a payload it was not made
// for).
func trailingSignature(b []byte) int {
	last := -1
	for line := 0; line < len(b); {
		for _, a := range armorStarts {
			if bytes.HasPrefix(b[line:], a) {
				last = line
				break
			}
		}
		nl := bytes.IndexByte(b[line:], '\n')
		if nl < 0 {
			break
		}
		line += nl + 1
	}
	return last
}

func objectName(v []byte, what string) (string, error) {
	s := string(v)
	if len(s) != 40 && len(s) != 64 {
		return "", fmt.Errorf("%w: %s %q is not an object name", ErrMalformed, what, truncate(v))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("%w: %s %q is not hex", ErrMalformed, what, truncate(v))
	}
	return s, nil
}

// parsePerson parses "Name <email> 1700000000 +0100".
func parsePerson(v []byte, what string) (Person, error) {
	if v == nil {
		return Person{}, fmt.Errorf("%w: missing %s header", ErrMalformed, what)
	}
	lt := bytes.IndexByte(v, '<')
	gt := bytes.LastIndexByte(v, '>')
	if lt < 0 || gt < lt {
		return Person{}, fmt.Errorf("%w: %s %q has no <email>", ErrMalformed, what, truncate(v))
	}
	p := Person{Name: string(bytes.TrimSpace(v[:lt])), Email: string(v[lt+1 : gt])}
	rest := bytes.Fields(v[gt+1:])
	if len(rest) != 2 {
		return Person{}, fmt.Errorf("%w: %s %q has no timestamp and zone", ErrMalformed, what, truncate(v))
	}
	secs, err := strconv.ParseInt(string(rest[0]), 10, 64)
	if err != nil {
		return Person{}, fmt.Errorf("%w: %s timestamp %q", ErrMalformed, what, rest[0])
	}
	zone := rest[1]
	if len(zone) != 5 || (zone[0] != '+' && zone[0] != '-') {
		return Person{}, fmt.Errorf("%w: %s zone %q", ErrMalformed, what, zone)
	}
	hh, err1 := strconv.Atoi(string(zone[1:3]))
	mm, err2 := strconv.Atoi(string(zone[3:5]))
	if err1 != nil || err2 != nil {
		return Person{}, fmt.Errorf("%w: %s zone %q", ErrMalformed, what, zone)
	}
	off := hh*3600 + mm*60
	if zone[0] == '-' {
		off = -off
	}
	p.When = time.Unix(secs, 0).In(time.FixedZone(string(zone), off))
	return p, nil
}
