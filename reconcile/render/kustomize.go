package render

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
)

// buildSlot lets one Kustomize build run at a time: Kustomize keeps its OpenAPI schema in
// package state.
var buildSlot = make(chan struct{}, 1)

// findKustomization returns the kustomization file in dir, or "".
func findKustomization(dir string) string {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && !info.IsDir() {
			return p
		}
	}
	return ""
}

// kustomize builds the kustomization in dir, a real path below the root.
func (r *renderer) kustomize(dir string) error {
	kfile := r.fs.rel(findKustomization(dir))
	s := &scanner{fs: r.fs, seen: map[string]bool{}}
	if err := s.kustomization(dir, false); err != nil {
		return err
	}
	objs, err := build(r.ctx, r.fs, dir)
	if err != nil {
		if r.ctx.Err() != nil {
			return fmt.Errorf("%s: %w", kfile, err)
		}
		cleaned := &cleanedError{msg: r.fs.clean(err.Error()), err: err}
		if errors.Is(err, ErrOutsideRoot) || errors.Is(err, ErrLimit) || errors.Is(err, ErrRemote) {
			return fmt.Errorf("%s: %w", kfile, cleaned)
		}
		return mark(ErrInvalid, "%s: %w", kfile, cleaned)
	}
	for _, o := range objs {
		if err := r.add(o, item{file: kfile}); err != nil {
			return err
		}
	}
	return nil
}

// build runs Kustomize on dir and returns the objects as JSON values. Waiting for the build slot
// and for the build itself both end with ctx; a build abandoned that way finishes in the
// background and frees the slot then.
func build(ctx context.Context, fsys *rootFS, dir string) ([]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case buildSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	type result struct {
		objs []any
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer func() { <-buildSlot }()
		objs, err := runKrusty(fsys, dir)
		done <- result{objs, err}
	}()
	select {
	case res := <-done:
		return res.objs, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func runKrusty(fsys *rootFS, dir string) (objs []any, err error) {
	defer func() {
		if p := recover(); p != nil {
			objs, err = nil, fmt.Errorf("kustomize failed unexpectedly (%v): check the kustomization with kustomize build", p)
		}
	}()
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified // a kustomization's sortOptions, else legacy
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.AddManagedbyLabel = false
	m, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	if err != nil {
		return nil, err
	}
	for _, res := range m.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", res.CurId(), err)
		}
		var v any
		if err := decodeJSON(data, func(_ int, doc any) error { v = doc; return nil }); err != nil {
			return nil, fmt.Errorf("resource %s: %w", res.CurId(), err)
		}
		objs = append(objs, v)
	}
	return objs, nil
}

// cleanedError shows a message with the root's path removed, and unwraps to the original.
type cleanedError struct {
	msg string
	err error
}

func (e *cleanedError) Error() string { return e.msg }
func (e *cleanedError) Unwrap() error { return e.err }

// scanner walks a kustomization and the local ones it uses before Kustomize runs, to refuse
// remote references (Kustomize would fetch them over HTTP or exec git) and references leading
// outside the root, naming the kustomization that holds them.
type scanner struct {
	fs   *rootFS
	seen map[string]bool
}

// kustomization scans the kustomization in dir, if any. configs says dir was reached from
// generators, transformers or validators, so its resources are plugin configurations.
func (s *scanner) kustomization(dir string, configs bool) error {
	if s.seen[dir] {
		return nil
	}
	s.seen[dir] = true
	kf := findKustomization(dir)
	if kf == "" {
		return nil // Kustomize says what is missing
	}
	data, err := s.fs.read(kf)
	if err != nil {
		return err
	}
	name := s.fs.rel(kf)
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return mark(ErrInvalid, "%s: %s", name, strings.TrimPrefix(err.Error(), "invalid Kustomization: "))
	}
	k.FixKustomization()
	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil {
		return mark(ErrInvalid, "%s: helmCharts are not supported: render the chart and commit its output", name)
	}
	for _, p := range append(k.Resources, k.Components...) {
		if err := s.ref(name, dir, p, configs, false); err != nil {
			return err
		}
	}
	for _, list := range [][]string{k.Generators, k.Transformers, k.Validators} {
		for _, p := range list {
			if err := s.ref(name, dir, p, true, true); err != nil {
				return err
			}
		}
	}
	for _, p := range filePaths(&k) {
		if err := checkRemote(name, p); err != nil {
			return err
		}
	}
	return nil
}

// ref checks one entry of resources, components, generators, transformers or validators: a
// local file, a local directory (scanned in turn), or, where inline is allowed, YAML.
func (s *scanner) ref(name, dir, p string, configs, inline bool) error {
	if inline && strings.Contains(p, "\n") {
		return s.config(name, []byte(p))
	}
	if err := checkRemote(name, p); err != nil {
		return err
	}
	if filepath.IsAbs(p) {
		return mark(ErrInvalid, "%s: %q is an absolute path: write it relative to the kustomization", name, p)
	}
	real, err := s.fs.resolve(filepath.Join(dir, filepath.FromSlash(p)))
	if err != nil {
		if errors.Is(err, ErrOutsideRoot) {
			return fmt.Errorf("%s: %q: %w: keep kustomizations and what they use inside the repository", name, p, ErrOutsideRoot)
		}
		return mark(ErrInvalid, "%s: %q: %w", name, p, err)
	}
	info, err := os.Stat(real)
	switch {
	case err != nil && inline:
		return s.config(name, []byte(p)) // a one-line inline configuration, or a path Kustomize rejects
	case err != nil:
		return mark(ErrInvalid, "%s: %q does not exist: fix the path or remove the entry", name, p)
	case info.IsDir():
		return s.kustomization(real, configs)
	case configs:
		data, err := s.fs.read(real)
		if err != nil {
			return err
		}
		return s.config(name, data)
	}
	return nil
}

// pathKeys are the fields of Kustomize's built-in plugin configurations that name files.
var pathKeys = map[string]bool{"path": true, "paths": true, "files": true, "envs": true, "env": true}

// config refuses remote files named by plugin configurations (a PatchTransformer's path, a
// ConfigMapGenerator's files, ...). YAML that does not parse is left for Kustomize to report.
func (s *scanner) config(name string, data []byte) error {
	var docs []any
	if err := decodeYAML(data, func(_ int, v any) error { docs = append(docs, v); return nil }); err != nil {
		return nil
	}
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if pathKeys[k] {
					for _, p := range stringsIn(e) {
						if err := checkRemote(name, p); err != nil {
							return err
						}
					}
				}
				if err := walk(e); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range v {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(docs)
}

// stringsIn returns v if it is a string, or the strings in v if it is a list.
func stringsIn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// filePaths lists the files a kustomization loads besides its resources.
func filePaths(k *types.Kustomization) []string {
	ps := append([]string{}, k.Crds...)
	ps = append(ps, k.Configurations...)
	for _, p := range k.Patches {
		ps = append(ps, p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		ps = append(ps, p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") {
			ps = append(ps, string(p))
		}
	}
	for _, r := range k.Replacements {
		ps = append(ps, r.Path)
	}
	ps = append(ps, k.OpenAPI["path"])
	kv := func(src types.KvPairSources) {
		for _, f := range src.FileSources {
			if _, after, ok := strings.Cut(f, "="); ok {
				f = after
			}
			ps = append(ps, f)
		}
		ps = append(ps, src.EnvSources...)
		ps = append(ps, src.EnvSource)
	}
	for _, g := range k.ConfigMapGenerator {
		kv(g.KvPairSources)
	}
	for _, g := range k.SecretGenerator {
		kv(g.KvPairSources)
	}
	return ps
}

// gitUser is the user@ of an scp-like Git address (git@github.com:org/repo).
var gitUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether Kustomize would fetch p over the network or with git: any URL, the
// git:: prefix, an scp-like address, or a github.com/ path.
func isRemote(p string) bool {
	s := strings.ToLower(strings.TrimSpace(p))
	return strings.Contains(s, "://") || strings.HasPrefix(s, "git::") ||
		strings.HasPrefix(s, "github.com/") || strings.HasPrefix(s, "github.com:") ||
		gitUser.MatchString(strings.TrimSpace(p))
}

func checkRemote(name, p string) error {
	if isRemote(p) {
		return fmt.Errorf("%s: %q: %w (rendering is offline): vendor it into the repository", name, p, ErrRemote)
	}
	return nil
}
