package charts_test

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	auditcontroller "writ.dev/writ/audit/controller"
)

// The chart's audit-mutatingadmissionpolicy.yaml and audit/controller.SubmitterPolicies build the
// same policies and bindings (the ingester refuses every AuditEvent while the live policy differs
// from its own build), for Writ's namespace; audit.enabled=false renders none of them.
func TestAuditSubmitterPolicyChartMatchesGo(t *testing.T) {
	for _, ns := range []string{"writ-system", "gitops"} {
		r := render(t, ns, nil)
		mp, mb, vp, vb, err := auditcontroller.SubmitterPolicies(ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []client.Object{mp, mb, vp, vb} {
			kind := want.GetObjectKind().GroupVersionKind().Kind
			u := r.must(t, kind, auditcontroller.SubmitterPolicyName)
			got := want.DeepCopyObject().(client.Object)
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, got, true); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			if !equality.Semantic.DeepEqual(spec(got), spec(want)) {
				g, _ := yaml.Marshal(spec(got))
				w, _ := yaml.Marshal(spec(want))
				t.Errorf("%s: the chart and auditcontroller.SubmitterPolicies differ in namespace %s:\nchart:\n%s\nGo:\n%s", kind, ns, g, w)
			}
		}
		// writ-controller may read the policy and its binding, and nothing else of admission.
		role := r.must(t, "ClusterRole", "writ-controller-audit-submitter")
		rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
		if len(rules) != 1 {
			t.Fatalf("rules %v", rules)
		}
		rb := r.must(t, "ClusterRoleBinding", "writ-controller-audit-submitter")
		subjects, _, _ := unstructured.NestedSlice(rb.Object, "subjects")
		if len(subjects) != 1 || subjects[0].(map[string]any)["name"] != "writ-controller" || subjects[0].(map[string]any)["namespace"] != ns {
			t.Errorf("bound to %v", subjects)
		}
	}
	off := render(t, "writ-system", set("audit.enabled", false))
	for _, kind := range []string{"MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if off.find(kind, auditcontroller.SubmitterPolicyName) != nil {
			t.Errorf("audit.enabled=false still renders %s %s", kind, auditcontroller.SubmitterPolicyName)
		}
	}
}

func spec(o client.Object) any {
	switch x := o.(type) {
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		return x.Spec
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		return x.Spec
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		return x.Spec
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		return x.Spec
	}
	return nil
}
