package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// unit is one thing the plain walk found: a manifest file, or a directory holding a
// kustomization, built as one.
type unit struct {
	rel       string // slash-separated, relative to the root; the sort key
	real      string
	kustomize bool
}

// plain renders the manifests below dir (real path) whose path relative to the root is rel.
func (r *renderer) plain(dir, rel string) error {
	var units []unit
	if err := r.walk(dir, rel, map[string]bool{}, &units); err != nil {
		return err
	}
	sort.Slice(units, func(i, j int) bool { return units[i].rel < units[j].rel })
	for _, u := range units {
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("render: %w", err)
		}
		var err error
		if u.kustomize {
			err = r.kustomize(u.real)
		} else {
			err = r.file(u.rel, u.real)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// walk collects the units below dir. Symlinks are followed when they stay inside the root, and
// each real directory is visited once.
func (r *renderer) walk(dir, rel string, visited map[string]bool, units *[]unit) error {
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if visited[dir] {
		return nil
	}
	visited[dir] = true
	if kf := findKustomization(dir); kf != "" {
		*units = append(*units, unit{rel: path.Join(rel, filepath.Base(kf)), real: dir, kustomize: true})
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", displayRel(rel), bare(err))
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		childRel, child := path.Join(rel, name), filepath.Join(dir, name)
		mode := e.Type()
		if mode&os.ModeSymlink != 0 {
			target, err := r.fs.resolve(child)
			if errors.Is(err, ErrOutsideRoot) {
				return fmt.Errorf("symlink %s: %w: replace it with what it points to", childRel, ErrOutsideRoot)
			}
			if err != nil {
				return mark(ErrInvalid, "symlink %s: %w", childRel, err)
			}
			info, err := os.Stat(target)
			if err != nil {
				if isManifest(name) {
					return mark(ErrInvalid, "symlink %s is broken: fix or remove it", childRel)
				}
				continue
			}
			child, mode = target, info.Mode()
		}
		switch {
		case mode.IsDir():
			if err := r.walk(child, childRel, visited, units); err != nil {
				return err
			}
		case mode.IsRegular() && isManifest(name):
			*units = append(*units, unit{rel: childRel, real: child})
		}
	}
	return nil
}

func isManifest(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func displayRel(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// file renders one manifest file.
func (r *renderer) file(rel, real string) error {
	data, err := r.fs.read(real)
	if err != nil {
		return err
	}
	decode := decodeYAML
	if strings.EqualFold(filepath.Ext(rel), ".json") {
		decode = decodeJSON
	}
	var addErr error
	err = decode(data, func(doc int, v any) error {
		addErr = r.add(v, item{file: displayRel(rel), at: fmt.Sprintf("document %d", doc)})
		return addErr
	})
	switch {
	case addErr != nil:
		return addErr
	case errors.Is(err, ErrLimit):
		return mark(ErrLimit, "%s: %w", displayRel(rel), err)
	case err != nil:
		return mark(ErrInvalid, "%s: %w", displayRel(rel), err)
	}
	return nil
}

// decodeYAML calls each with the number and value of every non-empty document in data, values
// being JSON-compatible (map[string]any, []any, string, int64, float64, bool, nil). Timestamps
// and binary scalars keep their text. More than MaxObjects documents, empty ones included, is
// an ErrLimit.
func decodeYAML(data []byte, each func(doc int, v any) error) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 1; ; doc++ {
		if doc > MaxObjects {
			return tooManyDocuments(doc)
		}
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		keepText(&n)
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		if v, err = normalize(v); err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		if v == nil {
			continue
		}
		if err := each(doc, v); err != nil {
			return err
		}
	}
}

// keepText retags timestamp and binary scalars as strings, so they decode to their text as in
// JSON rather than to a time or to bytes.
func keepText(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if t := n.ShortTag(); t == "!!timestamp" || t == "!!binary" {
			n.Tag = "!!str"
		}
	}
	for _, c := range n.Content {
		keepText(c)
	}
}

// decodeJSON is decodeYAML for a stream of JSON values.
func decodeJSON(data []byte, each func(doc int, v any) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for doc := 1; ; doc++ {
		if doc > MaxObjects {
			return tooManyDocuments(doc)
		}
		start := dec.InputOffset()
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return fmt.Errorf("document %d: json: line %d: %w", doc, lineAt(data, syn.Offset), err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("document %d: json: line %d: unexpected end of input", doc, lineAt(data, start))
			}
			return fmt.Errorf("document %d: json: %w", doc, err)
		}
		if v, err = normalize(v); err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		if v == nil {
			continue
		}
		if err := each(doc, v); err != nil {
			return err
		}
	}
}

func tooManyDocuments(doc int) error {
	return mark(ErrLimit, "document %d: more than %d documents in one file (MaxObjects): split the file", doc, MaxObjects)
}

func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}

// normalize converts a decoded value to the types unstructured objects hold.
func normalize(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, int64:
		return v, nil
	case int:
		return int64(v), nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
		return float64(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("a number is NaN or infinite, which JSON cannot hold: quote it")
		}
		return v, nil
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s is out of range: quote it", v)
		}
		return f, nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case []any:
		for i, e := range v {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
		return v, nil
	case map[string]any:
		for k, e := range v {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
		return v, nil
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			key, err := keyString(k)
			if err != nil {
				return nil, err
			}
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			m[key] = n
		}
		return m, nil
	}
	return nil, fmt.Errorf("a value of type %T cannot be represented in JSON", v)
}

// keyString spells a scalar mapping key as a string, as Kubernetes' YAML reader does.
func keyString(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(k), nil
	case int:
		return strconv.Itoa(k), nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case uint64:
		return strconv.FormatUint(k, 10), nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	}
	return "", errors.New("a mapping key is not a scalar: use string keys")
}
