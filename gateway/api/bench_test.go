package api_test

import (
	"testing"
	"time"

	"github.com/notebridge/notebridge/gateway/wire"
)

// BenchmarkNATSRoundTrip is one request to the Go reference worker and its
// reply, over TCP to an in-process server: the hop the gateway adds its
// work to.
func BenchmarkNATSRoundTrip(b *testing.B) {
	g := newGateway(b)
	g.serveEcho(b, []int{1})
	ct, err := g.reg.Lookup("echo", 1)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"text": "hello"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg := ct.NewRequest(body, "bench", time.Now().Add(5*time.Second), "")
		reply, err := g.nc.RequestMsg(msg, 5*time.Second)
		if err != nil || reply.Header.Get(wire.HeaderServiceErrorCode) != "" {
			b.Fatalf("reply %v, err %v", reply, err)
		}
	}
}
