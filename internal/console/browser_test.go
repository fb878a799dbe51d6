package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	fakeopenai "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

// The browser suite drives Debian's chromium through the journeys of the
// console and the portal against a real Sluice on loopback. Screenshots
// of every step go to $SLUICE_ARTIFACTS/browser (kept), else to the
// test's temporary directory (logged). A page that logs an error to the
// console (a script error, a CSP violation, a failed load) fails the test.

func chromiumPath() string {
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// driver is one browser tab with its console watched.
type driver struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	step  int
	mu    sync.Mutex
	errs  []string
}

func newDriver(t *testing.T, base string) *driver {
	t.Helper()
	exe := chromiumPath()
	if exe == "" {
		if os.Getenv("SLUICE_TEST_REQUIRE_BROWSER") == "1" {
			t.Fatal("chromium not found and SLUICE_TEST_REQUIRE_BROWSER=1: apt-get install chromium, or set SLUICE_CHROMIUM")
		}
		t.Skip("chromium not found: the browser suite needs Debian's chromium (apt-get install chromium) or SLUICE_CHROMIUM; " +
			"SLUICE_TEST_REQUIRE_BROWSER=1 makes this a failure")
	}
	shots := t.TempDir()
	if dir := os.Getenv("SLUICE_ARTIFACTS"); dir != "" {
		shots = filepath.Join(dir, "browser", t.Name())
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", shots)
	// Not t.TempDir: chromium's helper processes may write the profile for
	// a moment after the browser exits, which fails TempDir's removal.
	profile, err := os.MkdirTemp("", "sluice-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(profile))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 6*time.Minute)
	t.Cleanup(func() {
		tcancel()
		cancel()
		acancel()
		for i := 0; os.RemoveAll(profile) != nil && i < 50; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	d := &driver{t: t, ctx: ctx, base: base, shots: shots}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Error()
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.APITypeError || ev.Type == cdpruntime.APITypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console.error: " + strings.Join(parts, " ")
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			d.mu.Lock()
			d.errs = append(d.errs, msg)
			d.mu.Unlock()
		}
	})
	d.run(cdplog.Enable(), cdpruntime.Enable())
	return d
}

func (d *driver) run(actions ...chromedp.Action) {
	d.t.Helper()
	if err := chromedp.Run(d.ctx, actions...); err != nil {
		d.shot("failure")
		d.t.Fatalf("browser: %v", err)
	}
}

// shot saves a screenshot of the viewport, numbered by step.
func (d *driver) shot(name string) string {
	d.t.Helper()
	d.step++
	var png []byte
	if err := chromedp.Run(d.ctx, chromedp.CaptureScreenshot(&png)); err != nil {
		d.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(d.shots, fmt.Sprintf("%02d-%s.png", d.step, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		d.t.Fatal(err)
	}
	return p
}

// clean fails the test for every console error logged since the last call.
func (d *driver) clean(where string) {
	d.t.Helper()
	time.Sleep(100 * time.Millisecond) // late events of the page
	d.mu.Lock()
	errs := d.errs
	d.errs = nil
	d.mu.Unlock()
	for _, e := range errs {
		d.t.Errorf("%s: the page logged an error: %s", where, e)
	}
}

// visit opens a page, waits for its heading and its load, checks its
// console, its weight, its requests after load and its form labels, and
// saves a screenshot.
func (d *driver) visit(path, shot string) {
	d.t.Helper()
	d.run(chromedp.Navigate(d.base+path), chromedp.WaitVisible("main h1", chromedp.ByQuery),
		chromedp.Poll(`performance.getEntriesByType("navigation")[0].loadEventEnd > 0`, nil,
			chromedp.WithPollingTimeout(20*time.Second)))
	time.Sleep(250 * time.Millisecond) // for what a script starts after load
	d.weigh(path)
	d.quiet(path)
	d.labelled(path)
	d.clean(path)
	if shot != "" {
		d.shot(shot)
	}
}

// quiet fails a page that makes more than one request after its load
// event, or more than one fetch or XHR at all: a page arrives with what it
// shows (a script may make one call, e.g. for a chart).
func (d *driver) quiet(path string) {
	d.t.Helper()
	var late []string
	d.run(chromedp.Evaluate(`(function () {
		var end = performance.getEntriesByType("navigation")[0].loadEventEnd;
		return performance.getEntriesByType("resource").filter(function (e) {
			return e.startTime >= end || e.initiatorType === "fetch" || e.initiatorType === "xmlhttprequest";
		}).map(function (e) { return e.initiatorType + " " + e.name; });
	})()`, &late))
	if len(late) > 1 {
		d.t.Errorf("%s: %d requests after load, at most 1: %s", path, len(late), strings.Join(late, ", "))
	}
}

// weigh fails a page whose transfer (document and resources) passes
// 200 KB.
func (d *driver) weigh(path string) {
	d.t.Helper()
	var bytes float64
	d.run(chromedp.Evaluate(`performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
		.reduce(function (n, e) { return n + (e.transferSize || e.encodedBodySize || 0); }, 0)`, &bytes))
	if bytes > 200<<10 {
		d.t.Errorf("%s: %.0f bytes transferred, over the 200 KB budget", path, bytes)
	}
}

func (d *driver) text(sel string) string {
	d.t.Helper()
	var s string
	d.run(chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// writeControls counts the page's POST forms other than signing out.
func (d *driver) writeControls() int {
	d.t.Helper()
	var n int
	d.run(chromedp.Evaluate(`Array.from(document.querySelectorAll('form[method="post"]')).filter(function (f) {
		return f.getAttribute("action") !== "/console/logout"; }).length`, &n))
	return n
}

func TestBrowserJourneys(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser suite is not short")
	}
	if chromiumPath() == "" && os.Getenv("SLUICE_TEST_REQUIRE_BROWSER") != "1" {
		newDriver(t, "") // skips with the reason
	}
	upstream := httptest.NewServer(fakeopenai.New(fakeopenai.Options{APIKey: "sk-upstream-abcdefgh1234"}))
	t.Cleanup(upstream.Close)
	const base = "version: 1\nproviders: [{name: demo, type: demo}]\nmodels:\n" +
		"  - {name: demo, targets: [{provider: demo, model: demo-chat}]}\n"
	s := startSluice(t, base, "--allow-private-upstreams")
	tn := s.tenancy()
	d := newDriver(t, s.base)

	// The first operator signs in with the admin token.
	d.run(chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible("#token", chromedp.ByID))
	d.clean("sign-in page")
	d.shot("sign-in")
	d.run(chromedp.SendKeys("#token", adminToken, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("#charts", chromedp.ByID))
	d.clean("overview after sign-in")
	d.shot("overview-empty")

	// Adds a provider: the key is shown as its last four characters only.
	d.visit("/console/providers", "")
	d.run(chromedp.SendKeys("#p-name", "upstream", chromedp.ByID),
		chromedp.SetValue("#p-url", upstream.URL+"/v1", chromedp.ByID),
		chromedp.SendKeys("#p-key", "sk-upstream-abcdefgh1234", chromedp.ByID),
		chromedp.Submit("#p-name", chromedp.ByID), chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	d.clean("provider added")
	d.shot("provider-added")
	if body := d.text("main"); !strings.Contains(body, "…1234") || strings.Contains(body, "abcdefgh") {
		t.Fatalf("providers page shows the key or not its last four:\n%s", body)
	}

	// Adds a model on that provider: declared in the file, applied with the
	// console's reload.
	cfg := base + "  - {name: chat, targets: [{provider: upstream, model: fake-model-1}], pricing: {input_per_mtok: 2, output_per_mtok: 8}}\n"
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.visit("/console/models", "")
	d.run(chromedp.Click(`form[action="/console/reload"] button`, chromedp.ByQuery), chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	d.clean("reloaded")
	if body := d.text("main"); !strings.Contains(body, "chat") || !strings.Contains(body, "fake-model-1") {
		t.Fatalf("models page after reload:\n%s", body)
	}
	d.shot("model-added")

	// Creates a key for the application; it is shown once.
	d.visit("/console/keys?org="+tn.org, "")
	var key string
	d.run(chromedp.SendKeys("#k-name", "journey", chromedp.ByID), chromedp.SetValue("#k-app", tn.app, chromedp.ByID),
		chromedp.Submit("#k-name", chromedp.ByID), chromedp.WaitVisible("#new-key", chromedp.ByID),
		chromedp.Value("#new-key", &key, chromedp.ByID))
	d.clean("key created")
	d.shot("key-created")
	if !strings.HasPrefix(key, "gw-") {
		t.Fatalf("created key %q", key)
	}

	// Sends a request with it, as any OpenAI client would.
	for range 3 {
		req, _ := http.NewRequest("POST", s.base+"/v1/chat/completions",
			strings.NewReader(`{"model":"chat","messages":[{"role":"user","content":"Hello from the browser suite"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("chat completion: %d %s", resp.StatusCode, raw)
		}
	}
	s.waitLedger(3)

	// Sees it in the ledger explorer, with its attempt.
	d.visit("/console/ledger?org="+tn.org+"&model=chat", "")
	d.run(chromedp.Click("details.entry summary", chromedp.ByQuery), chromedp.WaitVisible("details.entry[open] table", chromedp.ByQuery))
	d.clean("ledger")
	d.shot("ledger-detail")
	if body := d.text("details.entry[open]"); !strings.Contains(body, "upstream") || !strings.Contains(body, "fake-model-1") {
		t.Fatalf("ledger detail:\n%s", body)
	}

	// The filter narrows the list in place (htmx), and the address follows.
	var same bool
	d.run(chromedp.Evaluate(`window.sameDocument = true`, nil),
		chromedp.SetValue("#f-model", "demo", chromedp.ByID), chromedp.Click(`form.filters button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//div[@id="ledger-results"]//p[contains(., "0 of the newest")]`, chromedp.BySearch),
		chromedp.Evaluate(`window.sameDocument === true`, &same))
	d.clean("ledger filtered")
	if !same {
		t.Errorf("the ledger filter reloaded the page instead of swapping the list")
	}
	var loc string
	d.run(chromedp.Location(&loc))
	if !strings.Contains(loc, "model=demo") {
		t.Errorf("after filtering the address is %s", loc)
	}

	// And on the overview chart.
	d.visit("/console/?org="+tn.org+"&window=1h", "")
	var drawn, series string
	d.run(chromedp.AttributeValue("#charts", "data-drawn", &drawn, nil, chromedp.ByID),
		chromedp.AttributeValue("#charts", "data-series", &series, nil, chromedp.ByID))
	var sr struct {
		Requests []int64 `json:"requests"`
	}
	if err := json.Unmarshal([]byte(series), &sr); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range sr.Requests {
		total += n
	}
	if drawn != "4" || total != 3 || strings.TrimSpace(d.text("#stat-requests")) != "3" {
		t.Fatalf("overview: %s charts drawn, %d requests in the series, stat %q", drawn, total, d.text("#stat-requests"))
	}
	d.shot("overview")
	d.run(chromedp.EmulateViewport(390, 844))
	d.visit("/console/?org="+tn.org+"&window=1h", "overview-phone")
	for _, p := range []string{"/console/?org=" + tn.org, "/console/providers", "/console/models", "/console/tenancy?org=" + tn.org,
		"/console/users?org=" + tn.org, "/console/keys?org=" + tn.org, "/console/limits?org=" + tn.org,
		"/console/ledger?org=" + tn.org, "/console/audit", "/portal/apps/" + tn.app} {
		if p != "/console/?org="+tn.org {
			d.visit(p, "")
		}
		var overflow bool
		d.run(chromedp.Evaluate(`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`, &overflow))
		if overflow {
			var wide string
			d.run(chromedp.Evaluate(`Array.from(document.querySelectorAll("body *")).filter(function (e) {
				return e.getBoundingClientRect().right > document.documentElement.clientWidth + 1; }).slice(0, 3).map(function (e) {
				return e.tagName + "." + e.className + "#" + e.id; }).join(" ")`, &wide))
			d.shot("phone-overflow")
			t.Errorf("%s scrolls sideways at a phone's width: %s", p, wide)
		}
	}
	d.run(chromedp.EmulateViewport(1280, 900))

	// The portal: the application's usage and self-service keys.
	d.visit("/portal/apps/"+tn.app, "portal-app")
	if body := d.text(".stats"); !strings.Contains(body, "3") {
		t.Errorf("portal usage:\n%s", body)
	}
	d.visit("/portal/", "portal-catalogue")

	// Sign out; the viewer and the auditor see no write controls anywhere.
	d.run(chromedp.Click(`form[action="/console/logout"] button`, chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByID))
	for _, role := range []string{"viewer", "auditor"} {
		d.run(chromedp.SendKeys("#email", role+"@example.com", chromedp.ByID), chromedp.SendKeys("#password", tn.password, chromedp.ByID),
			chromedp.Submit("#password", chromedp.ByID), chromedp.WaitVisible("#charts", chromedp.ByID))
		d.clean(role + " overview")
		for _, p := range []string{"/console/", "/console/tenancy", "/console/users", "/console/keys", "/console/limits",
			"/console/ledger", "/console/audit", "/console/products", "/console/subscriptions", "/portal/", "/portal/apps",
			"/portal/apps/" + tn.app} {
			if role == "viewer" && p == "/console/audit" {
				continue // not the viewer's: refused by the API
			}
			d.visit(p, "")
			if n := d.writeControls(); n > 0 {
				d.shot(role + "-write-controls")
				t.Errorf("%s sees %d write controls on %s", role, n, p)
			}
		}
		d.visit("/console/keys", role+"-keys")
		d.run(chromedp.Click(`form[action="/console/logout"] button`, chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByID))
	}
	d.clean("signed out")
}

// waitLedger waits until the ledger holds n entries (it writes in
// batches), at most 20 seconds.
func (s *sluice) waitLedger(n int) {
	s.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got := len(s.admin("GET", "/admin/v1/requests", nil, 200)["data"].([]any))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the ledger holds %d entries after 20 s, want %d", got, n)
		}
	}
}

// signIn signs in with a password from the sign-in page of face.
func (d *driver) signIn(face, email, password string) {
	d.t.Helper()
	d.run(chromedp.Navigate(d.base+"/"+face+"/login?next=/"+face+"/"), chromedp.WaitVisible("#email", chromedp.ByID),
		chromedp.SendKeys("#email", email, chromedp.ByID), chromedp.SendKeys("#password", password, chromedp.ByID),
		chromedp.Submit("#password", chromedp.ByID), chromedp.WaitVisible(`form[action="/console/logout"]`, chromedp.ByQuery))
	d.clean(email + " signed in")
}

func (d *driver) signOut() {
	d.t.Helper()
	d.run(chromedp.Click(`form[action="/console/logout"] button`, chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByID))
}

// TestBrowserPortalJourney: a developer browses the catalogue and
// subscribes an application; an admin approves it in the console; the
// developer creates a key, calls the product with try-it and sees the
// call in the application's usage.
func TestBrowserPortalJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser suite is not short")
	}
	if chromiumPath() == "" && os.Getenv("SLUICE_TEST_REQUIRE_BROWSER") != "1" {
		newDriver(t, "") // skips with the reason
	}
	s := startSluice(t, "version: 1\nproviders: [{name: demo, type: demo}]\nmodels:\n"+
		"  - {name: demo, targets: [{provider: demo, model: demo-chat}], pricing: {input_per_mtok: 1, output_per_mtok: 4}}\n")
	if s.status("GET", "/admin/v1/products") == http.StatusNotFound {
		t.Skip("this server has no products API (GET /admin/v1/products is not a route)")
	}
	tn := s.tenancy()
	prod := s.admin("POST", "/admin/v1/products", map[string]any{"name": "assistant", "team_id": tn.team, "title": "Assistant",
		"description": "A helpful chat model for every team.", "tags": []string{"chat"}, "visibility": "internal"}, 201)["id"].(string)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions", map[string]any{"version": "v1", "models": map[string]string{"demo": "demo"},
		"docs": "Answers in English."}, 201)
	s.admin("POST", "/admin/v1/products/"+prod+"/versions/v1/publish", map[string]any{}, 200)
	s.admin("POST", "/admin/v1/products/"+prod+"/plans", map[string]any{"name": "starter", "approval": "manual", "rpm": 60,
		"quota": 100, "quota_period": "daily"}, 201)
	d := newDriver(t, s.base)

	// The developer browses the catalogue and asks for a subscription.
	d.signIn("portal", "developer@example.com", tn.password)
	d.visit("/portal/", "catalogue")
	d.run(chromedp.Click(`a[href="/portal/products/assistant"]`, chromedp.ByQuery), chromedp.WaitVisible("#s-plan", chromedp.ByID))
	d.clean("product page")
	d.shot("product")
	if body := d.text("main"); !strings.Contains(body, "published") || !strings.Contains(body, "/products/assistant/v1/v1/chat/completions") ||
		!strings.Contains(body, "Answers in English.") {
		t.Fatalf("product page:\n%s", body)
	}
	d.run(chromedp.SetValue("#s-app", tn.app, chromedp.ByID), chromedp.SendKeys("#s-reason", "search answers", chromedp.ByID),
		chromedp.Submit("#s-reason", chromedp.ByID), chromedp.WaitVisible(".flash", chromedp.ByQuery))
	d.clean("subscribed")
	d.shot("subscription-pending")
	if msg := d.text(".flash"); !strings.Contains(msg, "pending") {
		t.Fatalf("subscription: %q", msg)
	}
	// The developer sees the pending subscription but may not approve it,
	// nor change the product's versions.
	for _, p := range []string{"/console/subscriptions", "/console/products"} {
		d.visit(p, "")
		if n := d.writeControls(); n > 0 {
			t.Errorf("the developer sees %d write controls on %s", n, p)
		}
	}
	if body := d.text("main"); !strings.Contains(body, "published") {
		t.Errorf("products page for the developer:\n%s", body)
	}
	d.signOut()

	// An admin approves it in the console.
	d.signIn("console", "admin@example.com", tn.password)
	d.visit("/console/subscriptions", "approval-queue")
	d.run(chromedp.Click(`form[action$="/approve"] button`, chromedp.ByQuery), chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	d.clean("approved")
	d.signOut()

	// The developer creates a key, tries the product with it, and sees
	// the call in the application's usage.
	d.signIn("portal", "developer@example.com", tn.password)
	d.visit("/portal/apps/"+tn.app, "")
	if body := d.text("main"); !strings.Contains(body, "active") {
		t.Fatalf("application page after approval:\n%s", body)
	}
	var key string
	d.run(chromedp.SendKeys("#nk", "portal-key", chromedp.ByID), chromedp.Submit("#nk", chromedp.ByID),
		chromedp.WaitVisible("#new-key", chromedp.ByID), chromedp.Value("#new-key", &key, chromedp.ByID))
	d.clean("portal key")
	d.shot("portal-key")
	d.visit("/portal/products/assistant", "")
	var out string
	d.run(chromedp.SendKeys("#t-key", key, chromedp.ByID), chromedp.Click("#tryit button", chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("tryit-out").textContent.indexOf("Sending") < 0 && document.getElementById("tryit-out").textContent.length > 0`, nil),
		chromedp.Text("#tryit-out", &out, chromedp.ByID))
	d.clean("try-it")
	d.shot("try-it")
	if !strings.HasPrefix(out, "200") {
		t.Fatalf("try-it answered:\n%s", out)
	}
	s.waitLedger(1)
	// The usage comes from the rollups, which may trail the ledger a little.
	got := ""
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		d.visit("/portal/apps/"+tn.app, "")
		if got = strings.TrimSpace(d.text(".stats dd")); got == "1" || time.Now().After(deadline) {
			break
		}
	}
	d.shot("portal-usage")
	if got != "1" {
		t.Fatalf("the application's requests: %q, want 1", got)
	}
	// The subscription's quota counts the try-it call.
	if body := d.text("main"); !strings.Contains(body, "99 of 100 requests left until") {
		t.Fatalf("the subscription's quota on the application page:\n%s", body)
	}
	d.clean("done")
}
