package console_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserConsolePages drives chromium through the prompt, experiment
// and alert pages and the playground, guardrails and cache, product
// version and limit pages: the operator renders a prompt and runs it
// streamed with a key pasted into the page, reads guardrail verdicts and
// cache hits, compares a draft product version and publishes it, and
// sets a team's limits through the form; then every page again at a
// phone's width, and the viewer, who sees no write control on them. A
// console error or a page over 200 KB fails it (driver.visit).
func TestBrowserConsolePages(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser suite is not short")
	}
	if chromiumPath() == "" && os.Getenv("SLUICE_TEST_REQUIRE_BROWSER") != "1" {
		newDriver(t, "") // skips with the reason
	}
	s, sd := startSeeded(t)
	tn, pid, key, exp, products, prod := sd.tn, sd.prompt, sd.key, sd.experiment, sd.products, sd.product
	d := newDriver(t, s.base)
	d.run(chromedp.Navigate(s.base+"/console/"), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", adminToken, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("#charts", chromedp.ByID))
	d.clean("signed in")

	// The prompt, experiment and alert pages.
	d.visit("/console/prompts", "prompts")
	d.visit("/console/prompts/"+pid, "prompt")
	d.visit("/console/experiments", "experiments")
	d.visit("/console/experiments/"+exp, "experiment")
	d.visit("/console/alerts", "alerts")

	// The playground: render, then run streamed with a pasted key.
	pg := "/console/prompts/" + pid + "/versions/1/playground?org=" + tn.org
	d.visit(pg, "")
	d.run(chromedp.SendKeys("#v-name", "Ada", chromedp.ByID), chromedp.SendKeys("#v-n", "3", chromedp.ByID),
		chromedp.Click(`#playground button[type="submit"]`, chromedp.ByQuery), chromedp.WaitVisible("#rendered", chromedp.ByID))
	d.clean("rendered")
	d.shot("playground-rendered")
	if got := d.text("#rendered"); !strings.Contains(got, "Hello Ada x3") || !strings.Contains(got, "Be brief.") {
		t.Fatalf("rendered messages:\n%s", got)
	}
	var cost string
	d.run(chromedp.SendKeys("#pg-key", key, chromedp.ByID), chromedp.Click("#pg-run", chromedp.ByID),
		chromedp.Poll(`document.getElementById("pg-cost").textContent !== "—"`, nil, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Text("#pg-cost", &cost, chromedp.ByID))
	d.clean("run")
	d.run(chromedp.ScrollIntoView("#run-result", chromedp.ByID))
	d.shot("playground-run")
	if out := d.text("#pg-out"); !strings.Contains(out, "Hello Ada x3") {
		t.Errorf("streamed answer: %q (status %q)", out, d.text("#pg-status"))
	}
	if in, err := strconv.Atoi(strings.TrimSpace(d.text("#pg-in"))); err != nil || in == 0 || !strings.HasPrefix(cost, "$0.0000") {
		t.Errorf("run usage: input %q, cost %q", d.text("#pg-in"), cost)
	}
	if st := d.text("#pg-status"); !strings.Contains(st, "greet@1") {
		t.Errorf("run status %q", st)
	}

	// Guardrails and cache, with the day's counts.
	d.visit("/console/guardrails", "guardrails")
	if body := d.text("main"); !strings.Contains(body, "no-secrets") || strings.TrimSpace(d.text("#cache-hits")) != "1" {
		t.Errorf("guardrails page: hits %q\n%s", d.text("#cache-hits"), body)
	}

	// A draft product version against the published one; publish it.
	if products {
		d.visit("/console/product-versions", "product-versions")
		d.visit("/console/products/"+prod+"/versions/v2/diff", "product-diff")
		d.run(chromedp.ScrollIntoView("#docs-diff", chromedp.ByID))
		d.shot("product-diff-docs")
		if docs := d.text("#docs-diff"); !strings.Contains(docs, "+ Keeps it very short.") || !strings.Contains(docs, "- Keeps it short.") {
			t.Errorf("docs diff:\n%s", docs)
		}
		d.run(chromedp.Click(`form[action$="/versions/v2/publish"] button`, chromedp.ByQuery), chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
		d.clean("published")
		d.shot("published")
	}

	// A team's limits through the form.
	d.visit("/console/limits/edit?org="+tn.org, "limits-index")
	d.visit("/console/limits/team/"+tn.team, "")
	d.run(chromedp.SetValue("#l-rpm", "120", chromedp.ByID), chromedp.SetValue("#l-budget", "25", chromedp.ByID),
		chromedp.Submit("#l-rpm", chromedp.ByID), chromedp.WaitVisible(".flash.ok", chromedp.ByQuery))
	d.clean("limits saved")
	d.shot("limits-saved")
	if v := s.admin("GET", "/admin/v1/teams/"+tn.team, nil, 200)["limits"].(map[string]any); v["rpm"] != 120.0 {
		t.Errorf("team limits after the form: %v", v)
	}

	// Every page at a phone's width.
	pages := []string{"/console/prompts", "/console/prompts/" + pid, "/console/experiments", "/console/alerts", pg,
		"/console/playground", "/console/guardrails", "/console/limits/edit", "/console/limits/team/" + tn.team, "/console/experiments/" + exp}
	if products {
		pages = append(pages, "/console/product-versions", "/console/products/"+prod+"/versions/v2/diff")
	}
	d.run(chromedp.EmulateViewport(390, 844))
	shots := map[int]string{4: "phone-playground", 6: "phone-guardrails", 8: "phone-limits-form", 11: "phone-product-diff"}
	for i, p := range pages {
		d.visit(p, shots[i])
		d.noSideways(p)
	}
	d.run(chromedp.EmulateViewport(1280, 900))
	d.signOut()

	// The viewer: the pages answer, with no write control.
	d.signIn("console", "viewer@example.com", tn.password)
	viewer := []string{"/console/prompts", "/console/playground", "/console/limits/edit", "/console/limits/team/" + tn.team, "/console/limits/key/" + keyIDOf(s, "browser")}
	if products {
		viewer = append(viewer, "/console/product-versions", "/console/products/"+prod+"/versions/v2/diff")
	}
	for _, p := range viewer {
		d.visit(p, "")
		if n := d.writeControls(); n > 0 {
			d.shot("viewer-write-controls")
			t.Errorf("the viewer sees %d write controls on %s", n, p)
		}
	}
	d.visit("/console/limits/team/"+tn.team, "viewer-limits")
	d.clean("done")
}

// noSideways fails a page that scrolls sideways.
func (d *driver) noSideways(path string) {
	d.t.Helper()
	var overflow bool
	d.run(chromedp.Evaluate(`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`, &overflow))
	if overflow {
		var wide string
		d.run(chromedp.Evaluate(`Array.from(document.querySelectorAll("body *")).filter(function (e) {
			return e.getBoundingClientRect().right > document.documentElement.clientWidth + 1; }).slice(0, 3).map(function (e) {
			return e.tagName + "." + e.className + "#" + e.id; }).join(" ")`, &wide))
		d.shot("phone-overflow")
		d.t.Errorf("%s scrolls sideways at a phone's width: %s", path, wide)
	}
}

// keyIDOf is the id of the key named name.
func keyIDOf(s *sluice, name string) string {
	s.t.Helper()
	for _, k := range s.admin("GET", "/admin/v1/keys", nil, 200)["data"].([]any) {
		if m := k.(map[string]any); m["name"] == name {
			return m["id"].(string)
		}
	}
	s.t.Fatalf("no key named %s", name)
	return ""
}

// seeded is what startSeeded made: an organisation with a team, an
// application and users with each role, a prompt with a production label,
// a key (its value), an experiment, an alert rule, a product with a
// published v1 and a draft v2 (when the server has products), and two
// requests in the ledger.
type seeded struct {
	tn                      tenancy
	prompt, key, experiment string
	products                bool
	product                 string
}

// startSeeded starts Sluice with guardrails, a cache and an experiment's
// model, and seeds it through the admin API.
func startSeeded(t *testing.T) (*sluice, seeded) {
	t.Helper()
	s := startSluice(t, guardedYAML+
		"  - {name: alpha, targets: [{provider: demo, model: demo-chat}, {provider: demo, model: demo-chat-b}]}\n")
	sd := seeded{tn: s.tenancy()}
	tn := sd.tn
	sd.prompt = s.admin("POST", "/admin/v1/prompts", map[string]any{"name": "greet", "team_id": tn.team, "version": greetVersion}, 201)["id"].(string)
	s.admin("PUT", "/admin/v1/prompts/greet/labels/production", map[string]any{"version": 1, "reason": "launch"}, 200)
	sd.key = s.admin("POST", "/admin/v1/keys", map[string]any{"name": "browser", "app_id": tn.app}, 201)["key"].(string)
	sd.experiment = s.admin("POST", "/admin/v1/experiments", map[string]any{"name": "ab", "model": "alpha", "unit": "header:X-Session", "metric": "success",
		"arms": []map[string]any{{"name": "a", "provider": "demo", "model": "demo-chat", "weight": 1}, {"name": "b", "provider": "demo", "model": "demo-chat-b", "weight": 1}}}, 201)["id"].(string)
	s.admin("POST", "/admin/v1/alert-rules", map[string]any{"name": "errors-high", "kind": "error_rate", "threshold": 0.25, "window": "5m",
		"where": map[string]string{"model": "demo"}, "notify": []map[string]any{{"type": "webhook", "url": "https://hooks.example.com/x"}}}, 201)
	sd.products = s.status("GET", "/admin/v1/products") != 404
	if sd.products {
		prod := s.admin("POST", "/admin/v1/products", map[string]any{"name": "assistant", "team_id": tn.team, "title": "Assistant",
			"visibility": "internal"}, 201)["id"].(string)
		s.admin("POST", "/admin/v1/products/"+prod+"/versions", map[string]any{"version": "v1", "models": map[string]string{"demo": "demo"},
			"docs": "Answers in English.\nKeeps it short."}, 201)
		s.admin("POST", "/admin/v1/products/"+prod+"/versions/v1/publish", map[string]any{}, 200)
		s.admin("POST", "/admin/v1/products/"+prod+"/versions", map[string]any{"version": "v2", "models": map[string]string{"demo": "demo", "fast": "demo"},
			"prompts": []string{"greet"}, "docs": "Answers in English.\nKeeps it very short."}, 201)
		sd.product = prod
	}
	for _, text := range []string{"mail ada@example.com", "mail ada@example.com"} {
		if code := s.chat(sd.key, text); code != 200 {
			t.Fatalf("chat: %d", code)
		}
	}
	s.waitLedger(2)
	return s, sd
}
