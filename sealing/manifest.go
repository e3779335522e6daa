package sealing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigyaml "sigs.k8s.io/yaml"
)

// ReadSecrets reads one or more Secrets (YAML documents, JSON objects, or a v1 List of
// Secrets). Anything that is not a Secret is an error naming the document.
func ReadSecrets(r io.Reader) ([]*corev1.Secret, error) {
	var out []*corev1.Secret
	err := eachDocument(r, func(i int, raw json.RawMessage, kind, apiVersion string) error {
		if kind == "List" {
			var l struct{ Items []json.RawMessage }
			if err := json.Unmarshal(raw, &l); err != nil {
				return fmt.Errorf("document %d: %w", i, err)
			}
			for j, item := range l.Items {
				s, err := decodeSecret(item)
				if err != nil {
					return fmt.Errorf("document %d, item %d: %w", i, j, err)
				}
				out = append(out, s)
			}
			return nil
		}
		s, err := decodeSecret(raw)
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no Secret in the input: pipe one in (kubectl create secret ... --dry-run=client -o yaml) or pass -f FILE")
	}
	return out, nil
}

func decodeSecret(raw []byte) (*corev1.Secret, error) {
	var tm struct{ Kind, APIVersion string }
	_ = json.Unmarshal(raw, &tm)
	if tm.Kind != "Secret" || (tm.APIVersion != "v1" && tm.APIVersion != "") {
		return nil, fmt.Errorf("not a Secret (kind %q, apiVersion %q): writ seal seals v1 Secrets", tm.Kind, tm.APIVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	s := &corev1.Secret{}
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("not a valid Secret: %w", err)
	}
	return s, nil
}

// ReadSealedSecrets reads one or more SealedSecrets (YAML documents or JSON objects).
func ReadSealedSecrets(r io.Reader) ([]*ssv1alpha1.SealedSecret, error) {
	var out []*ssv1alpha1.SealedSecret
	err := eachDocument(r, func(i int, raw json.RawMessage, _, _ string) error {
		ss, err := DecodeSealedSecret(raw)
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		out = append(out, ss)
		return nil
	})
	if err == nil && len(out) == 0 {
		err = errors.New("no SealedSecret in the input")
	}
	return out, err
}

func eachDocument(r io.Reader, f func(i int, raw json.RawMessage, kind, apiVersion string) error) error {
	dec := yaml.NewYAMLOrJSONDecoder(r, 4096)
	for i := 1; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("document %d is not YAML or JSON: %w", i, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var tm struct{ Kind, APIVersion string }
		if err := json.Unmarshal(raw, &tm); err != nil {
			return fmt.Errorf("document %d is not an object: %w", i, err)
		}
		if err := f(i, raw, tm.Kind, tm.APIVersion); err != nil {
			return err
		}
	}
}

// Encode writes objects in format "json" (one indented object after another, as kubeseal does)
// or "yaml" (documents separated by ---).
func Encode(w io.Writer, format string, objs ...any) error {
	for i, o := range objs {
		var b []byte
		var err error
		switch strings.ToLower(format) {
		case "json":
			b, err = json.MarshalIndent(o, "", "  ")
			b = append(b, '\n')
		case "yaml":
			b, err = sigyaml.Marshal(o)
			if i > 0 {
				b = append([]byte("---\n"), b...)
			}
		default:
			return fmt.Errorf("unknown output format %q: use json or yaml", format)
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// ReadPrivateKeys reads recovery keys: PEM private keys, or a backup of key Secrets (a Secret or
// a List of them, YAML or JSON, as `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` writes).
func ReadPrivateKeys(b []byte) ([]*Key, error) {
	if bytes.Contains(b, []byte("-----BEGIN")) {
		priv, err := ParsePrivateKey(b)
		if err != nil {
			return nil, err
		}
		k, err := keyFrom(priv, nil, "", KeyActive)
		if err != nil {
			return nil, err
		}
		return []*Key{k}, nil
	}
	secs, err := ReadSecrets(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("neither a PEM private key nor a backup of key Secrets: %w", err)
	}
	var keys []*Key
	for _, s := range secs {
		priv, err := ParsePrivateKey(s.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			return nil, fmt.Errorf("Secret %s: %w", s.Name, err)
		}
		k, err := keyFrom(priv, nil, s.Name, KeyActive)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// DecodeSealedSecret reads one SealedSecret in JSON or YAML.
func DecodeSealedSecret(b []byte) (*ssv1alpha1.SealedSecret, error) {
	obj, err := runtime.Decode(scheme.Codecs.UniversalDecoder(ssv1alpha1.SchemeGroupVersion), b)
	if err != nil {
		return nil, fmt.Errorf("not a SealedSecret: %w", err)
	}
	ss, ok := obj.(*ssv1alpha1.SealedSecret)
	if !ok {
		return nil, fmt.Errorf("not a SealedSecret but a %s", obj.GetObjectKind().GroupVersionKind().Kind)
	}
	return ss, nil
}
