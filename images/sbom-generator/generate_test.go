package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTree writes files (path -> content) under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeJar writes a jar the way Maven packages one: the pom.properties
// under META-INF/maven names its coordinates.
func writeJar(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, data := range map[string]string{
		"META-INF/MANIFEST.MF":                          "Manifest-Version: 1.0\r\nImplementation-Title: lib\r\nImplementation-Version: 1.2.3\r\n\r\n",
		"META-INF/maven/org.example/lib/pom.properties": "groupId=org.example\nartifactId=lib\nversion=1.2.3\n",
		"org/example/Lib.class":                         "\xca\xfe\xba\xbe",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// linkSelf puts this test binary, a Go binary with real buildinfo (syft
// and its modules), into the tree: a hard link, else a copy.
func linkSelf(t *testing.T, path string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Link(self, path) == nil {
		return
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// rootfs is an image's filesystem with one package of each kind the
// generator must find.
func rootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/os-release": "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
		"var/lib/dpkg/status": `Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12000
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries

Package: ca-certificates
Status: install ok installed
Priority: optional
Section: misc
Installed-Size: 384
Maintainer: Julien Cristau <jcristau@debian.org>
Architecture: all
Version: 20230311
Description: Common CA certificates

`,
		// Declared dependencies left in the image (a source copy).
		"src/app/go.mod": "module example.com/app\n\ngo 1.22\n\nrequire golang.org/x/text v0.14.0\n",
		"src/app/go.sum": "golang.org/x/text v0.14.0 h1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\ngolang.org/x/text v0.14.0/go.mod h1:18ZOQIKpY8NJVqYksKHtTdi31H5itFRjB5/qKTNYzSU=\n",
		"src/app/pom.xml": `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.example</groupId>
  <artifactId>app</artifactId>
  <version>1.0.0</version>
  <dependencies>
    <dependency>
      <groupId>com.google.guava</groupId>
      <artifactId>guava</artifactId>
      <version>32.1.2-jre</version>
    </dependency>
  </dependencies>
</project>
`,
		"src/app/package.json": `{"name":"web","version":"1.0.0","dependencies":{"left-pad":"1.3.0"}}`,
		"src/app/package-lock.json": `{"name":"web","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{
  "":{"name":"web","version":"1.0.0","dependencies":{"left-pad":"1.3.0"}},
  "node_modules/left-pad":{"version":"1.3.0","resolved":"https://registry.invalid/left-pad/-/left-pad-1.3.0.tgz","integrity":"sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQ9zBVRSYo+i3aoPkoUvokOYqDBZUVQxoybPQrfm2UHn3LCA=="}}}`,
		"src/app/requirements.txt": "flask==3.0.0\n",
		// Installed packages.
		"usr/lib/node_modules/express/package.json":                        `{"name":"express","version":"4.18.2","license":"MIT"}`,
		"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n",
		"usr/lib/python3/dist-packages/requests-2.31.0.dist-info/RECORD":   "requests/__init__.py,,\n",
		"usr/lib/python3/dist-packages/requests/__init__.py":               "",
	})
	writeJar(t, filepath.Join(root, "usr/share/java/lib-1.2.3.jar"))
	linkSelf(t, filepath.Join(root, "usr/local/bin/app"))
	return root
}

type spdxDoc struct {
	SPDXVersion  string `json:"spdxVersion"`
	CreationInfo struct {
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages []struct {
		ExternalRefs []struct {
			Category string `json:"referenceCategory"`
			Type     string `json:"referenceType"`
			Locator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
}

type statementDoc struct {
	Type          string            `json:"_type"`
	PredicateType string            `json:"predicateType"`
	Subject       []json.RawMessage `json:"subject"`
	Predicate     spdxDoc           `json:"predicate"`
}

func readStatement(t *testing.T, path string) statementDoc {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st statementDoc
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return st
}

// purls lists the package URLs without qualifiers (arch, distro...), the
// part a policy matches on.
func purls(d spdxDoc) []string {
	var out []string
	for _, p := range d.Packages {
		for _, r := range p.ExternalRefs {
			if r.Type == "purl" {
				s, _, _ := strings.Cut(r.Locator, "?")
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRunCataloguesEveryEcosystem(t *testing.T) {
	src := rootfs(t)
	extras := t.TempDir()
	writeTree(t, filepath.Join(extras, "sbom-context"), map[string]string{
		"go.mod": "module example.com/ctx\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n",
	})
	dst := t.TempDir()
	err := run(context.Background(), envOf(map[string]string{
		envSource: src, envDestination: dst, envExtras: extras,
	}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	entries, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// BuildKit reads every file as a statement: nothing else may be left.
	if diff := cmp.Diff([]string{"sbom-context.spdx.json", "sbom.spdx.json"}, names); diff != "" {
		t.Errorf("files in the destination (-want +got):\n%s", diff)
	}

	st := readStatement(t, filepath.Join(dst, "sbom.spdx.json"))
	if st.Type != statementType || st.PredicateType != predicateSPDX || st.Predicate.SPDXVersion != "SPDX-2.3" {
		t.Errorf("statement header = %q %q %q, want %q %q SPDX-2.3", st.Type, st.PredicateType, st.Predicate.SPDXVersion, statementType, predicateSPDX)
	}
	if st.Subject == nil || len(st.Subject) != 0 {
		t.Errorf("subject = %v, want [] (BuildKit fills in the image)", st.Subject)
	}
	if !slices.Contains(st.Predicate.CreationInfo.Creators, "Tool: "+toolName+"-"+toolVersion) {
		t.Errorf("creators = %q, want the generator named", st.Predicate.CreationInfo.Creators)
	}
	got := purls(st.Predicate)
	want := []string{
		"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4",       // dpkg database
		"pkg:deb/debian/ca-certificates@20230311",     // dpkg database
		"pkg:golang/github.com/anchore/syft@v1.57.2",  // a Go binary's buildinfo
		"pkg:golang/golang.org/x/text@v0.14.0",        // go.mod
		"pkg:maven/org.example/lib@1.2.3",             // a jar's pom.properties
		"pkg:maven/com.google.guava/guava@32.1.2-jre", // pom.xml
		"pkg:npm/left-pad@1.3.0",                      // package-lock.json
		"pkg:npm/express@4.18.2",                      // node_modules
		"pkg:pypi/requests@2.31.0",                    // site-packages
		"pkg:pypi/flask@3.0.0",                        // requirements.txt
	}
	var missing []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		t.Errorf("packages missing from the SBOM: %q\ngot:\n%s", missing, strings.Join(got, "\n"))
	}

	extra := purls(readStatement(t, filepath.Join(dst, "sbom-context.spdx.json")).Predicate)
	if !slices.Contains(extra, "pkg:golang/github.com/google/uuid@v1.6.0") || slices.Contains(extra, "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4") {
		t.Errorf("the extra context's SBOM = %q, want its own go.mod only", extra)
	}
}

func TestRunRejectsABadContract(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeTree(t, dir, map[string]string{"file": "x"})
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, envSource + " and " + envDestination + " must be set"},
		{"no destination", map[string]string{envSource: dir}, "must be set"},
		{"destination missing", map[string]string{envSource: dir, envDestination: filepath.Join(dir, "nope")}, "destination:"},
		{"destination is a file", map[string]string{envSource: dir, envDestination: file}, "is not a directory"},
		{"source missing", map[string]string{envSource: filepath.Join(dir, "nope"), envDestination: t.TempDir()}, "scanning"},
		{"source is a file", map[string]string{envSource: file, envDestination: t.TempDir()}, "is not a directory"},
		{"extras missing", map[string]string{envSource: dir, envDestination: t.TempDir(), envExtras: filepath.Join(dir, "nope")}, "extras:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), envOf(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v, want an error containing %q", err, tc.want)
			}
			// Nothing half-written for BuildKit to choke on.
			if d := tc.env[envDestination]; d != "" && d != file {
				if entries, _ := os.ReadDir(d); len(entries) > 0 {
					t.Errorf("destination holds %d files after a failure", len(entries))
				}
			}
		})
	}
}
