package main

import (
	"net/http/httptest"
	"testing"
)

func TestGreet(t *testing.T) {
	rec := httptest.NewRecorder()
	greet(rec, httptest.NewRequest("GET", "/", nil))
	if got, want := rec.Body.String(), "hello, slipway\n"; got != want {
		t.Errorf("GET / = %q, want %q", got, want)
	}
}
