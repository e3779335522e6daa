package webhook

import (
	"encoding/json"
	"fmt"
	"strings"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podTemplate returns the pod template an owner declares (nil if it has none).
func podTemplate(owner client.Object) *corev1.PodTemplateSpec {
	switch o := owner.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.ReplicaSet:
		return &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *batchv1.Job:
		return &o.Spec.Template
	}
	return nil
}

// podMatcher: a Pod must run what its owner's pod template declares.
var podMatcher = &matcher{
	match: func(raw []byte, owner client.Object) string {
		var pod corev1.Pod
		if err := json.Unmarshal(raw, &pod); err != nil {
			return "the pod cannot be read"
		}
		t := podTemplate(owner)
		if t == nil {
			return "its owner has no pod template"
		}
		if why := podSpecDiffers(&pod.Spec, &t.Spec, podAdditions(owner)); why != "" {
			return "its " + why + " differs from its owner's pod template"
		}
		return ""
	},
	same: func(oldRaw, newRaw []byte) bool {
		var before, after corev1.Pod
		return json.Unmarshal(oldRaw, &before) == nil && json.Unmarshal(newRaw, &after) == nil &&
			apiequality.Semantic.DeepEqual(before.Spec, after.Spec)
	},
}

// replicaSetMatcher: a ReplicaSet's pod template must be its Deployment's.
var replicaSetMatcher = &matcher{
	match: func(raw []byte, owner client.Object) string {
		var rs appsv1.ReplicaSet
		if err := json.Unmarshal(raw, &rs); err != nil {
			return "the ReplicaSet cannot be read"
		}
		t := podTemplate(owner)
		if t == nil {
			return "its owner has no pod template"
		}
		if why := podSpecDiffers(&rs.Spec.Template.Spec, &t.Spec, nil); why != "" {
			return "its pod template's " + why + " differs from its Deployment's"
		}
		return ""
	},
	same: func(oldRaw, newRaw []byte) bool {
		var before, after appsv1.ReplicaSet
		return json.Unmarshal(oldRaw, &before) == nil && json.Unmarshal(newRaw, &after) == nil &&
			apiequality.Semantic.DeepEqual(before.Spec.Template.Spec, after.Spec.Template.Spec)
	},
}

// secretHead is what the guard reads of a Secret: never its data.
type secretHead struct {
	objectHead
	Type corev1.SecretType `json:"type"`
}

// sealedSecretMatcher: a Secret must be the one its SealedSecret templates: the same name and
// the templated type.
var sealedSecretMatcher = &matcher{
	match: func(raw []byte, owner client.Object) string {
		var s secretHead
		if err := json.Unmarshal(raw, &s); err != nil {
			return "the Secret cannot be read"
		}
		ss, ok := owner.(*ssv1alpha1.SealedSecret)
		if !ok {
			return "its owner is not a SealedSecret"
		}
		if s.Name != ss.Name {
			return fmt.Sprintf("its name is not its SealedSecret's (%s)", ss.Name)
		}
		want := ss.Spec.Template.Type
		if want == "" {
			want = corev1.SecretTypeOpaque
		}
		if got := s.Type; got != want && !(got == "" && want == corev1.SecretTypeOpaque) {
			return fmt.Sprintf("its type %s is not the type its SealedSecret templates (%s)", got, want)
		}
		return ""
	},
	same: func(oldRaw, newRaw []byte) bool {
		var before, after secretHead
		return json.Unmarshal(oldRaw, &before) == nil && json.Unmarshal(newRaw, &after) == nil &&
			before.Name == after.Name && before.Type == after.Type
	},
}

// serviceAccountVolume is the prefix of the token volume the ServiceAccount admission plugin
// adds to a pod (and that its template does not have).
const serviceAccountVolume = "kube-api-access-"

// injectedTokenVolume reports whether v is the ServiceAccount admission plugin's projected token
// volume: the pod's own token, the cluster's CA and its namespace, nothing else.
func injectedTokenVolume(v corev1.Volume) bool {
	if !strings.HasPrefix(v.Name, serviceAccountVolume) || v.Projected == nil {
		return false
	}
	for _, src := range v.Projected.Sources {
		switch {
		case src.ServiceAccountToken != nil && src.ServiceAccountToken.Audience == "":
		case src.ConfigMap != nil && src.ConfigMap.Name == "kube-root-ca.crt":
		case src.DownwardAPI != nil:
		default:
			return false
		}
	}
	return true
}

// podAdditions returns the volumes a pod may have beyond its owner's template: the service
// account token volume admission adds (whose mounts are added too) and, under a StatefulSet, the
// claim of each of its volumeClaimTemplates (<template>-<set>-<ordinal>).
func podAdditions(owner client.Object) func(corev1.Volume) (added, mountAdded bool) {
	sts, _ := owner.(*appsv1.StatefulSet)
	return func(v corev1.Volume) (bool, bool) {
		if injectedTokenVolume(v) {
			return true, true
		}
		if sts == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ReadOnly {
			return false, false
		}
		for _, c := range sts.Spec.VolumeClaimTemplates {
			rest, ok := strings.CutPrefix(v.PersistentVolumeClaim.ClaimName, c.Name+"-"+sts.Name+"-")
			if ok && v.Name == c.Name && rest != "" && strings.Trim(rest, "0123456789") == "" &&
				apiequality.Semantic.DeepEqual(v.VolumeSource, corev1.VolumeSource{PersistentVolumeClaim: v.PersistentVolumeClaim}) {
				return true, false
			}
		}
		return false, false
	}
}

// podSpecDiffers names the first security-relevant field in which spec differs from the
// template ("" if none): the service account, host namespaces, security contexts, volumes (by
// name) and each container's image, command, arguments, environment, mounts and security
// context. additions, if not nil, says which of spec's volumes it may have beyond the template,
// and whether their mounts were added too.
func podSpecDiffers(spec, tmpl *corev1.PodSpec, additions func(corev1.Volume) (added, mountAdded bool)) string {
	sa := func(s *corev1.PodSpec) string {
		if s.ServiceAccountName == "" {
			return "default"
		}
		return s.ServiceAccountName
	}
	if sa(spec) != sa(tmpl) {
		return "serviceAccountName"
	}
	if spec.HostNetwork != tmpl.HostNetwork || spec.HostPID != tmpl.HostPID || spec.HostIPC != tmpl.HostIPC {
		return "host namespaces"
	}
	if !apiequality.Semantic.DeepEqual(spec.SecurityContext, tmpl.SecurityContext) {
		return "securityContext"
	}
	injected := map[string]bool{}
	declared := map[string]corev1.Volume{}
	for _, v := range tmpl.Volumes {
		declared[v.Name] = v
	}
	seen := 0
	for _, v := range spec.Volumes {
		if w, ok := declared[v.Name]; ok && apiequality.Semantic.DeepEqual(v, w) {
			seen++
			continue
		}
		if additions == nil {
			return fmt.Sprintf("volume %q", v.Name)
		}
		added, mountAdded := additions(v)
		if !added {
			return fmt.Sprintf("volume %q", v.Name)
		}
		if _, ok := declared[v.Name]; ok {
			seen++ // a claim replaces the template's volume of its name
		}
		if mountAdded {
			injected[v.Name] = true
		}
	}
	if seen != len(tmpl.Volumes) {
		return "volumes (one the template declares is missing)"
	}
	if len(spec.EphemeralContainers) > 0 {
		return "ephemeralContainers"
	}
	if why := containersDiffer(spec.InitContainers, tmpl.InitContainers, injected); why != "" {
		return "initContainers " + why
	}
	if why := containersDiffer(spec.Containers, tmpl.Containers, injected); why != "" {
		return "containers " + why
	}
	return ""
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func containersDiffer(got, want []corev1.Container, injected map[string]bool) string {
	if len(got) != len(want) {
		return "(their number)"
	}
	for i := range got {
		g, w := &got[i], &want[i]
		var mounts []corev1.VolumeMount
		for _, m := range g.VolumeMounts {
			if !injected[m.Name] {
				mounts = append(mounts, m)
			}
		}
		switch {
		case g.Name != w.Name:
			return fmt.Sprintf("%q (name)", g.Name)
		case g.Image != w.Image:
			return fmt.Sprintf("%q (image)", g.Name)
		case !apiequality.Semantic.DeepEqual(nilIfEmpty(g.Command), nilIfEmpty(w.Command)) ||
			!apiequality.Semantic.DeepEqual(nilIfEmpty(g.Args), nilIfEmpty(w.Args)) || g.WorkingDir != w.WorkingDir:
			return fmt.Sprintf("%q (command)", g.Name)
		case !apiequality.Semantic.DeepEqual(nilIfEmpty(g.Env), nilIfEmpty(w.Env)) ||
			!apiequality.Semantic.DeepEqual(nilIfEmpty(g.EnvFrom), nilIfEmpty(w.EnvFrom)):
			return fmt.Sprintf("%q (env)", g.Name)
		case !apiequality.Semantic.DeepEqual(nilIfEmpty(mounts), nilIfEmpty(w.VolumeMounts)):
			return fmt.Sprintf("%q (volumeMounts)", g.Name)
		case !apiequality.Semantic.DeepEqual(g.SecurityContext, w.SecurityContext):
			return fmt.Sprintf("%q (securityContext)", g.Name)
		}
	}
	return ""
}
