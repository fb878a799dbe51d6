package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// dockerfile is the Dockerfile, parsed as far as these tests need.
type dockerfile struct {
	stages []stage
}

type stage struct {
	from, name string
	args       map[string]string // ARG defaults
	env        []string          // ENV, KEY=VALUE
	workdir    string
	runs       []string // RUN, shell form
	copies     [][]string
	user       string
	volumes    []string
	entrypoint []string
	cmd        []string
}

// parseDockerfile reads the instructions this project's Dockerfile uses,
// and refuses any other so that a new one is not silently skipped.
func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(data), " ")
	global := map[string]string{}
	var df dockerfile
	var cur *stage
	expand := func(s string, vars map[string]string) string {
		return os.Expand(s, func(k string) string { return vars[k] })
	}
	jsonList := func(s string) []string {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Fatalf("Dockerfile: %q is not an exec-form JSON list: %v", s, err)
		}
		return out
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		if strings.ToUpper(op) == "FROM" {
			f := strings.Fields(rest)
			df.stages = append(df.stages, stage{from: expand(f[0], global), args: map[string]string{}})
			cur = &df.stages[len(df.stages)-1]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				cur.name = f[2]
			}
			continue
		}
		if cur == nil {
			if strings.ToUpper(op) != "ARG" {
				t.Fatalf("Dockerfile: %s before FROM", op)
			}
			k, v, _ := strings.Cut(rest, "=")
			global[k] = v
			continue
		}
		switch strings.ToUpper(op) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			cur.args[k] = v
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				if !strings.Contains(kv, "=") {
					t.Fatalf("Dockerfile: ENV %q: write KEY=VALUE", rest)
				}
				cur.env = append(cur.env, kv)
			}
		case "WORKDIR":
			cur.workdir = rest
		case "RUN":
			cur.runs = append(cur.runs, rest)
		case "COPY":
			cur.copies = append(cur.copies, strings.Fields(rest))
		case "USER":
			cur.user = rest
		case "VOLUME":
			cur.volumes = append(cur.volumes, jsonList(rest)...)
		case "ENTRYPOINT":
			cur.entrypoint = jsonList(rest)
		case "CMD":
			cur.cmd = jsonList(rest)
		case "EXPOSE", "LABEL":
		default:
			t.Fatalf("Dockerfile: the test does not know %s; teach parseDockerfile", op)
		}
	}
	if len(df.stages) < 2 {
		t.Fatalf("Dockerfile: %d stages, want a build stage and a final one", len(df.stages))
	}
	return df
}

// dockerignore compiles .dockerignore into matchers of slash paths
// relative to the context, as Docker reads it: a pattern that matches a
// directory excludes everything in it.
func dockerignore(t *testing.T, path string) func(rel string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res []*regexp.Regexp
	for _, p := range strings.Split(string(data), "\n") {
		p = strings.TrimSpace(p)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") {
			t.Fatalf(".dockerignore: %q: the test does not handle exceptions", p)
		}
		p = strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/")
		var re strings.Builder
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString(`(.*/)?`)
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(`.*`)
				i++
			case p[i] == '*':
				re.WriteString(`[^/]*`)
			case p[i] == '?':
				re.WriteString(`[^/]`)
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		res = append(res, regexp.MustCompile(`^`+re.String()+`(/.*)?$`))
	}
	return func(rel string) bool {
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(rel) })
	}
}

// buildContext copies the repository into a new directory as Docker would
// send it: without what .dockerignore excludes.
func buildContext(t *testing.T) string {
	t.Helper()
	ignored := dockerignore(t, filepath.Join(repoRoot, ".dockerignore"))
	dst := t.TempDir()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if ignored(filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// The build arguments the tests pass, as `make image` passes its own.
var imageArgs = map[string]string{"VERSION": "v9.8.7-test", "COMMIT": "0123456789ab", "DATE": "2026-12-07T14:00:00Z"}

var (
	imageOnce   sync.Once
	imageBinary string
	imageDF     dockerfile
	imageErr    string
	imageDir    string
)

// buildImageBinary runs the build stage's RUN lines, exactly as written,
// in a copy of the build context, with the stage's ENV and ARGs (the
// test's values for VERSION, COMMIT, DATE): what `docker build` would run.
// It returns the binary the final stage copies, built once per test run.
func buildImageBinary(t *testing.T) (string, dockerfile) {
	t.Helper()
	imageOnce.Do(func() {
		df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
		imageDF = df
		build := df.stages[0]
		dir, err := os.MkdirTemp("", "sluice-image-context-")
		if err != nil {
			imageErr = err.Error()
			return
		}
		imageDir = dir
		ctxDir := buildContext(t)
		if err := os.Rename(ctxDir, filepath.Join(dir, "src")); err != nil {
			imageErr = err.Error()
			return
		}
		work := filepath.Join(dir, "src")
		// The golang image sets none of these: the Dockerfile's ENV decides.
		var env []string
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); !slices.Contains([]string{"CGO_ENABLED", "GOFLAGS", "GOOS", "GOARCH", "GOEXPERIMENT"}, k) {
				env = append(env, kv)
			}
		}
		for k, v := range build.args {
			if a, ok := imageArgs[k]; ok {
				v = a
			}
			env = append(env, k+"="+v)
		}
		env = append(env, build.env...)
		for _, run := range build.runs {
			cmd := exec.Command("sh", "-c", run)
			cmd.Dir, cmd.Env = work, env
			if out, err := cmd.CombinedOutput(); err != nil {
				imageErr = fmt.Sprintf("RUN %s: %v\n%s", run, err, out)
				return
			}
		}
		// The final stage's COPY --from=<build stage> SRC DST.
		for _, c := range df.stages[len(df.stages)-1].copies {
			if slices.Contains(c, "--from="+build.name) && len(df.stages[len(df.stages)-1].entrypoint) > 0 && c[len(c)-1] == df.stages[len(df.stages)-1].entrypoint[0] {
				src := c[len(c)-2]
				rel, err := filepath.Rel(build.workdir, src)
				if err != nil || strings.HasPrefix(rel, "..") {
					imageErr = fmt.Sprintf("COPY %s is outside the build stage's WORKDIR %s", src, build.workdir)
					return
				}
				imageBinary = filepath.Join(work, rel)
			}
		}
		if imageBinary == "" {
			imageErr = "the final stage copies no binary from the build stage to its ENTRYPOINT"
		}
	})
	if imageErr != "" {
		t.Fatal(imageErr)
	}
	return imageBinary, imageDF
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// checkStatic fails unless path is a Linux ELF with no interpreter and no
// shared libraries, which the distroless static image (or scratch) needs.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it has an ELF interpreter); build with CGO_ENABLED=0", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", path, libs)
	}
}

// serveFlags returns the flags `sluice serve --help` lists.
func serveFlags(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput() // exits 2 after the usage
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags["--"+m[1]] = true
	}
	if !flags["--listen"] {
		t.Fatalf("sluice serve --help lists no --listen:\n%s", out)
	}
	return flags
}

// TestDockerfile checks the image's build and final stages, builds the
// binary with the build stage's own command line, and runs it.
func TestDockerfile(t *testing.T) {
	bin, df := buildImageBinary(t)
	build, final := df.stages[0], df.stages[len(df.stages)-1]

	if build.from != "golang:1.26" {
		t.Errorf("build stage FROM %s, want golang:1.26", build.from)
	}
	var goBuild string
	for _, r := range build.runs {
		if strings.Contains(r, "go build") {
			goBuild = r
		}
	}
	if !strings.Contains(goBuild, "-trimpath") || !(slices.Contains(build.env, "CGO_ENABLED=0") || strings.Contains(goBuild, "CGO_ENABLED=0")) {
		t.Errorf("the build stage's go build %q: want -trimpath and CGO_ENABLED=0", goBuild)
	}
	if final.from != "gcr.io/distroless/static-debian12:nonroot" && final.from != "scratch" {
		t.Errorf("final stage FROM %s, want gcr.io/distroless/static-debian12:nonroot or scratch", final.from)
	}
	if u, _, _ := strings.Cut(final.user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage USER %q, want a non-root user", final.user)
	}
	if !slices.Equal(final.volumes, []string{"/data"}) {
		t.Errorf("VOLUME %v, want [/data]", final.volumes)
	}
	if d, _ := flagValue(final.cmd, "--data-dir"); d != "/data" {
		t.Errorf("CMD %q: want --data-dir /data", final.cmd)
	}
	if l, _ := flagValue(final.cmd, "--listen"); l != "0.0.0.0:8080" {
		t.Errorf("CMD %q: want --listen 0.0.0.0:8080", final.cmd)
	}
	if len(final.cmd) == 0 || final.cmd[0] != "serve" {
		t.Errorf("CMD %q: want serve first", final.cmd)
	}

	if runtime.GOOS == "linux" {
		checkStatic(t, bin)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	want := fmt.Sprintf("sluice %s\ncommit %s\nbuilt %s\n", imageArgs["VERSION"], imageArgs["COMMIT"], imageArgs["DATE"])
	if err != nil || !strings.HasPrefix(string(out), want) {
		t.Errorf("sluice version: %v\n%s\nwant it to start with\n%s", err, out, want)
	}
	flags := serveFlags(t, bin)
	for _, a := range final.cmd {
		if strings.HasPrefix(a, "--") && !flags[a] {
			t.Errorf("CMD passes %s, which sluice serve does not take", a)
		}
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestChartRunsSluice starts the image's binary as the chart's pod would:
// the rendered arguments (with a loopback address and a temporary data
// directory), the ConfigMap's file and the Secret's environment; then asks
// the probes' paths and stops it with SIGTERM, as the kubelet does.
func TestChartRunsSluice(t *testing.T) {
	bin, _ := buildImageBinary(t)
	flags := serveFlags(t, bin)
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{"default values", map[string]any{}},
		{"full values", readValues(t, fullValues)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := render(tc.vals)
			if err != nil {
				t.Fatal(err)
			}
			m := decode(t, files)
			c := m.deployment.Spec.Template.Spec.Containers[0]
			dir := t.TempDir()
			addr := freeAddr(t)
			var args []string
			for i := 0; i < len(c.Args); i++ {
				a := c.Args[i]
				if strings.HasPrefix(a, "--") && !flags[a] {
					t.Errorf("the chart passes %s, which sluice serve does not take", a)
				}
				switch a {
				case "--listen":
					args, i = append(args, a, addr), i+1
				case "--data-dir":
					args, i = append(args, a, filepath.Join(dir, "data")), i+1
				case "--config":
					args, i = append(args, a, filepath.Join(dir, "sluice.yaml")), i+1
				case "--redis":
					i++ // no Redis here; the flag is checked above
				default:
					args = append(args, a)
				}
			}
			env := []string{"PATH=" + os.Getenv("PATH")}
			for _, e := range c.Env {
				switch {
				case e.Name == "SLUICE_DATABASE_URL":
					// no PostgreSQL here: the embedded SQLite
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					if s := m.secrets[e.ValueFrom.SecretKeyRef.Name]; s != nil {
						if v, ok := s.Data[e.ValueFrom.SecretKeyRef.Key]; ok {
							env = append(env, e.Name+"="+string(v))
						}
					}
				case e.ValueFrom == nil:
					env = append(env, e.Name+"="+e.Value)
				}
			}
			for _, cm := range m.configMaps {
				if err := os.WriteFile(filepath.Join(dir, "sluice.yaml"), []byte(cm.Data["sluice.yaml"]), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Env, cmd.Stdout, cmd.Stderr = env, &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
					<-done
				}
			}()
			get := func(path string) int {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return 0
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			deadline := time.Now().Add(60 * time.Second)
			for get(c.StartupProbe.HTTPGet.Path) != http.StatusOK {
				select {
				case err := <-done:
					t.Fatalf("sluice %s exited: %v\n%s", strings.Join(args, " "), err, logs.String())
				case <-time.After(100 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("sluice did not answer %s within 60s\n%s", c.StartupProbe.HTTPGet.Path, logs.String())
				}
			}
			for _, p := range []string{c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path} {
				if code := get(p); code != http.StatusOK {
					t.Errorf("GET %s: %d, want 200\n%s", p, code, logs.String())
				}
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("after SIGTERM: %v\n%s", err, logs.String())
				}
			case <-time.After(time.Duration(*m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second):
				t.Errorf("still running after the grace period\n%s", logs.String())
			}
		})
	}
}

// TestMakeRelease checks make release: the four platforms by default, and
// for this machine's platform a static binary whose sluice version names
// the version, commit and date given, listed in SHA256SUMS.
func TestMakeRelease(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	dry, err := exec.Command("make", "-C", repoRoot, "-n", "release", "VERSION=v0.0.0").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n release: %v\n%s", err, dry)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"} {
		if !strings.Contains(string(dry), p) {
			t.Errorf("make release does not build %s:\n%s", p, dry)
		}
	}

	dist := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	out, err := exec.Command("make", "-C", repoRoot, "--no-print-directory", "release", "PLATFORMS="+platform, "DIST="+dist,
		"VERSION=v1.2.3-rc.1", "COMMIT=fedcba987654", "BUILD_DATE=2026-12-07T15:00:00Z").CombinedOutput()
	if err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	bin := filepath.Join(dist, "sluice-v1.2.3-rc.1-"+runtime.GOOS+"-"+runtime.GOARCH)
	got, err := exec.Command(bin, "version").CombinedOutput()
	if want := "sluice v1.2.3-rc.1\ncommit fedcba987654\nbuilt 2026-12-07T15:00:00Z\n"; err != nil || !strings.HasPrefix(string(got), want) {
		t.Errorf("%s version: %v\n%s\nwant it to start with\n%s", bin, err, got, want)
	}
	if runtime.GOOS == "linux" {
		checkStatic(t, bin)
	}
	sums, err := os.Open(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	data, _ := os.ReadFile(bin)
	sum := sha256.Sum256(data)
	listed := false
	for sc := bufio.NewScanner(sums); sc.Scan(); {
		listed = listed || sc.Text() == hex.EncodeToString(sum[:])+"  "+filepath.Base(bin)
	}
	if !listed {
		t.Errorf("SHA256SUMS does not list %s with its digest", filepath.Base(bin))
	}
}
