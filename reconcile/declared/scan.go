package declared

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every error FirstDiffJSON returns for input that is not a well-formed
// JSON object (the grammar of RFC 8259, as encoding/json accepts it).
var ErrMalformed = errors.New("the live object is not well-formed JSON")

// scanner reads one JSON document. Its buffers are reused across documents (see scanners), so
// that comparing a matching object allocates nothing.
type scanner struct {
	b []byte
	i int
	f *Fields // the declaration being compared
	// valid is the caller's word that b is valid JSON (FirstDiffValidJSON): skipValue then only
	// matches brackets and strings (skipValid) instead of checking every byte.
	valid bool
	// slow: never take the fast path of a span known to match (exact), to verify one.
	slow bool
	// readAt, readEnd: a value of b the caller has already read whole (FirstDiffValidJSONRead),
	// b[readAt:readEnd]; skipValid jumps over it. readEnd is 0 when there is none.
	readAt, readEnd int

	slots []slot // per declared key or element, a stack shared by the nested objects and lists
	names []span // the live element names of the named list being read, in nbuf
	nbuf  []byte // decoded live element names
	sbuf  []byte // a decoded live string
	kbuf  []byte // a decoded live key value (elementID)
	ibuf  []byte // the identity of a live list element (elementID)
	stack []byte // the open containers skipValue is inside
	pairs []pair // the members of the old fieldsV1 objects FirstUndeclaredGain is inside
}

// slot is the result for one declared key or element of the object or list being read.
type slot struct {
	seen    bool
	differs bool
	path    string
}

type span struct{ start, end int }

func (s *scanner) release() {
	s.b, s.valid, s.f, s.slow, s.readAt, s.readEnd = nil, false, nil, false, 0, 0
	s.slots, s.names, s.nbuf, s.sbuf, s.stack, s.kbuf, s.ibuf = s.slots[:0], s.names[:0], s.nbuf[:0], s.sbuf[:0], s.stack[:0], s.kbuf[:0], s.ibuf[:0]
	clear(s.pairs[:cap(s.pairs)]) // drop the references to the objects read
	s.pairs = s.pairs[:0]
	clear(s.slots[:cap(s.slots)]) // drop the paths of the last difference
	scanners.Put(s)
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, fmt.Sprintf(format, args...), s.i)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *scanner) peek() byte {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return s.b[s.i]
	}
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// peekAt returns the position of the next byte after white space.
func (s *scanner) peekAt() int {
	s.peek()
	return s.i
}

// expect consumes c after white space.
func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.unexpected("'" + string(c) + "'")
	}
	s.i++
	return nil
}

func (s *scanner) unexpected(want string) error {
	if s.i >= len(s.b) {
		return s.errorf("unexpected end, want %s", want)
	}
	return s.errorf("unexpected %q, want %s", s.b[s.i], want)
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// str reads a string at s.i (the opening quote) and returns its raw contents; plain means they
// are printable ASCII without escapes, and so are their own decoded value.
func (s *scanner) str() (raw []byte, plain bool, err error) {
	start := s.i + 1
	end, plain := endOfString(s.b, s.i)
	if end < 0 {
		return nil, false, s.errorf("malformed string")
	}
	s.i = end
	return s.b[start : end-1], plain, nil
}

// endOfString returns the index after the string whose opening quote is at b[i], and whether
// its contents are plain (printable ASCII without escapes); -1 if it is malformed or unterminated.
func endOfString(b []byte, i int) (int, bool) {
	i++ // the opening quote
	plain := true
	for {
		// Eight bytes at a time: stop at a quote, a backslash, a control or a non-ASCII byte.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^(ones*'"'), x^(ones*'\\')
			m := ((q - ones) &^ q) | ((bs - ones) &^ bs) | ((x - ones*0x20) &^ x) | x
			if m &= highs; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return -1, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					return -1, false
				}
				i += 6
			default:
				return -1, false
			}
		case c < 0x20:
			return -1, false
		case c >= utf8.RuneSelf:
			plain = false
			i++
		default:
			i++
		}
	}
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// unquote appends the decoded value of the raw contents of a well-formed string to dst, exactly
// as encoding/json decodes it (invalid UTF-8 and lone surrogates become U+FFFD).
func unquote(dst, raw []byte) []byte {
	for r := 0; r < len(raw); {
		switch c := raw[r]; {
		case c == '\\':
			switch e := raw[r+1]; e {
			case 'b':
				dst, r = append(dst, '\b'), r+2
			case 'f':
				dst, r = append(dst, '\f'), r+2
			case 'n':
				dst, r = append(dst, '\n'), r+2
			case 'r':
				dst, r = append(dst, '\r'), r+2
			case 't':
				dst, r = append(dst, '\t'), r+2
			case 'u':
				rr := hex4(raw[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if r+6 <= len(raw) && raw[r] == '\\' && raw[r+1] == 'u' {
						if dec := utf16.DecodeRune(rr, hex4(raw[r+2:])); dec != unicode.ReplacementChar {
							dst, r = utf8.AppendRune(dst, dec), r+6
							break
						}
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
			default: // '"', '\\', '/'
				dst, r = append(dst, e), r+2
			}
		case c < utf8.RuneSelf:
			dst, r = append(dst, c), r+1
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			dst, r = utf8.AppendRune(dst, rr), r+size
		}
	}
	return dst
}

// text returns the decoded value of a string read by str, in buf when it needs decoding.
func text(raw []byte, plain bool, buf *[]byte) []byte {
	if plain {
		return raw
	}
	*buf = unquote((*buf)[:0], raw)
	return *buf
}

// number reads a number at s.i and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return nil, s.unexpected("a digit")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return nil, s.unexpected("a digit")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return nil, s.unexpected("a digit")
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i, n = s.i+1, n+1
	}
	return n
}

// numberValue is the value of a well-formed number's text, as encoding/json decodes it into a
// float64; a number out of range is malformed for comparison (encoding/json refuses it too).
func (s *scanner) numberValue(t []byte) (float64, error) {
	if len(t) <= 16 { // an integer of up to 15 digits is exact in a float64: no strconv, no allocation
		neg, d := t[0] == '-', t
		if neg {
			d = d[1:]
		}
		var v int64
		ok := len(d) <= 15
		for _, c := range d {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + int64(c-'0')
		}
		if ok {
			if neg {
				return -float64(v), nil
			}
			return float64(v), nil
		}
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		return 0, s.errorf("number %s out of range", t)
	}
	return f, nil
}

var literals = [256]string{'t': "true", 'f': "false", 'n': "null"}

// literal consumes true, false or null at s.i.
func (s *scanner) literal(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.unexpected("a value")
	}
	s.i += len(word)
	return nil
}

// skipValue consumes one value at s.i (after white space) without decoding it: checking it is
// well formed, or, when the caller vouches that the document is valid JSON, only finding its end
// (skipValid). It keeps its own stack, so deep nesting cannot exhaust the goroutine's.
func (s *scanner) skipValue() error {
	if s.valid {
		return s.skipValid()
	}
	b, i := s.b, s.i
	base := len(s.stack)
	for {
		// A value.
		i = skipWS(b, i)
		if i >= len(b) {
			return s.fail(base, i, "a value")
		}
		switch c := b[i]; c {
		case '"':
			if i, _ = endOfString(b, i); i < 0 {
				i = len(b)
				return s.fail(base, i, "the end of a string")
			}
		case '{', '[':
			close := c + 2 // '}' or ']'
			if i = skipWS(b, i+1); i < len(b) && b[i] == close {
				i++
				break
			}
			s.stack = append(s.stack, close)
			if c == '{' {
				var ok bool
				if i, ok = skipKey(b, i); !ok {
					return s.fail(base, i, "a key")
				}
			}
			continue
		case 't', 'f', 'n':
			w := literals[c]
			if len(b)-i < len(w) || string(b[i:i+len(w)]) != w {
				return s.fail(base, i, "a value")
			}
			i += len(w)
		default:
			s.i = i
			if _, err := s.number(); err != nil {
				s.stack = s.stack[:base]
				return err
			}
			i = s.i
		}
		// After a value: close what ends here, or go on to the next element.
		for {
			if len(s.stack) == base {
				s.i = i
				return nil
			}
			top := s.stack[len(s.stack)-1]
			if i = skipWS(b, i); i >= len(b) {
				return s.fail(base, i, "',' or '"+string(top)+"'")
			}
			if b[i] == top {
				i++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if b[i] != ',' {
				return s.fail(base, i, "',' or '"+string(top)+"'")
			}
			i++
			if top == '}' {
				var ok bool
				if i, ok = skipKey(b, i); !ok {
					return s.fail(base, i, "a key")
				}
			}
			break
		}
	}
}

// fail ends skipValue with an error at b[i] (i is kept in a register while skipping, not in a
// closure).
func (s *scanner) fail(base, i int, want string) error {
	s.i, s.stack = i, s.stack[:base]
	return s.unexpected(want)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipKey consumes an object key and its colon at b[i:] (after white space).
func skipKey(b []byte, i int) (int, bool) {
	if i = skipWS(b, i); i >= len(b) || b[i] != '"' {
		return i, false
	}
	if i, _ = endOfString(b, i); i < 0 {
		return len(b), false
	}
	if i = skipWS(b, i); i >= len(b) || b[i] != ':' {
		return i, false
	}
	return i + 1, true
}

// skipValid consumes one value at s.i (after white space) of a document known to be valid JSON:
// it matches brackets and strings (honouring backslash escapes) and checks nothing else, so a
// number, a literal, a colon or a bracket of the wrong kind is not looked at. On input that is not
// valid JSON it stays within s.b and returns an error only if the value does not end; whatever
// else it consumed, the walk then reads on from there.
func (s *scanner) skipValid() error {
	if s.readEnd > 0 && skipWS(s.b, s.i) == s.readAt {
		s.i = s.readEnd
		return nil
	}
	if end := validEnd(s.b, s.i); end >= 0 {
		s.i = end
		return nil
	}
	s.i = len(s.b)
	return s.unexpected("the end of a value")
}

// validEnd is skipValid's walk: the index after the value at b[i:] (after white space), or -1 if
// it does not end.
func validEnd(b []byte, i int) int {
	depth := 0
	for i = skipWS(b, i); i < len(b); {
		switch c := b[i]; {
		case c == '"':
			if i = skipString(b, i); i < 0 {
				return -1
			}
		case c == '{' || c == '[':
			depth, i = depth+1, i+1
		case depth == 0: // a number or a literal: up to the next delimiter
			for i < len(b) && !delimiter[b[i]] {
				i++
			}
		default: // '}' or ']' (the only other bytes stopped at inside an object or list)
			depth, i = depth-1, i+1
		}
		if depth == 0 {
			return i
		}
		for i < len(b) && !structural[b[i]] {
			i++
		}
	}
	return -1
}

// structural marks the bytes skipValid looks for inside an object or list; delimiter, those that
// end a number or a literal.
var structural, delimiter = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true},
	[256]bool{',': true, '}': true, ']': true, ':': true, ' ': true, '\t': true, '\n': true, '\r': true, '"': true, '{': true, '[': true}

// skipString returns the index after the string whose opening quote is at b[i], without checking
// its contents (a backslash escapes the byte after it); -1 if it does not end.
func skipString(b []byte, i int) int {
	i++ // the opening quote
	for {
		// Eight bytes at a time: stop at a quote or a backslash.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^(ones*'"'), x^(ones*'\\')
			if m := (((q - ones) &^ q) | ((bs - ones) &^ bs)) & highs; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i += 2
		default: // the eight-byte test may stop short of the byte it found
			i++
		}
	}
}
