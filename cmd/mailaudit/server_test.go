package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mailaudit/mailaudit/config"
	"github.com/mailaudit/mailaudit/daemon"
	"github.com/mailaudit/mailaudit/token"
)

// TestScriptsServer runs the same scenarios as TestScripts with every
// command going to a daemon over HTTP (--server): the output must be the
// same. Each script gets its own daemon on a loopback port and a token per
// role; tokenFor picks the one a command needs, as an operator would.
func TestScriptsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a daemon per script")
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			data := filepath.Join(env.WorkDir, "server-data")
			cfg := config.Defaults()
			cfg.Data = data
			cfg.Listen = []config.Listener{{Address: "127.0.0.1:0"}}
			tokens := token.Open(cfg.TokensPath())
			// Admin records name the token; named after the local user, they
			// read as the local mode's, which name that user.
			admin := "admin"
			if u, err := user.Current(); err == nil {
				admin = u.Username
			}
			for _, r := range []struct {
				name string
				role token.Role
				env  string
			}{{admin, token.Admin, "TEST_ADMIN_TOKEN"}, {"auditor", token.Auditor, "TEST_AUDITOR_TOKEN"}, {"ingest", token.Ingest, "TEST_INGEST_TOKEN"}} {
				secret, err := tokens.Create(r.name, r.role, time.Now())
				if err != nil {
					return err
				}
				env.Setenv(r.env, secret)
			}
			ctx, cancel := context.WithCancel(context.Background())
			addr := make(chan string, 1)
			done := make(chan error, 1)
			d := &daemon.Daemon{Config: &cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Listening: func(a []string) { addr <- a[0] }}
			go func() { done <- d.Run(ctx) }()
			select {
			case a := <-addr:
				env.Setenv("MAILAUDIT_SERVER", "http://"+a)
			case err := <-done:
				cancel()
				return err
			}
			// The local data directory must stay unused: a command that
			// missed --server would create it.
			env.Setenv("MAILAUDIT_DATA", filepath.Join(env.WorkDir, "local-data-must-not-exist"))
			env.Defer(func() {
				cancel()
				if err := <-done; err != nil {
					env.T().Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(env.WorkDir, "local-data-must-not-exist")); err == nil {
					env.T().Fatal("a command used the local data directory instead of the server")
				}
			})
			return nil
		},
	})
}

// tokenFor is the token a command needs: ingest writes activity, searches
// and reports read the audit log, and everything else is configuration.
func tokenFor(args []string) string {
	cmd := ""
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			cmd = a
			break
		}
	}
	switch {
	case cmd == "ingest":
		return os.Getenv("TEST_INGEST_TOKEN")
	case strings.HasPrefix(cmd, "search-"), strings.HasSuffix(cmd, "-report"):
		return os.Getenv("TEST_AUDITOR_TOKEN")
	}
	return os.Getenv("TEST_ADMIN_TOKEN")
}
