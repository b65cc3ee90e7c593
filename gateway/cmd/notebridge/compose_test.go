package main

import (
	"context"
	"flag"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeFile is the stack users deploy; no Docker engine runs here, so
// compose-go (Docker Compose's own loader) reads it the way `docker
// compose` would, and the test holds it to the gateway's flags.
const composeFile = "../../../docker-compose.yml"

func loadCompose(t *testing.T, env ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithName("notebridge"), cli.WithWorkingDirectory("../../.."), cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// gatewayVariables are the NOTEBRIDGE_* variables serve reads, from its flags.
func gatewayVariables() map[string]bool {
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(fs, &cfg)
	vars := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		for _, v := range regexp.MustCompile(`NOTEBRIDGE_[A-Z_]+`).FindAllString(f.Usage, -1) {
			vars[v] = true
		}
	})
	return vars
}

func TestComposeFile(t *testing.T) {
	passwords := []string{
		"NOTEBRIDGE_NATS_GATEWAY_PASSWORD=gw-secret",
		"NOTEBRIDGE_NATS_WORKER_PASSWORD=wk-secret",
		"NOTEBRIDGE_POSTGRES_PASSWORD=pg-secret",
	}
	for i, missing := range passwords {
		name, _, _ := strings.Cut(missing, "=")
		others := slices.Delete(slices.Clone(passwords), i, i+1)
		if _, err := loadCompose(t, others...); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v; want an error naming the variable", name, err)
		}
	}
	p, err := loadCompose(t, passwords...)
	if err != nil {
		t.Fatal(err)
	}
	nodes := []string{"nats-1", "nats-2", "nats-3"}
	for _, name := range append(slices.Clone(nodes), "gateway-1", "gateway-2", "worker", "postgres", "answer", "embed", "outbox-relay") {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	known := gatewayVariables()
	for _, s := range p.Services {
		t.Run(s.Name, func(t *testing.T) {
			if s.Restart == "" {
				t.Error("no restart policy")
			}
			for dep, d := range s.DependsOn {
				if d.Condition != types.ServiceConditionHealthy {
					t.Errorf("depends on %s until %q; want service_healthy", dep, d.Condition)
				}
			}
			for _, port := range s.Ports {
				if port.HostIP != "127.0.0.1" {
					t.Errorf("port %s published on %q; want 127.0.0.1 only", port.Published, port.HostIP)
				}
			}
			switch {
			case slices.Contains(nodes, s.Name):
				if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
					t.Error("a NATS node without a healthcheck")
				}
				if s.Environment["GATEWAY_PASSWORD"] == nil || *s.Environment["GATEWAY_PASSWORD"] != "gw-secret" {
					t.Error("the node does not get the gateway's password")
				}
			case strings.HasPrefix(s.Name, "gateway-"):
				for v := range s.Environment {
					if !known[v] {
						t.Errorf("sets %s, which notebridge serve does not read", v)
					}
				}
				url := *s.Environment["NOTEBRIDGE_NATS_URL"]
				for _, n := range nodes {
					if !strings.Contains(url, "nats://gateway:gw-secret@"+n+":4222") {
						t.Errorf("NOTEBRIDGE_NATS_URL does not reach %s as the gateway user", n)
					}
				}
				if r := s.Environment["NOTEBRIDGE_JS_REPLICAS"]; r == nil || *r != "3" {
					t.Error("a gateway of a three-node cluster creates its objects with one replica")
				}
				if len(s.Ports) != 1 || s.Ports[0].Target != 8080 {
					t.Errorf("ports %v; want one, to 8080", s.Ports)
				}
			case s.Name == "postgres": // the RAG example's database (docs/patterns.md)
				if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
					t.Error("PostgreSQL without a healthcheck")
				}
				if pw := s.Environment["POSTGRES_PASSWORD"]; pw == nil || *pw != "pg-secret" {
					t.Error("PostgreSQL does not get its password from NOTEBRIDGE_POSTGRES_PASSWORD")
				}
			case s.Name == "outbox-relay": // submits embed jobs over HTTP: a database, a gateway, no NATS
				if db := s.Environment["NOTEBRIDGE_RAG_DATABASE_URL"]; db == nil || !strings.Contains(*db, ":pg-secret@postgres:5432/") {
					t.Error("the relay does not reach PostgreSQL with its password")
				}
				if gw := s.Environment["NOTEBRIDGE_GATEWAY_URL"]; gw == nil || !strings.HasPrefix(*gw, "http://gateway-") {
					t.Error("the relay does not reach a gateway")
				}
				for _, need := range []string{"postgres", "gateway-1"} {
					if _, ok := s.DependsOn[need]; !ok {
						t.Errorf("the relay starts before %s is healthy", need)
					}
				}
				if len(s.Ports) != 0 {
					t.Error("the relay publishes a port: it needs none")
				}
			default: // a worker
				url := *s.Environment["NOTEBRIDGE_NATS_URL"]
				if !strings.Contains(url, "nats://worker:wk-secret@nats-1:4222") {
					t.Errorf("NOTEBRIDGE_NATS_URL %q: want the worker user on every node", url)
				}
				if len(s.Ports) != 0 {
					t.Error("a worker publishes a port: it needs none")
				}
				if db := s.Environment["NOTEBRIDGE_RAG_DATABASE_URL"]; db != nil && !strings.Contains(*db, ":pg-secret@postgres:5432/") {
					t.Errorf("NOTEBRIDGE_RAG_DATABASE_URL %q: want PostgreSQL with its password", *db)
				}
			}
		})
	}
}
