package config

import "testing"

func TestAPITokensFile(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{name: "default: none", want: ""},
		{name: "file", file: "api-tokens-file: /etc/slipway/tokens.yaml\n", want: "/etc/slipway/tokens.yaml"},
		{name: "env over file", env: map[string]string{"SLIPWAY_API_TOKENS_FILE": "/run/tokens.yaml"},
			file: "api-tokens-file: /etc/slipway/tokens.yaml\n", want: "/run/tokens.yaml"},
		{name: "flag over env", args: []string{"--api-tokens-file=/tmp/t.yaml"},
			env: map[string]string{"SLIPWAY_API_TOKENS_FILE": "/run/tokens.yaml"}, want: "/tmp/t.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if c.APITokensFile != tt.want {
				t.Errorf("APITokensFile = %q, want %q", c.APITokensFile, tt.want)
			}
		})
	}
}
