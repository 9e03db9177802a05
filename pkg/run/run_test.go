package run

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestState(t *testing.T) {
	type got struct {
		Terminal bool
		Word     string
	}
	tests := []struct {
		state State
		want  got
	}{
		{Pending, got{false, "is pending"}},
		{Running, got{false, "is running"}},
		{Succeeded, got{true, "succeeded"}},
		{Failed, got{true, "failed"}},
		{Canceled, got{true, "was cancelled"}},
		{"odd", got{false, "odd"}},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, got{tt.state.Terminal(), tt.state.Word()}); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.state, d)
		}
	}
	r := Run{SHA: "0123456789abcdef"}
	if s := r.ShortSHA(); s != "01234567" {
		t.Errorf("ShortSHA = %q", s)
	}
}
