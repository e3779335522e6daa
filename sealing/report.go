package sealing

import (
	"sort"
	"strings"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	corev1 "k8s.io/api/core/v1"
)

// KeyInfo is a key as the report shows it: public facts only.
type KeyInfo struct {
	Secret      string `json:"secret"`
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"`
	Created     string `json:"created"`
	Newest      bool   `json:"newest,omitempty"`
	// SealedSecrets still sealed (at least one value) with this key, as namespace/name.
	SealedSecrets []string `json:"sealedSecrets"`
}

// Report says, per key, which SealedSecrets depend on it.
type Report struct {
	Keys []KeyInfo `json:"keys"`
	// Unknown lists SealedSecrets whose key cannot be told without decrypting: no
	// sealing.writ.dev/key annotation (sealed by kubeseal) and no Secret the controller unsealed
	// with a recorded key. Retiring any key is unsafe while this is not empty.
	Unknown []string `json:"unknown"`
}

// KeyInfoFromSecret reads the public part of a key Secret (never its private key).
func KeyInfoFromSecret(s *corev1.Secret) (KeyInfo, error) {
	certs, err := ParseCerts(s.Data[corev1.TLSCertKey])
	if err != nil {
		return KeyInfo{}, err
	}
	fp, err := Fingerprint(certs[0])
	if err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{Secret: s.Name, Fingerprint: fp, Status: s.Labels[KeyLabel], Created: certs[0].NotBefore.UTC().Format("2006-01-02T15:04:05Z")}, nil
}

// BuildReport attributes each SealedSecret to keys: by its AnnotationKey, else by the
// AnnotationUnsealedWith of the Secret the controller made from it (unsealed, keyed by
// namespace/name). keys are ordered newest first by Created.
func BuildReport(keys []KeyInfo, sealed []ssv1alpha1.SealedSecret, unsealed map[string]*corev1.Secret) Report {
	byFP := map[string]int{}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].Created > keys[j].Created })
	newest := true
	for i := range keys {
		keys[i].SealedSecrets = []string{}
		byFP[keys[i].Fingerprint] = i
		if newest && keys[i].Status != KeyCompromised {
			keys[i].Newest, newest = true, false
		}
	}
	r := Report{Keys: keys, Unknown: []string{}}
	for i := range sealed {
		ss := &sealed[i]
		id := ss.Namespace + "/" + ss.Name
		fps := map[string]bool{}
		for _, fp := range KeyFingerprints(ss) {
			fps[fp] = true
		}
		if len(fps) == 0 || len(KeyFingerprints(ss)) < len(ss.Spec.EncryptedData) {
			if s := unsealed[id]; s != nil && metaControlledBy(s, ss) {
				for _, fp := range strings.Split(s.Annotations[AnnotationUnsealedWith], ",") {
					if fp != "" {
						fps[fp] = true
					}
				}
			}
		}
		if len(fps) == 0 {
			r.Unknown = append(r.Unknown, id)
			continue
		}
		for fp := range fps {
			if k, ok := byFP[fp]; ok {
				r.Keys[k].SealedSecrets = append(r.Keys[k].SealedSecrets, id)
			}
		}
	}
	for i := range r.Keys {
		sort.Strings(r.Keys[i].SealedSecrets)
	}
	sort.Strings(r.Unknown)
	return r
}

func metaControlledBy(s *corev1.Secret, ss *ssv1alpha1.SealedSecret) bool {
	for _, o := range s.OwnerReferences {
		if o.Kind == "SealedSecret" && o.Name == ss.Name && (ss.UID == "" || o.UID == ss.UID) {
			return true
		}
	}
	return false
}
