// Package validate checks examples/kubernetes/lifeboat.yml against the
// Kubernetes API's own types (k8s.io/api): every document decodes into
// the type its apiVersion and kind name with no unknown field, and the
// rules the API server applies first hold (selectors that match, mounts of
// volumes that exist, a schedule and a concurrency policy). It is a module
// of its own so that lifeboat does not depend on k8s.io; .ci/run runs it.
// No cluster is involved: what was and was not run is in ../README.md.
package validate

import (
	"bytes"
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func TestExampleMatchesTheAPI(t *testing.T) {
	b, err := os.ReadFile("../lifeboat.yml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, doc := range bytes.Split(b, []byte("\n---\n")) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		key := meta.APIVersion + " " + meta.Kind
		seen[key]++
		var obj any
		switch key {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "apps/v1 DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "batch/v1 CronJob":
			obj = &batchv1.CronJob{}
		default:
			t.Fatalf("document %d is a %q: this test knows no type for it", i+1, key)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("document %d (%s) does not match the API: %v", i+1, key, err)
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			if o.Name == "" || len(o.Data) == 0 {
				t.Errorf("the ConfigMap has no name or no data")
			}
		case *appsv1.DaemonSet:
			sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(o.Spec.Template.Labels)) {
				t.Errorf("the DaemonSet's selector %v does not match its pods' labels %v (%v)", o.Spec.Selector, o.Spec.Template.Labels, err)
			}
			checkPod(t, "the DaemonSet", o.Spec.Template.Spec)
		case *batchv1.CronJob:
			if o.Spec.Schedule == "" || o.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Errorf("the CronJob: schedule %q, concurrency policy %q (two prunes must not overlap: Forbid)", o.Spec.Schedule, o.Spec.ConcurrencyPolicy)
			}
			pod := o.Spec.JobTemplate.Spec.Template.Spec
			if pod.RestartPolicy != corev1.RestartPolicyNever && pod.RestartPolicy != corev1.RestartPolicyOnFailure {
				t.Errorf("the CronJob's pods: restart policy %q (a Job's must be Never or OnFailure)", pod.RestartPolicy)
			}
			checkPod(t, "the CronJob", pod)
		}
	}
	if seen["v1 ConfigMap"] != 1 || seen["apps/v1 DaemonSet"] != 1 || seen["batch/v1 CronJob"] != 1 {
		t.Fatalf("documents: %v", seen)
	}
}

// checkPod checks what the API server checks of a pod's containers: an
// image, and mounts of volumes the pod declares.
func checkPod(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	vols := map[string]bool{}
	for _, v := range pod.Volumes {
		vols[v.Name] = true
	}
	if len(pod.Containers) == 0 {
		t.Errorf("%s has no container", what)
	}
	for _, c := range pod.Containers {
		if c.Image == "" || c.Name == "" {
			t.Errorf("%s: container %q has no image or name", what, c.Name)
		}
		if len(c.Args) == 0 || !strings.Contains(strings.Join(c.Args, " "), "--config") && c.Args[0] != "prune" {
			t.Errorf("%s: container %q runs %v", what, c.Name, c.Args)
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				t.Errorf("%s: container %q mounts %q, which the pod does not declare", what, c.Name, m.Name)
			}
		}
	}
}
