// Command sluice is the Sluice AI gateway: one binary that serves the data
// plane, the admin API and the command-line tools.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		os.Stderr.WriteString("sluice: " + err.Error() + "\n")
		stop()
		os.Exit(app.ExitCode(err))
	}
}
