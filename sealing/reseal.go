package sealing

import (
	"errors"
	"io"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
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
