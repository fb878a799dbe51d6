package app

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/store"
)

// adminTokenCommand runs `sluice admin-token reset`: for an operator who
// lost the admin token printed on the first start. It works on the data
// directory (or database) directly, so it needs local access, not the
// token; it refuses while a server holds the data directory, because a
// running server keeps the token it started with.
func adminTokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: sluice admin-token reset [--data-dir DIR] [--db URL]"
	if len(args) == 0 || args[0] != "reset" {
		return usageError{use}
	}
	fs := newFlags("admin-token reset", stderr)
	dataDir := fs.String("data-dir", "sluice-data", "directory of the embedded database")
	dbURL := fs.String("db", os.Getenv("SLUICE_DATABASE_URL"), "a postgres:// URL (default $SLUICE_DATABASE_URL)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{use}
	}
	if *dbURL == "" {
		if _, err := os.Stat(*dataDir); err != nil {
			return fmt.Errorf("no Sluice data directory at %s (give --data-dir): %w", *dataDir, err)
		}
		lock, err := lockDataDir(*dataDir)
		if err != nil {
			return fmt.Errorf("%w\nStop the server first (a running server keeps the token it started with), "+
				"or restart it with a new token in SLUICE_ADMIN_TOKEN", err)
		}
		defer lock.Close()
	}
	st, err := store.Open(ctx, *dbURL, *dataDir)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	tok := auth.NewAdminToken()
	h := auth.HashKey(tok)
	if err := st.SetSetting(ctx, settingAdminToken, hex.EncodeToString(h[:])); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "New admin token (shown once; Sluice keeps only its hash; the old one no longer works):\n\n    %s\n\n", tok)
	if *dbURL != "" {
		fmt.Fprintln(stdout, "Restart every node that uses this database: a running server keeps the token it started with.")
	}
	if os.Getenv("SLUICE_ADMIN_TOKEN") != "" {
		fmt.Fprintln(stdout, "Note: a server started with SLUICE_ADMIN_TOKEN set uses that token instead; unset it or change it.")
	}
	return nil
}
