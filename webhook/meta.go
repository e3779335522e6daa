package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"writ.dev/writ/wellknown"
)

// meta reads an object's name, labels and annotations, and where its managedFields are, and
// nothing else: the object's spec, data and status, and its managedFields, are skipped without
// being decoded. The AdmissionReview
// the object came in was decoded whole already, so it is well-formed JSON; anything else is
// refused with an error (and the guard denies).
//
// Only the labels and annotations the guard decides on are kept (see ObjectMeta): every label when
// allLabels (a Namespace's labels meet namespace selectors), else the tracking labels.
func meta(raw []byte, allLabels bool) (*ObjectMeta, error) {
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
	labels := keptLabels
	if allLabels {
		labels = nil
	}
	err := members(md, func(key, value []byte) (bool, error) {
		switch string(key) {
		case "name":
			if len(value) < 2 || value[0] != '"' {
				return true, json.Unmarshal(value, &m.name) // null, or not a string: encoding/json's answer
			}
			var err error
			m.name, err = jsonString(value)
			return err == nil, err
		case "labels":
			return true, stringMap(value, &m.Labels, labels)
		case "annotations":
			return true, stringMap(value, &m.Annotations, keptAnnotations)
		case "uid":
			m.uid = value
		case "resourceVersion":
			m.resourceVersion = value
		case "managedFields":
			if len(value) > 0 && value[0] == '[' {
				m.managedFields = value
			}
		}
		return true, nil
	})
	return m, err
}

// The labels and annotations the guard decides on, of objects other than Namespaces.
var (
	keptLabels      = keySet(append([]string{ArgoCDInstanceLabel}, trackingLabels...)...)
	keptAnnotations = keySet(append([]string{wellknown.SourceAnnotation}, trackingAnnotations...)...)
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

var errJSON = errors.New("malformed JSON object")

// stringMap decodes a JSON object of strings (labels, annotations) into *out, adding to it as
// encoding/json does, and keeping only the keys in keep (all when keep is nil). Every value must
// be a string or null; only kept ones are decoded (strings without escapes are taken as they
// are, without reflection), so a key the guard does not read costs no allocation.
func stringMap(value []byte, out *map[string]string, keep map[string]bool) error {
	if string(value) == "null" {
		return nil
	}
	return members(value, func(key, v []byte) (bool, error) {
		if string(v) != "null" && (len(v) < 2 || v[0] != '"') {
			return false, fmt.Errorf("%s: not a string", key)
		}
		plain := bytes.IndexByte(key, '\\') < 0 && utf8.Valid(key)
		if keep != nil && plain && !keep[string(key)] {
			return true, nil
		}
		k := string(key)
		if !plain {
			var err error
			if k, err = jsonString(append(append([]byte{'"'}, key...), '"')); err != nil {
				return false, err
			}
			if keep != nil && !keep[k] {
				return true, nil
			}
		}
		if *out == nil {
			*out = map[string]string{}
		}
		if string(v) == "null" {
			(*out)[k] = ""
			return true, nil
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
	for i++; i < len(b); {
		// Jump to the next quote or backslash (IndexByte is vectorised; most strings have no
		// escapes, so this is one or two calls per string).
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return 0, errJSON
		}
		e := bytes.IndexByte(b[i:i+q], '\\')
		if e < 0 {
			return i + q + 1, nil
		}
		i += e + 2 // skip the backslash and the character it escapes
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
