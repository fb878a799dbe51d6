// Package app wires Sluice together and implements its command line. It is
// the only package that imports all the others.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
)

// Version is set at build time with -ldflags "-X ...app.Version=v1.2.3".
var Version = "dev"

// usageError is a command-line mistake; it exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// ExitCode maps an error returned by Main to a process exit status.
func ExitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

const usage = `Sluice: an AI gateway and API governance platform in one binary.

Usage:
  sluice serve [--config FILE] [--listen ADDR] [--data-dir DIR]   run the gateway
  sluice config validate FILE                                     check a config file
  sluice reload                                                   apply the config file again
  sluice orgs create --name NAME [--rpm N] [--budget-usd X]       create an organisation (super-admin)
  sluice orgs list                                                list organisations
  sluice teams create --name NAME --org ID [limits]               create a team
  sluice teams list [--org ID]                                    list teams
  sluice apps create --name NAME --team ID [limits]               create an application
  sluice apps list [--org ID] [--team ID]                         list applications
  sluice keys create --name NAME --app ID [--models a,b] [limits] create a virtual key (shown once)
  sluice keys list                                                list virtual keys
  sluice keys rotate [--overlap SECONDS] ID                       give a key a new value; the old one works for the overlap
  sluice keys revoke ID|NAME                                      revoke a virtual key
  sluice usage [--org|--team|--app|--key ID] [--group-by G]       requests, tokens and cost from the ledger
  sluice requests [--limit N] [--org|--team|--app|--key ID]       print the newest ledger entries
  sluice products|subscriptions|models SUBCOMMAND                 API products, subscriptions, emergency stops
  sluice secrets rotate-kek [--data-dir DIR]                      re-wrap stored secrets under a new KEK (SLUICE_NEW_KEK)
  sluice admin-token reset [--data-dir DIR]                       replace a lost admin token (server stopped; prints the new one)
  sluice version

Client commands talk to a running server: --server URL (or SLUICE_SERVER,
default http://127.0.0.1:8080) with the admin token, or a user's admin API
token, in SLUICE_ADMIN_TOKEN. Limits: --rpm, --tpm, --max-concurrent,
--budget-usd, --budget-period.
`

// Main runs the command in args. stdout receives command output; stderr
// receives logs and messages.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stderr)
	case "config":
		if len(rest) != 2 || rest[0] != "validate" {
			return usageError{"usage: sluice config validate FILE"}
		}
		if _, err := config.Load(rest[1]); err != nil {
			return fmt.Errorf("%s: %w", rest[1], err)
		}
		fmt.Fprintf(stdout, "%s: valid\n", rest[1])
		return nil
	case "secrets":
		return secretsCommand(ctx, rest, stdout, stderr)
	case "admin-token":
		return adminTokenCommand(ctx, rest, stdout, stderr)
	case "products", "subscriptions", "models", "org-webhook":
		return productsCommand(ctx, cmd, rest, stdout, stderr)
	case "reload", "keys", "requests", "orgs", "teams", "apps", "usage":
		return clientCommand(ctx, cmd, rest, stdout, stderr)
	case "prompts":
		return promptsCommand(ctx, rest, stdout, stderr)
	case "version", "--version":
		return versionCommand(rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
