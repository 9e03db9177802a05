package dockerfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"

	templates "github.com/slipway-ci/slipway/dockerfile-templates"
)

// Meta is a template's metadata, read from <language>.yaml beside it.
type Meta struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Detect      []string `json:"detect"`
	Versions    struct {
		Default string   `json:"default"`
		Allowed []string `json:"allowed"`
	} `json:"versions"`
	// TestCommand, BuildCommand, BuildImage and RuntimeImage are
	// text/templates over the same data as the Dockerfile template.
	TestCommand  string `json:"testCommand"`
	BuildCommand string `json:"buildCommand"`
	BuildImage   string `json:"buildImage"`
	RuntimeImage string `json:"runtimeImage"`
	Port         int    `json:"port"`
}

// Languages lists the template names, in detection priority order.
var Languages = []string{"go", "java-maven", "java-gradle", "python", "node", "static"}

// library is every template parsed once, with its metadata.
type library struct {
	tmpl *template.Template
	meta map[string]Meta
}

func loadLibrary(fsys fs.FS) (*library, error) {
	t, err := template.New("").Funcs(sprig.TxtFuncMap()).Funcs(template.FuncMap{"execForm": execForm}).ParseFS(fsys, "*.Dockerfile.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parsing Dockerfile templates: %w", err)
	}
	lib := &library{tmpl: t, meta: map[string]Meta{}}
	for _, lang := range Languages {
		data, err := fs.ReadFile(fsys, lang+".yaml")
		if err != nil {
			return nil, fmt.Errorf("reading metadata of template %s: %w", lang, err)
		}
		var m Meta
		if err := yaml.UnmarshalStrict(data, &m); err != nil {
			return nil, fmt.Errorf("parsing %s.yaml: %w", lang, err)
		}
		if m.Name != lang {
			return nil, fmt.Errorf("%s.yaml: name is %q, want %q", lang, m.Name, lang)
		}
		if !slices.Contains(m.Versions.Allowed, m.Versions.Default) {
			return nil, fmt.Errorf("%s.yaml: default version %q is not among the allowed ones %v", lang, m.Versions.Default, m.Versions.Allowed)
		}
		if t.Lookup(lang+".Dockerfile.tmpl") == nil {
			return nil, fmt.Errorf("template %s.Dockerfile.tmpl is missing", lang)
		}
		lib.meta[lang] = m
	}
	return lib, nil
}

// defaultLibrary is parsed from the embedded templates at first use.
var defaultLibrary = sync.OnceValues(func() (*library, error) { return loadLibrary(templates.FS) })

// small renders a one-line metadata template (a command or an image name).
func small(name, text string, data any) (string, error) {
	t, err := template.New(name).Funcs(sprig.TxtFuncMap()).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("rendering %s: %w", name, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// image puts an image name under the registry prefix; "scratch" is not an
// image and stays as is.
func image(prefix, name string) string {
	if name == "scratch" || prefix == "" {
		return name
	}
	return path.Join(prefix, name)
}

// execForm writes a command in the JSON exec form Dockerfiles use, with
// the spacing people write by hand.
func execForm(args []string) (string, error) {
	parts := make([]string, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return "", err
		}
		parts[i] = string(b)
	}
	return "[" + strings.Join(parts, ", ") + "]", nil
}
