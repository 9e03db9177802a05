package sbom

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/package-url/packageurl-go"
)

func fixture(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/buildkit-sbom.spdx.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var fixturePackages = []Package{
	{Name: "/app/server"}, // no purl: kept for the record, no ecosystem
	{Ecosystem: "Debian:12", Name: "libssl3", Version: "3.0.11-1~deb12u2", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12", License: "Apache-2.0 AND GPL-2.0-or-later"},
	{Ecosystem: "Go", Name: "example.com/slipway-vuln", Version: "v1.0.0", PURL: "pkg:golang/example.com/slipway-vuln@v1.0.0", License: "MIT"},
	{Ecosystem: "Go", Name: "stdlib", Version: "1.26.8", PURL: "pkg:golang/stdlib@1.26.8", License: "BSD-3-Clause"},
	{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
	{Ecosystem: "PyPI", Name: "requests", Version: "2.30.0", PURL: "pkg:pypi/requests@2.30.0", License: "Apache-2.0"},
	{Ecosystem: "npm", Name: "@babel/core", Version: "7.24.0", PURL: "pkg:npm/%40babel/core@7.24.0", License: "MIT"},
}

func TestParseSPDX(t *testing.T) {
	got, err := ParseSPDX(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fixturePackages, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) ([]Package, error)
		body  string
		want  string
	}{
		{"not JSON", ParseSPDX, `{`, "reading SPDX document"},
		{"no version", ParseSPDX, `{"packages":[]}`, "spdxVersion"},
		{"bad purl", ParseSPDX, `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"name":"x","SPDXID":"SPDXRef-x","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"golang/x"}]}]}`, `purl "golang/x"`},
		{"statement of another type", ParseStatement, `{"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`, "want \"https://spdx.dev/Document\""},
		{"statement without predicate", ParseStatement, `{"predicateType":"https://spdx.dev/Document"}`, "no predicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.parse([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// statement wraps the fixture in an in-toto statement about digest, the
// way BuildKit stores it.
func statement(t *testing.T, doc []byte, digest v1.Hash) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": PredicateSPDX,
		"subject":       []map[string]any{{"name": "pkg:docker/test/app@v1", "digest": map[string]string{digest.Algorithm: digest.Hex}}},
		"predicate":     json.RawMessage(doc),
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func attestationIndex(t *testing.T, img v1.Image, imgDigest v1.Hash, statements ...[]byte) v1.ImageIndex {
	t.Helper()
	att := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	att = mutate.ConfigMediaType(att, types.OCIConfigJSON)
	for _, st := range statements {
		var err error
		att, err = mutate.Append(att, mutate.Addendum{
			Layer:       static.NewLayer(st, "application/vnd.in-toto+json"),
			Annotations: map[string]string{"in-toto.io/predicate-type": PredicateSPDX},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				"vnd.docker.reference.type":   "attestation-manifest",
				"vnd.docker.reference.digest": imgDigest.String(),
			},
		}})
}

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	second := []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[
	  {"name":"lodash","SPDXID":"SPDXRef-lodash","versionInfo":"4.17.20","licenseConcluded":"MIT",
	   "externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:npm/lodash@4.17.20"}]},
	  {"name":"stdlib","SPDXID":"SPDXRef-stdlib","versionInfo":"go1.26.8","licenseConcluded":"BSD-3-Clause",
	   "externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:golang/stdlib@1.26.8"}]}]}`)
	merged := append([]Package(nil), fixturePackages...)
	merged = append(merged, Package{Ecosystem: "npm", Name: "lodash", Version: "4.17.20", PURL: "pkg:npm/lodash@4.17.20", License: "MIT"})

	tests := []struct {
		name    string
		index   v1.ImageIndex
		want    []Package
		wantErr string
	}{
		{"one SBOM", attestationIndex(t, img, d, statement(t, fixture(t), d)), fixturePackages, ""},
		{"two SBOMs merged", attestationIndex(t, img, d, statement(t, fixture(t), d), statement(t, second, d)), merged, ""},
		{"SBOM about another image", attestationIndex(t, img, d, statement(t, fixture(t), other)), nil, "do not include image manifest " + d.String()},
		{"no SBOM", attestationIndex(t, img, d), nil, "no SPDX SBOM layer"},
		{"broken SBOM", attestationIndex(t, img, d, statement(t, []byte(`{"packages":1}`), d)), nil, "SBOM of " + d.String()},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := name.ParseReference(host + "/test/app:" + string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.WriteIndex(ref, tc.index); err != nil {
				t.Fatal(err)
			}
			got, err := Fetch(context.Background(), ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("packages (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseStatement checks the SPDX reader never panics and never returns
// a package without a name.
func FuzzParseStatement(f *testing.F) {
	doc := fixture(f)
	f.Add(doc)
	f.Add([]byte(`{"predicateType":"https://spdx.dev/Document","predicate":` + string(doc) + `}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParseStatement(data)
		if err != nil {
			pkgs, err = ParseSPDX(data)
		}
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatalf("package without a name: %+v", p)
			}
		}
	})
}

func TestOSVNameReleases(t *testing.T) {
	tests := []struct{ purl, want string }{
		{"pkg:deb/debian/libc6@2.36-9?distro=debian-12", "Debian:12"},
		{"pkg:deb/debian/libc6@2.36-9?distro=debian-12.15", "Debian:12"},
		{"pkg:deb/debian/libc6@2.36-9", "Debian"},
		{"pkg:deb/ubuntu/libc6@2.35-0?distro=ubuntu-22.04", "Ubuntu:22.04"},
		{"pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-3.18.4", "Alpine:v3.18"},
	}
	for _, tc := range tests {
		p, err := packageurl.FromString(tc.purl)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := osvName(p); got != tc.want {
			t.Errorf("osvName(%s) ecosystem = %q, want %q", tc.purl, got, tc.want)
		}
	}
}
