// Command mailaudit is Exchange-style mailbox audit logging for Dovecot and
// Postfix. See the README and `mailaudit --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mailaudit/mailaudit/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
