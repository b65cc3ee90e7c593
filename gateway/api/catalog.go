package api

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/notebridge/notebridge/gateway/contracts"
	"github.com/notebridge/notebridge/gateway/wire"
)

// Discovery waits: the first $SRV.INFO reply may take up to discoveryWait,
// and collection stops once no further reply came within discoveryQuiet.
const (
	discoveryWait  = 250 * time.Millisecond
	discoveryQuiet = 50 * time.Millisecond
)

// versionEntry is one contract version in the catalog.
type versionEntry struct {
	Version        int     `json:"version"`
	Mode           string  `json:"mode"`
	Deprecated     bool    `json:"deprecated"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
	Digest         string  `json:"digest"`
	Href           string  `json:"href"`
	// Workers counts the worker processes serving this version right now.
	Workers int `json:"workers"`
	// DriftedWorkers counts those among them whose digest differs from ours.
	DriftedWorkers int `json:"drifted_workers"`
	// Calls lists the contracts a composed contract calls; its Workers
	// are the fewest that serve one of them.
	Calls []string `json:"calls,omitempty"`
}

type catalogEntry struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Latest      int            `json:"latest"`
	Versions    []versionEntry `json:"versions"`
}

// Catalog lists every contract and version, and whether workers serve them.
func Catalog(reg *contracts.Registry, nc *nats.Conn, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		live, err := discover(nc)
		if err != nil {
			log.Warn("worker discovery failed", "request_id", RequestIDOf(c), "err", err)
		}
		var out []catalogEntry
		for _, ct := range reg.All() {
			if len(out) == 0 || out[len(out)-1].Name != ct.Name {
				latest, _ := reg.Latest(ct.Name)
				out = append(out, catalogEntry{Name: ct.Name, Description: latest.Description, Latest: latest.Version})
			}
			v := versionEntry{
				Version: ct.Version, Mode: string(ct.Mode), Deprecated: ct.Deprecated,
				TimeoutSeconds: ct.Timeout.Seconds(), Digest: ct.Digest, Href: href(ct),
			}
			if ct.Composed() {
				v.Calls, v.Workers = composedWorkers(ct, live)
				out[len(out)-1].Versions = append(out[len(out)-1].Versions, v)
				continue
			}
			key := ct.Subject
			if ct.Mode == contracts.ModeJob {
				key = wire.JobMetadataPrefix + ct.ID()
			}
			for _, digest := range live[key] {
				v.Workers++
				if digest != ct.Digest {
					v.DriftedWorkers++
				}
			}
			out[len(out)-1].Versions = append(out[len(out)-1].Versions, v)
		}
		return c.JSON(fiber.Map{"contracts": out})
	}
}

// composedWorkers lists the contracts ct calls and the fewest workers
// that serve one of them: a composition answers when each has one.
func composedWorkers(ct *contracts.Contract, live map[string][]string) ([]string, int) {
	var calls []string
	fewest := -1
	for _, s := range ct.Compose.Steps {
		for _, b := range s.Branches {
			if slices.Contains(calls, b.Call) {
				continue
			}
			calls = append(calls, b.Call)
			if n := len(live[b.Target.Subject]); fewest < 0 || n < fewest {
				fewest = n
			}
		}
	}
	return calls, max(fewest, 0)
}

// Describe returns one contract version: its schemas and examples.
func Describe(reg *contracts.Registry) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ct, err := contractOf(reg, c)
		if err != nil {
			return err
		}
		out := fiber.Map{
			"name":            ct.Name,
			"version":         ct.Version,
			"description":     ct.Description,
			"mode":            ct.Mode,
			"deprecated":      ct.Deprecated,
			"timeout_seconds": ct.Timeout.Seconds(),
			"subject":         ct.Subject,
			"digest":          ct.Digest,
			"href":            href(ct),
			"request_schema":  ct.RequestSchemaRef,
			"response_schema": ct.ResponseSchemaRef,
			"schemas":         ct.Schemas,
			"examples":        ct.Examples,
		}
		// The schema files verbatim: the digest is over their bytes, and
		// "schemas" above are re-encoded (compacted) by the JSON encoder.
		sources := make(map[string]string, len(ct.Schemas))
		for path, raw := range ct.Schemas {
			sources[path] = string(raw)
		}
		out["schema_sources"] = sources
		if ct.Mode == contracts.ModeStream {
			out["chunk_schema"] = ct.ChunkSchemaRef
			out["idle_timeout_seconds"] = ct.IdleTimeout.Seconds()
			if ct.Merge != nil {
				out["merge"] = ct.Merge
			}
		}
		if ct.Repair != nil {
			out["repair"] = ct.Repair
		}
		if ct.Cache != nil {
			out["cache"] = ct.Cache
		}
		if ct.Composed() {
			out["compose"] = ct.Compose.Manifest
		}
		if ct.Tenant != nil {
			out["tenant"] = ct.Tenant.String()
		}
		if ct.Mode == contracts.ModeJob {
			out["max_attempts"] = ct.MaxAttempts
			out["ack_wait_seconds"] = ct.AckWait.Seconds()
		}
		return c.JSON(out)
	}
}

func href(ct *contracts.Contract) string { return "/api/" + ct.Name + "/v" + strconv.Itoa(ct.Version) }

// discover asks every micro service on the bus for its INFO and returns,
// per endpoint subject, the contract digest each serving worker announced;
// job contracts, which workers pull rather than serve, are keyed
// "job:<name>/v<N>" from the services' metadata.
func discover(nc *nats.Conn) (map[string][]string, error) {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe() //nolint:errcheck // best effort; the inbox is unique
	if err := nc.PublishRequest("$SRV.INFO", inbox, nil); err != nil {
		return nil, err
	}
	live := map[string][]string{}
	wait := discoveryWait
	for {
		msg, err := sub.NextMsg(wait)
		if err != nil { // timeout: nobody else is answering
			return live, nil
		}
		wait = discoveryQuiet
		var info micro.Info
		if json.Unmarshal(msg.Data, &info) != nil {
			continue
		}
		for _, ep := range info.Endpoints {
			live[ep.Subject] = append(live[ep.Subject], ep.Metadata["digest"])
		}
		for key, digest := range info.Metadata {
			if strings.HasPrefix(key, wire.JobMetadataPrefix) {
				live[key] = append(live[key], digest)
			}
		}
	}
}
