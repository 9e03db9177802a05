package dockerfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveVersion(t *testing.T) {
	node := Offer{Default: "22", Versions: []string{"18", "20", "22", "24"}}
	stackNode := Offer{Default: "18", Versions: []string{"18"}}
	python := Offer{Default: "3.12", Versions: []string{"3.9", "3.10", "3.11", "3.12", "3.13"}}
	stackPython := Offer{Default: "3.11", Versions: []string{"3.11"}}
	jdk := Offer{Default: "17", Versions: []string{"8", "11", "17", "21"}}
	goOffer := Offer{Default: "1.26", Versions: []string{"1.22", "1.23", "1.24", "1.25", "1.26"}}
	nodeReq := func(raw string) Requirement {
		c, err := NodeConstraint(raw)
		if err != nil {
			t.Fatal(err)
		}
		return Requirement{Raw: raw, Where: "package.json engines.node", Constraint: c}
	}
	pyReq := func(raw string) Requirement {
		c, err := PythonConstraint(raw)
		if err != nil {
			t.Fatal(err)
		}
		return Requirement{Raw: raw, Where: "pyproject.toml requires-python", Constraint: c}
	}
	tests := []struct {
		name    string
		lang    string
		offer   Offer
		req     Requirement
		want    string
		wantErr []string
	}{
		{name: "node unset takes the default", lang: "node", offer: node, want: "22"},
		{name: "node lower bound takes the newest", lang: "node", offer: node, req: nodeReq(">=20"), want: "24"},
		{name: "node lower bound on the stack", lang: "node", offer: stackNode, req: nodeReq(">=18"), want: "18"},
		{name: "node bounded range", lang: "node", offer: node, req: nodeReq(">=18 <21"), want: "20"},
		{name: "node x range", lang: "node", offer: node, req: nodeReq("20.x"), want: "20"},
		{name: "node caret", lang: "node", offer: node, req: nodeReq("^22.1.0"), want: "22"},
		{name: "node tilde", lang: "node", offer: node, req: nodeReq("~20.11"), want: "20"},
		{name: "node v prefix", lang: "node", offer: node, req: nodeReq("v20"), want: "20"},
		{name: "node alternatives take the newest", lang: "node", offer: node, req: nodeReq("18 || 20"), want: "20"},
		{name: "node any", lang: "node", offer: node, req: nodeReq("*"), want: "22"},
		{name: "node >=20 on the stack fails with everything said", lang: "node", offer: stackNode, req: nodeReq(">=20"),
			wantErr: []string{"node: the repository asks for Node.js >=20 (package.json engines.node)", "offered: 18 (default 18)",
				`build.version in .slipway.yaml (e.g. version: "18")`, "engines.node in package.json"}},
		{name: "python unset takes the default", lang: "python", offer: python, want: "3.12"},
		{name: "python lower bound takes the newest", lang: "python", offer: python, req: pyReq(">=3.10"), want: "3.13"},
		{name: "python bounded", lang: "python", offer: python, req: pyReq(">=3.10,<3.13"), want: "3.12"},
		{name: "python upper first", lang: "python", offer: python, req: pyReq("<4, >=3.12"), want: "3.13"},
		{name: "python compatible release two parts", lang: "python", offer: python, req: pyReq("~=3.11"), want: "3.13"},
		{name: "python compatible release three parts", lang: "python", offer: python, req: pyReq("~=3.11.2"), want: "3.11"},
		{name: "python exact wildcard", lang: "python", offer: python, req: pyReq("==3.12.*"), want: "3.12"},
		{name: "python exclusion", lang: "python", offer: python, req: pyReq(">=3.12,!=3.13.*"), want: "3.12"},
		{name: "python exact patch", lang: "python", offer: python, req: pyReq("==3.11.4"), want: "3.11"},
		{name: "python poetry caret", lang: "python", offer: python, req: pyReq("^3.10"), want: "3.13"},
		{name: "python only upper", lang: "python", offer: python, req: pyReq("<3.12"), want: "3.11"},
		{name: "python ~=3.12 on the stack", lang: "python", offer: stackPython, req: pyReq("~=3.12"),
			wantErr: []string{"asks for Python ~=3.12 (pyproject.toml requires-python)", "offered: 3.11 (default 3.11)"}},
		{name: "maven release is a minimum", lang: "java-maven", offer: jdk, req: minimum("17", "pom.xml maven.compiler.release"), want: "21"},
		{name: "maven release too new", lang: "java-maven", offer: Offer{Default: "17", Versions: []string{"17"}}, req: minimum("21", "pom.xml maven.compiler.release"),
			wantErr: []string{"asks for Java (JDK) 21 (pom.xml maven.compiler.release)", "offered: 17", "maven.compiler.release in pom.xml"}},
		{name: "gradle toolchain is exact", lang: "java-gradle", offer: jdk, req: Requirement{Raw: "17", Where: "build.gradle Java toolchain", Constraint: exactLine("17")}, want: "17"},
		{name: "go directive is a minimum", lang: "go", offer: goOffer, req: minimum("1.22", "go.mod go directive"), want: "1.26"},
		{name: "go directive too new", lang: "go", offer: goOffer, req: minimum("1.27", "go.mod go directive"),
			wantErr: []string{"asks for Go 1.27 (go.mod go directive)", "offered: 1.22, 1.23, 1.24, 1.25, 1.26 (default 1.26)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveVersion(tt.lang, tt.offer, tt.req)
			if tt.wantErr != nil {
				var ve *VersionError
				if !errors.As(err, &ve) {
					t.Fatalf("error = %v, want a *VersionError", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\ndoes not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestConfiguredRequirement(t *testing.T) {
	offer := Offer{Default: "22", Versions: []string{"18", "20", "22"}}
	tests := []struct{ lang, in, want, wantErr string }{
		{lang: "node", in: "20", want: "20"},
		{lang: "node", in: "20.11.1", want: "20"},
		{lang: "node", in: ">=19", want: "22"},
		{lang: "node", in: "16", wantErr: `asks for Node.js 16 (.slipway.yaml build.version)`},
		{lang: "node", in: "latest", wantErr: `cannot read Node version range "latest"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := chooseVersion(tt.lang, offer, tt.in, Requirement{}, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPythonConstraintErrors(t *testing.T) {
	for _, in := range []string{"banana", "~=3", ">=3.11; python_version"} {
		if _, err := PythonConstraint(in); err == nil {
			t.Errorf("PythonConstraint(%q) = nil error, want one", in)
		}
	}
}

func FuzzPythonConstraint(f *testing.F) {
	for _, s := range []string{">=3.11", "~=3.12", "==3.12.*", "<4, >=3.12", "!=3.10.*", "^3.10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := PythonConstraint(s)
		if err != nil || c == "" {
			return
		}
		// Whatever it accepts must resolve or fail with a VersionError, never panic.
		_, err = resolveVersion("python", Offer{Default: "3.11", Versions: []string{"3.11", "3.12"}}, Requirement{Raw: s, Constraint: c})
		var ve *VersionError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("resolve %q (%q): %v", s, c, err)
		}
	})
}

func TestParsePlatform(t *testing.T) {
	p, err := ParsePlatform([]byte(`
addr: ":8080"
languages:
  node: {versions: ["18"], buildImage: "node:{{ .Version }}-debian"}
  python: {default: "3.11", versions: ["3.11"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Offer{Default: "18", Versions: []string{"18"}, BuildImage: "node:{{ .Version }}-debian", RuntimeImage: "node:{{ .Version }}"}
	if diff := cmp.Diff(want, p["node"]); diff != "" {
		t.Errorf("node (-want +got)\n%s", diff)
	}
	if p["go"].Default != "1.26" {
		t.Errorf("go keeps its default offer, got %+v", p["go"])
	}
	imgs, err := Platform{"python": p["python"], "go": {Default: "1.22", Versions: []string{"1.22"}, BuildImage: "golang:{{ .Version }}", RuntimeImage: "scratch"}}.Images("127.0.0.1:5000/base/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"127.0.0.1:5000/base/golang:1.22", "127.0.0.1:5000/base/python:3.11"}, imgs); diff != "" {
		t.Errorf("images (-want +got)\n%s", diff)
	}

	for _, tt := range []struct{ name, in, wantErr string }{
		{"unknown language", "languages: {rust: {versions: ['1.80']}}", "rust: unknown language"},
		{"default not offered", "languages: {node: {default: '20', versions: ['18']}}", "default version 20 is not among the offered versions 18"},
		{"no default among several", "languages: {node: {versions: ['19', '21']}}", "node: no default version"},
		{"bad version", "languages: {node: {versions: ['lts']}}", `version "lts": want a release line`},
		{"typo in a key", "languages: {node: {version: ['18']}}", `unknown field "version"`},
		{"bad image template", "languages: {node: {buildImage: 'node:{{ .Vers }}'}}", "buildImage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePlatform([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
