package app

import (
	"writ.dev/writ/cmd/internal/cli"

	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

	"writ.dev/writ/sealing"
)

// secretFile is one input file of a batch and its Secrets.
type secretFile struct {
	rel     string // path below the input directory, with the output extension
	secrets []*corev1.Secret
}

// sealDir seals every Secret file under o.in in one process, on every core, with progress on
// errOut, then writes them all: into -w DIR (a subdirectory per certificate when there are
// several), else as one YAML stream to out. Nothing is written unless every file sealed.
func sealDir(out, errOut io.Writer, sealers []*sealing.Sealer, o sealOptions) error {
	files, err := readSecretDir(o)
	if err != nil {
		return err
	}
	total := len(files) * len(sealers)
	results := make([][]any, total)
	var done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s, f := sealers[j/len(files)], files[j%len(files)]
				objs := make([]any, 0, len(f.secrets))
				for _, sec := range f.secrets {
					ss, err := s.Seal(sec)
					if err != nil {
						errOnce.Do(func() { firstErr = cli.UsageErrorf("%s: Secret %q: %v", f.rel, sec.Name, err) })
						break
					}
					objs = append(objs, ss)
				}
				results[j] = objs
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				fmt.Fprintf(errOut, "\rsealed %d/%d", done.Load(), total)
			}
		}
	}()
	for j := 0; j < total; j++ {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	close(stop)
	fmt.Fprintf(errOut, "\rsealed %d/%d\n", done.Load(), total)
	if firstErr != nil {
		return firstErr
	}
	if o.out == "" || o.out == "-" {
		var all []any
		for _, r := range results {
			all = append(all, r...)
		}
		return sealing.Encode(out, "yaml", all...)
	}
	for j, objs := range results {
		rel := files[j%len(files)].rel
		if len(sealers) > 1 {
			rel = filepath.Join(certName(j/len(files), o.certs[j/len(files)]), rel)
		}
		var buf bytes.Buffer
		if err := sealing.Encode(&buf, o.format, objs...); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(o.out, filepath.Dir(rel)), 0o755); err != nil {
			return cli.UsageErrorf("%v", err)
		}
		if err := replaceFile(filepath.Join(o.out, rel), buf.Bytes(), false); err != nil {
			return err
		}
	}
	fmt.Fprintf(errOut, "wrote %d SealedSecret files under %s\n", total, o.out)
	return nil
}

// readSecretDir reads and checks every *.yaml, *.yml and *.json file below o.in, applying --name,
// --namespace and --scope.
func readSecretDir(o sealOptions) ([]secretFile, error) {
	var files []secretFile
	err := filepath.WalkDir(o.in, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
		default:
			return nil
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		secrets, err := sealing.ReadSecrets(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, s := range secrets {
			if err := prepare(s, o); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		rel, _ := filepath.Rel(o.in, p)
		files = append(files, secretFile{rel: strings.TrimSuffix(rel, filepath.Ext(rel)) + "." + o.format, secrets: secrets})
		return nil
	})
	if err != nil {
		return nil, cli.UsageErrorf("%v", err)
	}
	if len(files) == 0 {
		return nil, cli.UsageErrorf("%s: %v", o.in, errNothingSealed)
	}
	return files, nil
}

// replaceFile writes b beside path and renames it into place. A batch skips the fsync (durable
// false): it is cheap to redo, and a thousand fsyncs cost seconds.
func replaceFile(path string, b []byte, durable bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return cli.UsageErrorf("cannot write next to %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if durable {
		return commitTemp(tmp, path)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
