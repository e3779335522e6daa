package sealing

import (
	"errors"
	"fmt"
	"io"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// Paths served as kubeseal expects them behind the API server's service proxy.
const (
	CertPath   = "/v1/cert.pem"
	VerifyPath = "/v1/verify"
	RotatePath = "/v1/rotate"
)

// Reseal opens ss (without rendering its template) and seals the same values again with the
// newest key, keeping ss's metadata and template.
func Reseal(ss *ssv1alpha1.SealedSecret, ring *KeyRing, now time.Time, rnd io.Reader) (*ssv1alpha1.SealedSecret, error) {
	latest := ring.Latest()
	if latest == nil {
		return nil, errors.New("no sealing key")
	}
	sec, _, err := UnsealWithoutTemplate(ss, ring)
	if err != nil {
		return nil, err
	}
	s, err := NewSealer(latest.Cert, now, rnd)
	if err != nil {
		return nil, err
	}
	fresh := ss.DeepCopy()
	fresh.Spec.EncryptedData = ssv1alpha1.SealedSecretEncryptedData{}
	sec.StringData = nil
	for k := range sec.Data {
		if _, sealed := ss.Spec.EncryptedData[k]; !sealed {
			delete(sec.Data, k)
		}
	}
	return s.MergeInto(fresh, sec, nil)
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
