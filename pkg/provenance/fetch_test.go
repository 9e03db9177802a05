package provenance

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
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
)

// withSubject returns the fixture statement re-pointed at digest, as
// BuildKit would have written it for that image.
func withSubject(t *testing.T, fixture string, digest v1.Hash) []byte {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(readFixture(t, fixture), &st); err != nil {
		t.Fatal(err)
	}
	st["subject"] = []map[string]any{{"name": "pkg:docker/test/app@v1", "digest": map[string]string{digest.Algorithm: digest.Hex}}}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type layerSpec struct {
	predicateType string
	data          []byte
}

// attestationManifest builds a manifest shaped like BuildKit's: in-toto
// layers annotated with their predicate type.
func attestationManifest(t *testing.T, layers ...layerSpec) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(l.data, mediaTypeInTotoLayer),
			Annotations: map[string]string{annotationPredicate: l.predicateType},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// index builds an image index holding img and, when att is not nil, an
// attestation manifest that references attFor.
func index(t *testing.T, img v1.Image, att v1.Image, attFor v1.Hash) v1.ImageIndex {
	t.Helper()
	adds := []mutate.IndexAddendum{{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}}}
	if att != nil {
		adds = append(adds, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{annotationRefType: refTypeAttestation, annotationRefDigest: attFor.String()},
		}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

func TestFetch(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	imgDigest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	other, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	otherDigest, err := other.Digest()
	if err != nil {
		t.Fatal(err)
	}
	v1Layer := layerSpec{PredicateSLSA1, withSubject(t, "buildkit-provenance-v1.json", imgDigest)}
	v02Layer := layerSpec{PredicateSLSA02, withSubject(t, "buildkit-provenance-v0.2.json", imgDigest)}
	sbomLayer := layerSpec{"https://spdx.dev/Document", []byte(`{"predicateType":"https://spdx.dev/Document","predicate":{}}`)}

	tests := []struct {
		name    string
		push    func(ref name.Reference) error
		want    *summary
		wantErr string
	}{{
		name: "v1 provenance next to an SBOM",
		push: func(ref name.Reference) error {
			return remote.WriteIndex(ref, index(t, img, attestationManifest(t, sbomLayer, v1Layer), imgDigest))
		},
		want: &summary{
			PredicateType: PredicateSLSA1, BuilderID: "https://slipway.dev/builder/buildkit", Repo: fixtureRepo, Revision: fixtureCommit,
			ConfigSource: ConfigSource{Path: "Dockerfile"}, Materials: []string{fixtureBase}, Subjects: 1,
		},
	}, {
		name: "v0.2 provenance",
		push: func(ref name.Reference) error {
			return remote.WriteIndex(ref, index(t, img, attestationManifest(t, v02Layer), imgDigest))
		},
		want: &summary{
			PredicateType: PredicateSLSA02, BuilderID: "https://slipway.dev/builder/buildkit", Repo: fixtureRepo, Revision: fixtureCommit,
			ConfigSource: ConfigSource{EntryPoint: "Dockerfile"}, Materials: []string{fixtureBase}, Subjects: 1,
		},
	}, {
		name: "statement about another image",
		push: func(ref name.Reference) error {
			st := layerSpec{PredicateSLSA1, withSubject(t, "buildkit-provenance-v1.json", otherDigest)}
			return remote.WriteIndex(ref, index(t, img, attestationManifest(t, st), imgDigest))
		},
		wantErr: "do not include image manifest " + imgDigest.String(),
	}, {
		name: "attestation for another manifest",
		push: func(ref name.Reference) error {
			return remote.WriteIndex(ref, index(t, img, attestationManifest(t, v1Layer), otherDigest))
		},
		wantErr: "no attestation manifest for image " + imgDigest.String(),
	}, {
		name: "built without provenance",
		push: func(ref name.Reference) error {
			return remote.WriteIndex(ref, index(t, img, nil, v1.Hash{}))
		},
		wantErr: "was it built with attest:provenance?",
	}, {
		name: "only an SBOM",
		push: func(ref name.Reference) error {
			return remote.WriteIndex(ref, index(t, img, attestationManifest(t, sbomLayer), imgDigest))
		},
		wantErr: `no SLSA provenance layer (predicate types found: ["https://spdx.dev/Document"])`,
	}, {
		name:    "a single image, not an index",
		push:    func(ref name.Reference) error { return remote.Write(ref, img) },
		wantErr: "not an index: it carries no attestations",
	}}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := name.ParseReference(host + "/test/app:" + string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.push(ref); err != nil {
				t.Fatalf("push: %v", err)
			}
			st, err := Fetch(context.Background(), ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Fetch error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			got := summarize(st)
			if diff := cmp.Diff(tc.want, &got); diff != "" {
				t.Errorf("statement (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{imgDigest.String()}, st.SubjectDigests()); diff != "" {
				t.Errorf("subjects (-want +got):\n%s", diff)
			}
		})
	}
}
