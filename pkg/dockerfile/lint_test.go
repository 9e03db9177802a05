package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLint(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "clean", in: "FROM busybox:latest AS base\nCMD [\"true\"]\n"},
		{name: "as casing", in: "FROM busybox:latest as base\nCMD [\"true\"]\n",
			want: []string{"line 1: FromAsCasing: 'as' and 'FROM' keywords' casing do not match"}},
		{name: "shell-form CMD", in: "FROM busybox:latest\nCMD echo hi\n",
			want: []string{"line 2: JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals"}},
		{name: "maintainer", in: "FROM busybox:latest\nMAINTAINER me\n",
			want: []string{"line 2: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label"}},
		{name: "empty continuation", in: "FROM busybox:latest\nRUN echo a \\\n\n  b\n",
			want: []string{"line 4: NoEmptyContinuation: Empty continuation line"}},
		{name: "duplicate and reserved stage names", in: "FROM busybox:latest AS a\nFROM busybox:latest AS a\nFROM busybox:latest AS scratch\n",
			want: []string{"line 2: DuplicateStageName: Duplicate stage name \"a\", stage names should be unique", "line 3: ReservedStageName: Stage name should not use the same name as reserved stage \"scratch\""}},
		{name: "two CMDs", in: "FROM busybox:latest\nCMD [\"a\"]\nCMD [\"b\"]\n",
			want: []string{"line 2: MultipleInstructionsDisallowed: Multiple CMD instructions should not be used in the same stage because only the last one will be used"}},
		{name: "relative workdir", in: "FROM busybox:latest\nWORKDIR app\n",
			want: []string{"line 2: WorkdirRelativePath: Relative workdir \"app\" can have unexpected results if the base image changes"}},
		{name: "legacy ENV", in: "FROM busybox:latest\nENV A b\n",
			want: []string{"line 2: LegacyKeyValueFormat: \"ENV key=value\" should be used instead of legacy \"ENV key value\" format"}},
		{name: "mixed casing", in: "FROM busybox:latest\nRUN true\nCopy a /a\n",
			want: []string{"line 3: ConsistentInstructionCasing: Command 'Copy' should match the case of the command majority (uppercase)"}},
		{name: "syntax directive", in: "# syntax=docker/dockerfile:1\nFROM busybox:latest\n",
			want: []string{"line 1: SyntaxDirective: # syntax=docker/dockerfile:1 makes BuildKit pull a frontend image; remove it to use the builtin frontend"}},
		{name: "unknown instruction", in: "FROM busybox:latest\nFETCH x\n", wantErr: "unknown instruction: FETCH"},
		{name: "no stage", in: "# just a comment\n", wantErr: "file with no instructions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Lint([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
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
