package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Setenv(postgresEnv, "postgres://u@127.0.0.1:1/db")
	type got struct {
		Stores      []string
		Events      int
		Concurrency []int
		Rates       []float64
	}
	tests := []struct {
		name    string
		args    []string
		want    got
		wantErr bool
	}{
		{
			name: "engines expand to stores",
			args: []string{"--engines", "sqlite,postgres"},
			want: got{Stores: []string{"sqlite://", "postgres://u@127.0.0.1:1/db"}, Events: 500, Concurrency: []int{1, 8, 32}},
		},
		{
			name: "repeated store, own counts",
			args: []string{"--store", "sqlite:///var/tmp", "--store", "postgres://x/y", "--events", "20", "--concurrency", "2, 4", "--rate", "500,1000"},
			want: got{Stores: []string{"sqlite:///var/tmp", "postgres://x/y"}, Events: 20, Concurrency: []int{2, 4}, Rates: []float64{500, 1000}},
		},
		{name: "no store", args: nil, wantErr: true},
		{name: "unknown engine", args: []string{"--engines", "mysql"}, wantErr: true},
		{name: "zero events", args: []string{"--engines", "sqlite", "--events", "0"}, wantErr: true},
		{name: "bad concurrency", args: []string{"--engines", "sqlite", "--concurrency", "1,x"}, wantErr: true},
		{name: "bad rate", args: []string{"--engines", "sqlite", "--rate", "0"}, wantErr: true},
		{name: "stray argument", args: []string{"--engines", "sqlite", "extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parse(%q) error = %v, wantErr %v", tt.args, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got{o.stores, o.events, o.concurrency, o.rates}); diff != "" {
				t.Errorf("parse(%q) (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}

func TestParseNeedsPostgresURL(t *testing.T) {
	t.Setenv(postgresEnv, "")
	if _, err := parse([]string{"--engines", "postgres"}); err == nil {
		t.Error("parse accepted --engines postgres without a URL")
	}
}
