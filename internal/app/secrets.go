package app

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
)

// secretsCommand runs `sluice secrets rotate-kek`: it re-wraps the stored
// data-encryption key under a new key-encryption key. The current KEK is
// found as `serve` finds it (SLUICE_KEK, SLUICE_KEK_FILE or
// <data-dir>/kek); the new one comes from SLUICE_NEW_KEK (base64 of 32
// bytes) or is generated and printed once.
func secretsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate-kek" {
		return usageError{"usage: sluice secrets rotate-kek [--data-dir DIR] [--db URL]"}
	}
	fs := newFlags("secrets rotate-kek", stderr)
	dataDir := fs.String("data-dir", "sluice-data", "directory of the embedded database and the generated KEK")
	dbURL := fs.String("db", os.Getenv("SLUICE_DATABASE_URL"), "a postgres:// URL (default $SLUICE_DATABASE_URL)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	current, origin, err := secrets.LoadKEK(*dataDir, os.Getenv)
	if err != nil {
		return err
	}
	next, generated := secrets.KEK{}, false
	if v := os.Getenv("SLUICE_NEW_KEK"); v != "" {
		if next, err = secrets.ParseKEK(v); err != nil {
			return err
		}
	} else {
		if next, err = secrets.NewKEK(); err != nil {
			return err
		}
		generated = true
	}
	st, err := store.Open(ctx, *dbURL, *dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := secrets.RotateKEK(ctx, st, current, next); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "The data key is now wrapped by %s (was %s, from %s).\n", next.ID(), current.ID(), origin.Source)
	if generated {
		fmt.Fprintf(stdout, "New key-encryption key (shown once; start Sluice with SLUICE_KEK set to it):\n\n    %s\n\n", next.Encode())
	}
	return nil
}
