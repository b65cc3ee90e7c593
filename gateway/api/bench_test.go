package api_test

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

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

// BenchmarkInvoke is one POST through the whole app, as Fiber serves it, to
// the same worker as BenchmarkNATSRoundTrip: the difference between the two
// is what the gateway adds to a request (middleware, the checks on both
// hops, headers, the access log), without the HTTP connection.
func BenchmarkInvoke(b *testing.B) {
	g := newGateway(b)
	g.serveEcho(b, []int{1})
	benchPosts(b, g, "/api/echo/v1")
}

// BenchmarkComposedParallel is one call of a composed contract whose step
// calls three contracts in parallel, each served by the Go reference
// worker, and merges their replies; BenchmarkThreeInvokes is its baseline:
// a client making the same three calls itself, one after the other.
func BenchmarkComposedParallel(b *testing.B) {
	g := composedBench(b)
	benchPosts(b, g, "/api/all/v1")
}

// BenchmarkThreeInvokes is three POSTs of the contracts
// BenchmarkComposedParallel composes, in sequence through the same app.
func BenchmarkThreeInvokes(b *testing.B) {
	g := composedBench(b)
	benchPosts(b, g, "/api/a/v1", "/api/b/v1", "/api/c/v1")
}

func composedBench(b *testing.B) *gateway {
	g := newGatewayWith(b, composeContracts(b, false))
	for _, name := range []string{"a", "b", "c"} {
		g.serve(b, name, []int{1})
	}
	return g
}

// benchPosts POSTs {"text": "hello"} to each path in turn, b.N times.
func benchPosts(b *testing.B, g *gateway, paths ...string) {
	handler := g.app.Handler()
	body := []byte(`{"text": "hello"}`)
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, path := range paths {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.ResetUserValues()
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.SetRequestURI(path)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBody(body)
			handler(&ctx)
			if status := ctx.Response.StatusCode(); status != fasthttp.StatusOK {
				b.Fatalf("%s: status %d: %s", path, status, ctx.Response.Body())
			}
		}
	}
}
