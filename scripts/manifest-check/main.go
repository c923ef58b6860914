// manifest-check validates rendered Kubernetes manifests offline: every YAML document must decode
// strictly (no unknown fields, right types, parseable quantities) into the typed API objects of
// k8s.io/api for its apiVersion and kind, and pass the checks the API server would make first
// (object names, selector against template labels, port ranges).
//
// Usage: manifest-check FILE_OR_DIR...   (exit 1 with one line per problem)
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// known maps apiVersion/kind to a constructor of its typed object.
var known = map[string]func() any{
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
}

func main() {
	var problems []string
	count := 0
	for _, arg := range os.Args[1:] {
		files, err := yamlFiles(arg)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, f := range files {
			n, errs := checkFile(f)
			count += n
			problems = append(problems, errs...)
		}
	}
	if count == 0 {
		problems = append(problems, "no Kubernetes objects found in "+strings.Join(os.Args[1:], " "))
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("manifest-check: %d objects valid\n", count)
}

func yamlFiles(root string) ([]string, error) {
	var out []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

func checkFile(file string) (int, []string) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, []string{err.Error()}
	}
	var problems []string
	n := 0
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		where := fmt.Sprintf("%s (document %d)", file, i+1)
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			problems = append(problems, fmt.Sprintf("%s: not YAML: %v", where, err))
			continue
		}
		newObj, ok := known[head.APIVersion+"/"+head.Kind]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unexpected apiVersion/kind %s/%s", where, head.APIVersion, head.Kind))
			continue
		}
		n++
		obj := newObj()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s does not match the API schema: %v", where, head.Kind, err))
			continue
		}
		for _, p := range semantic(obj) {
			problems = append(problems, fmt.Sprintf("%s: %s: %s", where, head.Kind, p))
		}
	}
	return n, problems
}

// semantic makes the checks the API server's validation would reject first.
func semantic(obj any) []string {
	var out []string
	name := func(m metav1.ObjectMeta) {
		for _, msg := range validation.IsDNS1123Subdomain(m.Name) {
			out = append(out, fmt.Sprintf("name %q: %s", m.Name, msg))
		}
	}
	ports := func(cs []corev1.Container) {
		for _, c := range cs {
			if c.Image == "" {
				out = append(out, fmt.Sprintf("container %q has no image", c.Name))
			}
			for _, p := range c.Ports {
				if p.ContainerPort < 1 || p.ContainerPort > 65535 {
					out = append(out, fmt.Sprintf("container %q port %d out of range", c.Name, p.ContainerPort))
				}
			}
		}
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		name(o.ObjectMeta)
		sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
		if err != nil || sel.Empty() {
			out = append(out, fmt.Sprintf("selector is missing or invalid: %v", err))
		} else if !sel.Matches(labels.Set(o.Spec.Template.Labels)) {
			out = append(out, "selector does not match the pod template's labels")
		}
		if len(o.Spec.Template.Spec.Containers) == 0 {
			out = append(out, "pod template has no containers")
		}
		ports(o.Spec.Template.Spec.Containers)
	case *corev1.Service:
		name(o.ObjectMeta)
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 && (p.NodePort < 30000 || p.NodePort > 32767) {
				out = append(out, fmt.Sprintf("nodePort %d outside 30000-32767", p.NodePort))
			}
			if p.NodePort != 0 && o.Spec.Type == corev1.ServiceTypeClusterIP {
				out = append(out, "nodePort set on a ClusterIP Service")
			}
		}
	case *autoscalingv2.HorizontalPodAutoscaler:
		name(o.ObjectMeta)
	case *policyv1.PodDisruptionBudget:
		name(o.ObjectMeta)
	}
	return out
}
