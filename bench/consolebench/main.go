// Command consolebench measures the server render time of the console's
// and the portal's heaviest pages over a generated install of 1,000,000
// keys and 10,000,000 ledger rows (with their attempts, the audit log and
// the analytics rollups), in process: the admin API and the console over
// one SQLite store (internal/console/consoletest), each page rendered at
// least 50 times, interleaved, as a signed-in organisation owner.
//
//	make bench-console                     # generates /tmp/sluice-consolebench once
//	go run ./bench/consolebench -keys 100000 -rows 1000000 -dir /tmp/small
//
// Results, with the generation time, are in bench/RESULTS.md.
package main

import (
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/console/consoletest"
	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/store/querycount"
)

func main() {
	dir := flag.String("dir", filepath.Join(os.TempDir(), "sluice-consolebench"), "the install's data directory (generated when it has no database)")
	nKeys := flag.Int("keys", 1_000_000, "keys to generate")
	nRows := flag.Int("rows", 10_000_000, "ledger rows to generate")
	renders := flag.Int("n", 50, "renders of each page")
	only := flag.String("page", "", "measure only the pages whose name contains this")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the measured renders here")
	dump := flag.String("dump", "", "print this page's HTML and stop (a path such as /console/audit)")
	flag.Parse()
	opts = options{only: *only, profile: *profile, dump: *dump}
	log.SetFlags(0)
	if err := run(*dir, *nKeys, *nRows, *renders); err != nil {
		log.Fatal(err)
	}
}

const password = "correct-horse-battery-staple"

type options struct{ only, profile, dump string }

var opts options

func run(dir string, nKeys, nRows, renders int) error {
	ctx := context.Background()
	if _, err := os.Stat(filepath.Join(dir, "sluice.db")); errors.Is(err, os.ErrNotExist) {
		log.Printf("generating %d keys and %d ledger rows in %s", nKeys, nRows, dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := generate(ctx, dir, nKeys, nRows, time.Now().UTC()); err != nil {
			return err
		}
	}
	st, err := store.OpenSQLiteDriver(ctx, dir, querycount.Driver)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := consoletest.New(ctx, st)
	if err != nil {
		return err
	}
	if _, err := st.UserByEmail(ctx, "owner@example.com"); errors.Is(err, store.ErrNotFound) {
		code, body := srv.Admin(ctx, http.MethodPost, "/admin/v1/users", map[string]any{"email": "owner@example.com", "password": password,
			"bindings": []map[string]any{{"role": "owner", "org_id": orgID}}})
		if code != http.StatusCreated {
			return fmt.Errorf("creating the owner: %d %s", code, body)
		}
	}
	cookie, err := srv.SignIn(ctx, "owner@example.com", password)
	if err != nil {
		return err
	}
	get := func(path string) (*httptest.ResponseRecorder, *querycount.Counter) {
		c, n := querycount.Track(ctx)
		req := httptest.NewRequestWithContext(c, http.MethodGet, path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, req)
		return rec, n
	}
	// The deep pages start at a cursor the pages' own links carry.
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
	deep := func(path string, hops int) (string, error) {
		for range hops {
			rec, _ := get(path)
			body, err := gunzip(rec)
			if err != nil {
				return "", err
			}
			m := next.FindStringSubmatch(body)
			if m == nil {
				return "", fmt.Errorf("%s: no next link", path)
			}
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
		return path, nil
	}
	if opts.dump != "" {
		rec, n := get(opts.dump)
		body, err := gunzip(rec)
		fmt.Printf("%d, %d store queries:\n%s\n%s\n", rec.Code, n.N(), strings.Join(n.Statements(), "\n"), body)
		return err
	}
	keys3, err := deep("/console/keys", 3)
	if err != nil {
		return err
	}
	ledger3, err := deep("/console/ledger?limit=200", 3)
	if err != nil {
		return err
	}
	limitApps3, err := deep("/console/limits?level=application", 3)
	if err != nil {
		return err
	}
	limitKeys3, err := deep("/console/limits?level=key", 3)
	if err != nil {
		return err
	}
	pages := []struct{ name, path string }{
		{"overview (24 h)", "/console/"},
		{"overview (7 d)", "/console/?window=7d"},
		{"keys", "/console/keys"},
		{"keys, 4th page", keys3},
		{"ledger (50)", "/console/ledger"},
		{"ledger (200)", "/console/ledger?limit=200"},
		{"ledger (200), 4th page", ledger3},
		{"audit (200)", "/console/audit"},
		{"portal application (usage)", "/portal/apps/" + appID(0)},
		{"limits (month's spend)", "/console/limits"},
		{"limits, applications", "/console/limits?level=application"},
		{"limits, applications, 4th page", limitApps3},
		{"limits, keys", "/console/limits?level=key"},
		{"limits, keys, 4th page", limitKeys3},
	}
	if opts.only != "" {
		pages = slices.DeleteFunc(pages, func(p struct{ name, path string }) bool { return !strings.Contains(p.name, opts.only) })
	}
	type sample struct{ wall, cpu time.Duration }
	samples := make([][]sample, len(pages))
	bytes := make([]int, len(pages))
	queries := make([]int, len(pages))
	for _, p := range pages { // warm the caches once
		if rec, _ := get(p.path); rec.Code != http.StatusOK {
			return fmt.Errorf("GET %s: %d", p.path, rec.Code)
		}
	}
	if opts.profile != "" {
		f, err := os.Create(opts.profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for range renders {
		for i, p := range pages {
			c0 := cpu()
			t0 := time.Now()
			rec, n := get(p.path)
			wall, used := time.Since(t0), cpu()-c0
			if rec.Code != http.StatusOK {
				return fmt.Errorf("GET %s: %d", p.path, rec.Code)
			}
			samples[i] = append(samples[i], sample{wall, used})
			bytes[i], queries[i] = rec.Body.Len(), n.N()
		}
	}
	var load string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	fmt.Printf("%d keys, %d ledger rows; %d renders of each page, interleaved; load average %s\n\n", nKeys, nRows, renders, load)
	fmt.Println("| page | wall p50 | wall p95 | CPU p50 | CPU p95 | gzipped | store queries |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for i, p := range pages {
		var w, c []time.Duration
		for _, s := range samples[i] {
			w, c = append(w, s.wall), append(c, s.cpu)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %.1f KB | %d |\n", p.name, pct(w, 50), pct(w, 95), pct(c, 50), pct(c, 95),
			float64(bytes[i])/1000, queries[i])
	}
	return nil
}

func pct(v []time.Duration, p int) string {
	slices.Sort(v)
	d := v[min(len(v)-1, (len(v)*p+99)/100-1)]
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// cpu is this process's user and system CPU time so far.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func gunzip(rec *httptest.ResponseRecorder) (string, error) {
	if rec.Header().Get("Content-Encoding") != "gzip" {
		return rec.Body.String(), nil
	}
	zr, err := gzipReader(rec.Body)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(zr)
	return string(b), err
}

func gzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
