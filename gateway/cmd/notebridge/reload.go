package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/notebridge/notebridge/gateway/contracts"
)

// notifyHangups starts catching SIGHUP, before the gateway says it
// listens: a SIGHUP that came earlier would end the process.
func notifyHangups(ctx context.Context) <-chan os.Signal {
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	context.AfterFunc(ctx, func() { signal.Stop(hangups) })
	return hangups
}

// reloadOnHangup loads the contract files again at each SIGHUP, until ctx
// ends. A set that loads replaces the served one at once (requests under
// way finish with the contracts they began with; the catalog, the routes'
// lookups and /openapi.json switch together). A set that does not load,
// or that would add or remove job mode (whose routes and JetStream objects
// are set up at start), is refused: the gateway goes on with the old set
// and logs why.
func reloadOnHangup(ctx context.Context, hangups <-chan os.Signal, reg *contracts.Registry, dirs []string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hangups:
			reload(reg, dirs, log)
		}
	}
}

func reload(reg *contracts.Registry, dirs []string, log *slog.Logger) {
	next, err := contracts.Load(dirs...)
	if err != nil {
		log.Error("contracts reload failed; still serving the previous contracts", "dirs", dirs, "err", err)
		return
	}
	if next.HasJobs() != reg.HasJobs() {
		log.Error("contracts reload refused: it would add or remove job contracts, which needs a restart; still serving the previous contracts", "dirs", dirs)
		return
	}
	reg.Replace(next)
	log.Info("contracts reloaded", "contracts", len(next.All()), "dirs", dirs)
}
