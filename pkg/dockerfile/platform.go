package dockerfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Offer is what the platform offers for one language: the versions a
// repository may get, the one it gets when it asks for none, and the base
// images, as text/templates over the render data ({{ .Version }}). A
// platform team's mirror decides what exists, so all of it is
// configuration; the template metadata (dockerfile-templates/*.yaml) only
// gives the defaults.
type Offer struct {
	Default      string   `json:"default"`
	Versions     []string `json:"versions"`
	BuildImage   string   `json:"buildImage,omitempty"`
	RuntimeImage string   `json:"runtimeImage,omitempty"`
}

// Platform is the offer per language (go, java-maven, java-gradle, node,
// python, static).
type Platform map[string]Offer

// DefaultPlatform is what the template metadata offers.
func DefaultPlatform() (Platform, error) {
	lib, err := defaultLibrary()
	if err != nil {
		return nil, err
	}
	p := Platform{}
	for lang, m := range lib.meta {
		p[lang] = Offer{Default: m.Versions.Default, Versions: slices.Clone(m.Versions.Allowed), BuildImage: m.BuildImage, RuntimeImage: m.RuntimeImage}
	}
	return p, nil
}

// ParsePlatform reads a YAML or JSON document with a `languages:` section
// (other top-level keys are ignored, so it can be Slipway's whole config
// file), completes each named language from the defaults and validates
// the result. Languages the document does not name keep their defaults;
// an unknown key inside an offer is an error, not a silently kept default.
func ParsePlatform(data []byte) (Platform, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parsing the languages section: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(j, &doc); err != nil {
		return nil, fmt.Errorf("parsing the languages section: want a mapping with a languages key: %w", err)
	}
	var p Platform
	if raw, ok := doc["languages"]; ok && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("languages: %w", err)
		}
	}
	return CompletePlatform(p)
}

// CompletePlatform fills what p leaves out from the defaults and
// validates it. A nil p is the default platform.
func CompletePlatform(p Platform) (Platform, error) {
	def, err := DefaultPlatform()
	if err != nil {
		return nil, err
	}
	out := Platform{}
	for lang, o := range def {
		out[lang] = o
	}
	var errs []string
	for _, lang := range sortedKeys(p) {
		o := p[lang]
		d, ok := def[lang]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: unknown language (known: %s)", lang, strings.Join(Languages, ", ")))
			continue
		}
		if len(o.Versions) == 0 {
			o.Versions = d.Versions
		}
		if o.Default == "" {
			if len(o.Versions) == 1 {
				o.Default = o.Versions[0]
			} else if slices.Contains(o.Versions, d.Default) {
				o.Default = d.Default
			}
		}
		if o.BuildImage == "" {
			o.BuildImage = d.BuildImage
		}
		if o.RuntimeImage == "" {
			o.RuntimeImage = d.RuntimeImage
		}
		if err := o.validate(lang); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out[lang] = o
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("languages: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func (o Offer) validate(lang string) error {
	seen := map[string]bool{}
	for _, v := range o.Versions {
		if _, err := lineVersion(v); err != nil {
			return fmt.Errorf("%s: version %q: want a release line such as 20, 3.12 or 1.24", lang, v)
		}
		if seen[v] {
			return fmt.Errorf("%s: version %s is listed twice", lang, v)
		}
		seen[v] = true
	}
	if o.Default == "" {
		return fmt.Errorf("%s: no default version: set default to one of %s", lang, strings.Join(o.Versions, ", "))
	}
	if !seen[o.Default] {
		return fmt.Errorf("%s: default version %s is not among the offered versions %s", lang, o.Default, strings.Join(o.Versions, ", "))
	}
	for _, img := range []struct{ what, t string }{{"buildImage", o.BuildImage}, {"runtimeImage", o.RuntimeImage}} {
		if _, err := small(img.what, img.t, &data{Version: o.Default}); err != nil {
			return fmt.Errorf("%s: %s %q: %w", lang, img.what, img.t, err)
		}
		if err := plainValue(lang+" "+img.what, strings.NewReplacer("{{", "", "}}", "", " ", "").Replace(img.t)); err != nil {
			return err
		}
	}
	return nil
}

// Images lists every base image the platform can hand out, under the
// base registry prefix: each offered version's build and runtime image.
// Sorted, without duplicates; "scratch" is not an image and is left out.
func (p Platform) Images(baseRegistry string) ([]string, error) {
	set := map[string]bool{}
	for _, lang := range sortedKeys(p) {
		o := p[lang]
		for _, v := range o.Versions {
			for _, t := range []string{o.BuildImage, o.RuntimeImage} {
				name, err := small("image", t, &data{Version: v})
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", lang, v, err)
				}
				if name != "scratch" && name != "" {
					set[image(strings.TrimRight(baseRegistry, "/"), name)] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
