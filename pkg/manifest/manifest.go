// Package manifest renders an app's Kubernetes manifests — a Kustomize
// base with an overlay per environment — for one environment, with the
// promoted digest set by Kustomize's image transformer and every object
// labelled with its app and environment. It changes nothing: applying is
// the deploy task's (pkg/deploy).
package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Labels every rendered object carries, so an app's objects can be found
// (retirement, the orphan report) without its manifests.
const (
	LabelApp       = "slipway.dev/app"
	LabelEnv       = "slipway.dev/env"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "slipway"
)

// Options say what to render.
type Options struct {
	// Root is the checkout the manifests live in; Path is their directory
	// relative to Root (the .slipway.yaml `manifests.path`).
	Root, Path string
	// Env picks the overlay Path/overlays/Env; without one, Path/base is
	// rendered, or Path itself when it has no base directory.
	Env string
	// App and Namespace label and place every object.
	App, Namespace string
	// ImageName is the image name the manifests use for the app (the
	// Kustomize `images[].name` to replace); default App.
	ImageName string
	// Image is the promoted REPO@sha256:… set on every container using
	// ImageName.
	Image string
}

func (o Options) validate() error {
	switch {
	case o.Root == "" || o.Path == "":
		return errors.New("manifests: checkout and path are required")
	case o.App == "" || o.Namespace == "" || o.Env == "":
		return errors.New("manifests: app, namespace and environment are required")
	}
	if err := CheckPath(o.Path); err != nil {
		return err
	}
	if _, err := name.NewDigest(o.Image, name.StrictValidation); err != nil {
		return fmt.Errorf("manifests: image %q must be REPO@sha256:<digest>: %w", o.Image, err)
	}
	return nil
}

// CheckPath refuses a manifests path that is absolute or leaves the
// repository.
func CheckPath(p string) error {
	if filepath.IsAbs(p) || p != filepath.Clean(p) || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("manifests path %q must be a clean path inside the repository", p)
	}
	return nil
}

// Dir is the kustomization directory rendered for o.Env.
func (o Options) Dir() string {
	base := filepath.Join(o.Root, o.Path)
	for _, d := range []string{filepath.Join(base, "overlays", o.Env), filepath.Join(base, "base")} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return base
}

// Render builds the manifests of o.Env and returns the objects, sorted by
// kind and name, each in o.Namespace (an object naming another namespace
// is refused) and labelled with LabelApp, LabelEnv and LabelManagedBy.
func Render(o Options) ([]*unstructured.Unstructured, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	target, err := filepath.Abs(o.Dir())
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	if _, err := os.Stat(target); err != nil {
		return nil, fmt.Errorf("manifests of %s: %w", o.App, err)
	}
	imageName := o.ImageName
	if imageName == "" {
		imageName = o.App
	}
	repo, digest, _ := strings.Cut(o.Image, "@")
	// The user's kustomization stays untouched: a wrapper around it adds
	// the digest, the labels and the namespace, as `kustomize edit` would.
	wrap := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{""},
		Images:    []types.Image{{Name: imageName, NewName: repo, Digest: digest}},
		Labels: []types.Label{{
			Pairs:            map[string]string{LabelApp: o.App, LabelEnv: o.Env, LabelManagedBy: managedBy},
			IncludeTemplates: true,
		}},
	}
	dir, err := os.MkdirTemp("", "slipway-manifests-")
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	defer os.RemoveAll(dir)
	// Kustomize takes only relative roots.
	if wrap.Resources[0], err = filepath.Rel(dir, target); err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	body, err := yaml.Marshal(wrap)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), body, 0o600); err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("rendering the manifests of %s (%s): %w", o.App, rel(o.Root, target), err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range m.Resources() {
		// Through JSON, so numbers are int64/float64 as client-go expects.
		js, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("manifests of %s: %w", o.App, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("manifests of %s: %w", o.App, err)
		}
		switch ns := u.GetNamespace(); ns {
		case "", o.Namespace:
			u.SetNamespace(o.Namespace)
		default:
			return nil, fmt.Errorf("manifests of %s: %s %s is in namespace %s; an app's objects live in its environment's namespace %s", o.App, u.GetKind(), u.GetName(), ns, o.Namespace)
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("manifests of %s (%s) hold no object", o.App, rel(o.Root, target))
	}
	sort.SliceStable(objs, func(i, j int) bool {
		if objs[i].GetKind() != objs[j].GetKind() {
			return objs[i].GetKind() < objs[j].GetKind()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
	return objs, nil
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}
