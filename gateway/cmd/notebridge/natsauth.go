package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// natsAuth turns the -nats-creds, -nats-nkey-seed and -nats-tls-* flags
// into connection options, checking first that each file exists, so that a
// wrong path stops the gateway at start rather than in its reconnect loop.
func natsAuth(cfg config) ([]nats.Option, error) {
	files := map[string]string{"-nats-creds": cfg.NATSCreds, "-nats-nkey-seed": cfg.NATSNkeySeed,
		"-nats-tls-ca": cfg.NATSTLSCA, "-nats-tls-cert": cfg.NATSTLSCert, "-nats-tls-key": cfg.NATSTLSKey}
	for flag, path := range files {
		if path == "" {
			continue
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
	}
	if (cfg.NATSTLSCert == "") != (cfg.NATSTLSKey == "") {
		return nil, errors.New("-nats-tls-cert and -nats-tls-key go together")
	}
	if cfg.NATSCreds != "" && cfg.NATSNkeySeed != "" {
		return nil, errors.New("-nats-creds and -nats-nkey-seed are two ways to log in: give one")
	}
	var opts []nats.Option
	if cfg.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	}
	if cfg.NATSNkeySeed != "" {
		opt, err := nats.NkeyOptionFromSeed(cfg.NATSNkeySeed)
		if err != nil {
			return nil, fmt.Errorf("-nats-nkey-seed: %w", err)
		}
		opts = append(opts, opt)
	}
	if cfg.NATSTLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.NATSTLSCA))
	}
	if cfg.NATSTLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.NATSTLSCert, cfg.NATSTLSKey))
	}
	return opts, nil
}
