package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/e2e/builds"
)

func TestReplaceSection(t *testing.T) {
	const sec = startMarker + "\nnew\n" + endMarker + "\n"
	for _, tc := range []struct {
		name, doc, want, wantErr string
	}{
		{name: "empty file", doc: "", want: sec},
		{name: "appended after other sections", doc: "# Results\n<!-- intake:start -->\nx\n<!-- intake:end -->\n",
			want: "# Results\n<!-- intake:start -->\nx\n<!-- intake:end -->\n\n" + sec},
		{name: "replaced in place", doc: "a\n" + startMarker + "\nold\nold\n" + endMarker + "\nb\n",
			want: "a\n" + sec + "b\n"},
		{name: "end before start", doc: endMarker + "\n" + startMarker + "\n", wantErr: "malformed Builds section"},
		{name: "start without end", doc: startMarker + "\nold\n", wantErr: "malformed Builds section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replaceSection(tc.doc, sec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("replaceSection = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("replaceSection (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarkdownAims(t *testing.T) {
	rep := report{
		Date: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC), Machine: "2 vCPU test", Commit: "abc1234",
		Rows: []row{
			{Name: "go", Cold: 10 * time.Second, Rebuild: time.Second, Size: builds.Size{Compressed: 3e6, Uncompressed: 6e6, Layers: 3}, Binary: 5e6},
			{Name: "node", Cold: 10 * time.Second, Rebuild: 4 * time.Second, Size: builds.Size{Compressed: 1e6, Uncompressed: 2e6, Layers: 4}},
		},
		Skipped: []skipped{{"java-gradle", "too old"}},
	}
	md := rep.markdown()
	for _, want := range []string{
		"| go | 10.0 s | 1.0 s | 10 % | 3.0 MB | 6.0 MB | 3 |",
		"| node | 10.0 s | 4.0 s | 40 % |",
		"rebuild ≤ 20 % of cold: **not met** by node (40 %).",
		"  - node: the template runs `npm prune --omit=dev` after `COPY . .`",
		"image / binary = 0.60 compressed, 1.20 uncompressed",
		"Go image ≤ 1.2 × its static binary (uncompressed, the stricter reading): met.",
		"- java-gradle not built: too old",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.HasPrefix(md, startMarker) || !strings.HasSuffix(md, endMarker+"\n") {
		t.Errorf("markdown is not delimited by the section markers:\n%s", md)
	}
}
