package main

import (
	"net/http/httptest"
	"testing"
)

func TestGreet(t *testing.T) {
	for _, tt := range []struct{ query, want string }{
		{"", "hello, world\n"},
		{"?name=slipway", "hello, slipway\n"},
	} {
		rec := httptest.NewRecorder()
		greet(rec, httptest.NewRequest("GET", "/"+tt.query, nil))
		if got := rec.Body.String(); got != tt.want {
			t.Errorf("GET /%s = %q, want %q", tt.query, got, tt.want)
		}
	}
}
