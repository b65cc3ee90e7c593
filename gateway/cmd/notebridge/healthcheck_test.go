package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ok     bool
	}{
		{"ready", http.StatusOK, true},
		{"not ready", http.StatusServiceUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/readyz" {
					t.Errorf("probed %s; want /readyz", r.URL.Path)
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			err := runHealthcheck(context.Background(), []string{"-url", srv.URL + "/readyz"}, io.Discard)
			if (err == nil) != tt.ok {
				t.Errorf("got %v; want ok %v", err, tt.ok)
			}
		})
	}
	if err := runHealthcheck(context.Background(), []string{"-url", "http://127.0.0.1:1/readyz"}, io.Discard); err == nil {
		t.Error("nobody listening: got nil; want an error")
	}
}
