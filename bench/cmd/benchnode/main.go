// Command benchnode runs the baselines that bench/cmd/nbbench measures
// notebridge against:
//
//	benchnode fixed  -listen ADDR               R0: Fiber answering a fixed reply
//	benchnode bridge -listen ADDR -nats URL     R1: Fiber forwarding over NATS, no validation
//	benchnode bridge -protocol ...              R1h: the same, with the gateway's request headers
//	benchnode mirror -nats URL -contracts DIR   the Go responder behind R1 and G
//	benchnode natsreq -nats URL -n N            sequential NATS requests, prints p50 in µs
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchnode fixed|bridge|mirror|natsreq [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "HTTP listen address")
	natsURL := fs.String("nats", nats.DefaultURL, "NATS URL")
	subject := fs.String("subject", "nb.mirror.v1", "subject to send requests to")
	dir := fs.String("contracts", "bench/contracts", "contracts to serve (mirror)")
	body := fs.String("body", "", "request or reply body")
	n := fs.Int("n", 5000, "requests to send (natsreq)")
	protocol := fs.Bool("protocol", false, "send the headers the gateway sends (bridge; the contract of -subject from -contracts)")
	_ = fs.Parse(os.Args[2:])

	var err error
	switch os.Args[1] {
	case "fixed":
		err = fixed(*listen, []byte(*body))
	case "bridge":
		err = bridge(*listen, *natsURL, *subject, *dir, *protocol)
	case "mirror":
		err = mirror(*natsURL, *dir)
	case "natsreq":
		err = natsreq(*natsURL, *subject, []byte(*body), *n)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchnode:", err)
		os.Exit(1)
	}
}

func newApp() *fiber.App {
	return fiber.New(fiber.Config{DisableStartupMessage: true})
}

func fixed(listen string, reply []byte) error {
	app := newApp()
	app.Post("/*", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(reply)
	})
	return serve(app, listen)
}

// bridge forwards each body to subject. With protocol, the message carries
// the headers the gateway sends (request id, deadline, contract, digest),
// built by the gateway's own NewRequest, and nothing is validated.
func bridge(listen, url, subject, dir string, protocol bool) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	var ct *contracts.Contract
	if protocol {
		reg, err := contracts.Load(dir)
		if err != nil {
			return err
		}
		for _, c := range reg.All() {
			if c.Subject == subject {
				ct = c
			}
		}
		if ct == nil {
			return fmt.Errorf("no contract in %s has subject %s", dir, subject)
		}
	}
	app := newApp()
	app.Post("/*", func(c *fiber.Ctx) error {
		msg := &nats.Msg{Subject: subject, Data: c.Body()}
		if ct != nil {
			msg = ct.NewRequest(c.Body(), nuid.Next(), time.Now().Add(10*time.Second), "")
		}
		reply, err := nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			return fiber.NewError(fiber.StatusBadGateway, err.Error())
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(reply.Data)
	})
	return serve(app, listen)
}

// mirror answers every contract in dir with the request it got, decoded and
// encoded again as a real handler would.
func mirror(url, dir string) error {
	reg, err := contracts.Load(dir)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	svc, err := micro.AddService(nc, micro.Config{Name: "benchnode-mirror", Version: "1.0.0", QueueGroup: wire.QueueGroup})
	if err != nil {
		return err
	}
	for _, ct := range reg.All() {
		handle := func(req micro.Request) {
			go func() {
				dec := json.NewDecoder(bytes.NewReader(req.Data()))
				dec.UseNumber()
				var v any
				if err := dec.Decode(&v); err != nil {
					_ = req.Error(wire.CodeInvalidRequest, err.Error(), nil)
					return
				}
				_ = req.RespondJSON(v)
			}()
		}
		if err := svc.AddEndpoint(fmt.Sprintf("%s-v%d", ct.Name, ct.Version), micro.HandlerFunc(handle),
			micro.WithEndpointSubject(ct.Subject),
			micro.WithEndpointMetadata(map[string]string{"digest": ct.Digest})); err != nil {
			return err
		}
	}
	fmt.Println("ready")
	waitForSignal()
	return svc.Stop()
}

// natsreq measures the round trip the gateway adds its work to.
func natsreq(url, subject string, body []byte, n int) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := nc.Request(subject, body, 5*time.Second); err != nil {
			return err
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("p50_us=%d p99_us=%d\n", lat[n/2].Microseconds(), lat[n*99/100].Microseconds())
	return nil
}

func serve(app *fiber.App, listen string) error {
	go func() {
		waitForSignal()
		_ = app.Shutdown()
	}()
	return app.Listen(listen)
}

func waitForSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
}
