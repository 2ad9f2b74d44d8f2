package main

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mailaudit/mailaudit/cli"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mailaudit": func() {
			if os.Getenv("MAILAUDIT_SERVER") != "" {
				os.Setenv("MAILAUDIT_TOKEN", tokenFor(os.Args[1:]))
			}
			os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs the command-line scenarios in testdata/script: each is a
// shell-like script with the files it reads and the output it must print.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("MAILAUDIT_DATA", env.WorkDir+"/data")
			return nil
		},
	})
}
