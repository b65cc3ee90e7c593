package contracts_test

import (
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

func TestNewRequest(t *testing.T) {
	reg, err := contracts.Load("../../testdata/contracts")
	if err != nil {
		t.Fatal(err)
	}
	echo, err := reg.Lookup("echo", 1)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.UnixMilli(1_700_000_000_123)
	body := []byte(`{"text": "hi", "n": 1.10}`)
	tests := []struct {
		name, traceparent string
		want              map[string]string
	}{
		{"without trace context", "", map[string]string{
			wire.HeaderRequestID: "req-1", wire.HeaderDeadline: "1700000000123",
			wire.HeaderContract: "echo/v1", wire.HeaderContractDigest: echo.Digest, wire.HeaderTraceparent: "",
		}},
		{"with trace context", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", map[string]string{
			wire.HeaderTraceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := echo.NewRequest(body, "req-1", deadline, tt.traceparent)
			if msg.Subject != "nb.echo.v1" || string(msg.Data) != string(body) {
				t.Errorf("got subject %q data %s; want nb.echo.v1 and the body unchanged", msg.Subject, msg.Data)
			}
			for h, want := range tt.want {
				if got := msg.Header.Get(h); got != want {
					t.Errorf("header %s: got %q; want %q", h, got, want)
				}
			}
		})
	}
}
