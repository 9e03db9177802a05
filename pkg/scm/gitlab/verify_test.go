package gitlab

import (
	"strings"
	"testing"
)

func TestVerifyToken(t *testing.T) {
	tests := []struct {
		name, want, got, wantErr string
	}{
		{"match", "s3cret", "s3cret", ""},
		{"mismatch", "s3cret", "s3creT", "does not match"},
		{"prefix", "s3cret", "s3cre", "does not match"},
		{"missing header", "s3cret", "", "missing"},
		{"not configured", "", "", "not configured"},
		{"not configured, token sent", "", "anything", "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyToken(tt.want, tt.got)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("VerifyToken() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("VerifyToken() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
