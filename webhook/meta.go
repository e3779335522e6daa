package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// meta reads an object's name, labels and annotations, and nothing else: the object's spec,
// data and status, and its managedFields, are skipped without being decoded. The AdmissionReview
// the object came in was decoded whole already, so it is well-formed JSON; anything else is
// refused with an error (and the guard denies).
func meta(raw []byte) (*ObjectMeta, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	m := &ObjectMeta{}
	var md []byte
	if err := members(raw, func(key, value []byte) (bool, error) {
		if string(key) == "metadata" {
			md = value
			return false, nil
		}
		return true, nil
	}); err != nil || md == nil {
		return m, err
	}
	err := members(md, func(key, value []byte) (bool, error) {
		switch string(key) {
		case "name":
			return true, json.Unmarshal(value, &m.name)
		case "labels":
			return true, stringMap(value, &m.Labels)
		case "annotations":
			return true, stringMap(value, &m.Annotations)
		}
		return true, nil
	})
	return m, err
}

var errJSON = errors.New("malformed JSON object")

// stringMap decodes a JSON object of strings (labels, annotations) into *out, adding to it as
// encoding/json does; strings without escapes are taken as they are, without reflection.
func stringMap(value []byte, out *map[string]string) error {
	if string(value) == "null" {
		return nil
	}
	if *out == nil {
		*out = map[string]string{}
	}
	return members(value, func(key, v []byte) (bool, error) {
		k := string(key)
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			var err error
			if k, err = jsonString(append(append([]byte{'"'}, key...), '"')); err != nil {
				return false, err
			}
		}
		if string(v) == "null" {
			(*out)[k] = ""
			return true, nil
		}
		if len(v) < 2 || v[0] != '"' {
			return false, fmt.Errorf("%s: not a string", k)
		}
		s, err := jsonString(v)
		(*out)[k] = s
		return err == nil, err
	})
}

// jsonString decodes a JSON string literal, quotes included.
func jsonString(lit []byte) (string, error) {
	if bytes.IndexByte(lit, '\\') < 0 && utf8.Valid(lit) {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// members calls visit with the raw key (without quotes) and raw value of each member of the
// JSON object obj, in order, until visit returns false or an error.
func members(obj []byte, visit func(key, value []byte) (bool, error)) error {
	i := space(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errJSON
	}
	i = space(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errJSON
		}
		end, err := skipString(obj, i)
		if err != nil {
			return err
		}
		key := obj[i+1 : end-1]
		i = space(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return errJSON
		}
		start := space(obj, i+1)
		if i, err = skipValue(obj, start); err != nil {
			return err
		}
		more, err := visit(key, obj[start:i])
		if err != nil || !more {
			return err
		}
		i = space(obj, i)
		switch {
		case i < len(obj) && obj[i] == ',':
			i = space(obj, i+1)
		case i < len(obj) && obj[i] == '}':
			return nil
		default:
			return errJSON
		}
	}
}

func space(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] (a quote).
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errJSON
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errJSON
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errJSON
	default: // a number, true, false or null
		start := i
		for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\r' && b[i] != '\t' {
			i++
		}
		if i == start {
			return 0, errJSON
		}
		return i, nil
	}
}
