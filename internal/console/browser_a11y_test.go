package console_test

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Accessibility: every form control has a name (driver.labelled, on every
// page visit), the keyboard reaches every action with a visible focus
// (driver.keyboard), text meets WCAG AA contrast as rendered
// (driver.contrast) and as declared in app.css (TestPaletteContrast), and
// no page scrolls sideways at a phone's width (driver.noSideways).

// a11yJS are the helpers the checks below share, defined once per page.
const a11yJS = `window.__a11y = window.__a11y || (function () {
	function rgba(s) {
		var m = /rgba?\(([^)]*)\)/.exec(s || "");
		if (!m) { return null; }
		var p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
		return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
	}
	function over(c, under) { // c (with alpha) over an opaque colour
		return [0, 1, 2].map(function (i) { return c[i] * c[3] + under[i] * (1 - c[3]); });
	}
	function bg(e) { // the opaque colour behind e
		var layers = [];
		for (var n = e; n && n.nodeType === 1; n = n.parentElement) {
			var c = rgba(getComputedStyle(n).backgroundColor);
			if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) { break; } }
		}
		var out = [255, 255, 255];
		for (var i = layers.length - 1; i >= 0; i--) { out = over(layers[i], out); }
		return out;
	}
	function lum(c) {
		var v = c.map(function (x) { x /= 255; return x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
		return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
	}
	function ratio(a, b) {
		var x = lum(a), y = lum(b);
		return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
	}
	function visible(e) {
		if (!e.getClientRects().length) { return false; }
		var cs = getComputedStyle(e);
		return cs.visibility !== "hidden" && cs.display !== "none" && parseFloat(cs.opacity) > 0;
	}
	function hex(c) { return "#" + c.slice(0, 3).map(function (x) { return ("0" + Math.round(x).toString(16)).slice(-2); }).join(""); }
	function name(e) {
		var t = function (n) { return (n && n.textContent || "").trim(); };
		if ((e.getAttribute("aria-label") || "").trim()) { return true; }
		var by = e.getAttribute("aria-labelledby");
		if (by && by.split(/\s+/).some(function (id) { return t(document.getElementById(id)) !== ""; })) { return true; }
		if (e.labels && Array.prototype.some.call(e.labels, function (l) { return t(l) !== ""; })) { return true; }
		if (e.tagName === "BUTTON") { return t(e) !== ""; }
		if (e.tagName === "INPUT" && /^(submit|button|reset)$/.test(e.type)) { return (e.value || "").trim() !== ""; }
		return (e.getAttribute("title") || "").trim() !== "";
	}
	return { rgba: rgba, over: over, bg: bg, ratio: ratio, visible: visible, hex: hex, name: name };
})();`

// labelled fails a page with a form control that has no accessible name: a
// label, aria-label(ledby), title, or a button's text. A placeholder is
// not a label.
func (d *driver) labelled(path string) {
	d.t.Helper()
	var bad []string
	d.run(chromedp.Evaluate(a11yJS+`Array.from(document.querySelectorAll('input:not([type="hidden"]), select, textarea, button'))
		.filter(function (e) { return !__a11y.name(e); }).map(function (e) { return e.outerHTML.slice(0, 160); })`, &bad))
	for _, b := range bad {
		d.t.Errorf("%s: a form control has no label: %s", path, b)
	}
}

// labelsBeside fails a page where a field's label is neither on the
// field's line, just before it, nor just above it (as when a wrapping row
// leaves a label at the end of one line and its field on the next).
func (d *driver) labelsBeside(path string) {
	d.t.Helper()
	var bad []string
	d.run(chromedp.Evaluate(a11yJS+`Array.from(document.querySelectorAll("label[for]")).filter(function (l) {
		var c = document.getElementById(l.htmlFor);
		if (!c || !__a11y.visible(l) || !__a11y.visible(c)) { return false; }
		var a = l.getBoundingClientRect(), b = c.getBoundingClientRect();
		var row = Math.abs((a.top + a.bottom) / 2 - (b.top + b.bottom) / 2) < Math.max(a.height, b.height) / 2;
		var check = c.type === "checkbox" || c.type === "radio";
		var after = b.left >= a.right - 1 && b.left - a.right < 160, before = check && b.right <= a.left + 1 && a.left - b.right < 40;
		var below = b.top >= a.bottom - 2 && b.top - a.bottom < 16 && b.left < a.right && b.right > a.left;
		return !((row && (after || before)) || below);
	}).map(function (l) { return "\"" + l.textContent.trim() + "\" (#" + l.htmlFor + ")"; })`, &bad))
	for _, b := range bad {
		d.t.Errorf("%s: the label %s is not beside or above its field", path, b)
	}
}

// contrast fails a page with visible text under WCAG AA's contrast as
// rendered: 4.5:1, or 3:1 for large text (24px, or 18.66px bold); and a
// field whose edge (its border, or else its fill) stands under 3:1
// against what is around it.
func (d *driver) contrast(path string) {
	d.t.Helper()
	var bad []string
	d.run(chromedp.Evaluate(a11yJS+`(function () {
		var out = [], seen = {};
		Array.from(document.querySelectorAll("body *")).forEach(function (e) {
			if (/^(SCRIPT|STYLE|CANVAS|svg|OPTION)$/.test(e.tagName) || e.closest("[aria-hidden=true]") || !__a11y.visible(e)) { return; }
			var own = Array.from(e.childNodes).some(function (n) { return n.nodeType === 3 && n.textContent.trim() !== ""; });
			var field = /^(INPUT|SELECT|TEXTAREA)$/.test(e.tagName) && e.type !== "hidden" && (e.value || "") !== "";
			if ((!own && !field) || e.disabled) { return; }
			var cs = getComputedStyle(e), back = __a11y.bg(e), fg = __a11y.over(__a11y.rgba(cs.color), back);
			var size = parseFloat(cs.fontSize), bold = parseInt(cs.fontWeight, 10) >= 700;
			var need = (size >= 24 || (size >= 18.66 && bold)) ? 3 : 4.5, r = __a11y.ratio(fg, back);
			var key = __a11y.hex(fg) + "/" + __a11y.hex(back) + "/" + need;
			if (r < need && !seen[key]) {
				seen[key] = true;
				out.push(r.toFixed(2) + ":1 (want " + need + ") " + __a11y.hex(fg) + " on " + __a11y.hex(back) + " " +
					e.tagName.toLowerCase() + (e.className ? "." + String(e.className).split(" ").join(".") : "") +
					" \"" + (e.textContent || e.value || "").trim().slice(0, 40) + "\"");
			}
		});
		Array.from(document.querySelectorAll('input:not([type="hidden"]):not([type="checkbox"]):not([type="radio"]), select, textarea')).forEach(function (e) {
			if (!__a11y.visible(e) || e.disabled) { return; }
			var cs = getComputedStyle(e), around = __a11y.bg(e.parentElement), fill = __a11y.bg(e);
			var edge = __a11y.rgba(cs.borderTopColor), width = parseFloat(cs.borderTopWidth) || 0;
			var r = Math.max(width >= 1 && edge ? __a11y.ratio(__a11y.over(edge, around), around) : 0, __a11y.ratio(fill, around));
			var key = "field/" + __a11y.hex(edge || [0, 0, 0]) + "/" + __a11y.hex(around);
			if (r < 3 && !seen[key]) {
				seen[key] = true;
				out.push("field edge " + r.toFixed(2) + ":1 (want 3) " + __a11y.hex(edge || [0, 0, 0]) + " on " + __a11y.hex(around) + " " +
					e.tagName.toLowerCase() + (e.id ? "#" + e.id : ""));
			}
		});
		return out;
	})()`, &bad))
	for _, b := range bad {
		d.t.Errorf("%s: under AA contrast: %s", path, b)
	}
}

// keyboard tabs through the page from its top: the first stop is the skip
// link, every visible action (button, link, field, summary) in the header
// and the main content is reached in turn, and each shows a focus ring of
// at least 2px that stands 3:1 against what is around it.
func (d *driver) keyboard(path string) {
	d.t.Helper()
	var n int
	d.run(chromedp.Evaluate(a11yJS+`(function () {
		if (document.activeElement) { document.activeElement.blur(); }
		window.scrollTo(0, 0);
		var sel = 'a[href], button, input:not([type="hidden"]), select, textarea, summary';
		window.__targets = Array.from(document.querySelectorAll("header " + sel.split(", ").join(", header ") + ", main " + sel.split(", ").join(", main ")))
			.filter(function (e) { return __a11y.visible(e) && !e.disabled && !e.closest("details:not([open]) > :not(summary)"); });
		window.__focus = [];
		document.addEventListener("focusin", function (ev) {
			var e = ev.target, cs = getComputedStyle(e), ring = "";
			var width = parseFloat(cs.outlineWidth) || 0, col = __a11y.rgba(cs.outlineColor);
			if (cs.outlineStyle !== "none" && width >= 2 && col) {
				var around = __a11y.bg(e.parentElement || e), r = __a11y.ratio(__a11y.over(col, around), around);
				if (r < 3) { ring = "focus ring " + __a11y.hex(col) + " on " + __a11y.hex(around) + " is " + r.toFixed(2) + ":1"; }
			} else if (cs.boxShadow === "none") {
				ring = "no focus ring";
			}
			window.__focus.push({ i: window.__targets.indexOf(e), ring: ring,
				what: e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " \"" + (e.textContent || e.value || e.name || "").trim().slice(0, 30) + "\"" });
		}, true);
		document.body.focus();
		return window.__targets.length;
	})()`, &n))
	presses := make([]chromedp.Action, 0, n+3)
	for range n + 3 {
		presses = append(presses, chromedp.KeyEvent(kb.Tab))
	}
	d.run(presses...)
	var got []struct {
		I    int    `json:"i"`
		Ring string `json:"ring"`
		What string `json:"what"`
	}
	d.run(chromedp.Evaluate(`window.__focus`, &got))
	if len(got) == 0 {
		d.t.Errorf("%s: Tab focuses nothing", path)
	}
	reached := map[int]bool{}
	for k, f := range got {
		if k == 0 && !strings.Contains(f.What, "Skip to content") {
			d.t.Errorf("%s: the first Tab goes to %s, not the skip link", path, f.What)
		}
		reached[f.I] = true
		if f.Ring != "" {
			d.t.Errorf("%s: %s has %s", path, f.What, f.Ring)
		}
	}
	var missed []string
	d.run(chromedp.Evaluate(`window.__targets.map(function (e, i) { return i + " " + e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
		" \"" + (e.textContent || e.value || e.name || "").trim().slice(0, 30) + "\""; })`, &missed))
	for i, m := range missed {
		if !reached[i] {
			d.t.Errorf("%s: Tab never reaches %s", path, m)
		}
	}
	d.run(chromedp.Evaluate(`document.activeElement && document.activeElement.blur()`, nil))
}

// TestBrowserAccessibility visits every console and portal page as the
// super-admin (who sees every form), and the sign-in pages: each page's
// controls are labelled (visit), reached by Tab with a visible focus
// ring, and its text meets AA contrast; then every page at 390x844, which
// must not scroll sideways, with a screenshot of each.
func TestBrowserAccessibility(t *testing.T) {
	if testing.Short() {
		t.Skip("the browser suite is not short")
	}
	if chromiumPath() == "" && os.Getenv("SLUICE_TEST_REQUIRE_BROWSER") != "1" {
		newDriver(t, "") // skips with the reason
	}
	s, sd := startSeeded(t)
	d := newDriver(t, s.base)
	tn := sd.tn
	pages := []string{"/console/", "/console/providers", "/console/models", "/console/tenancy", "/console/users",
		"/console/keys", "/console/limits", "/console/limits/edit", "/console/limits/team/" + tn.team, "/console/ledger",
		"/console/audit", "/console/prompts", "/console/prompts/" + sd.prompt,
		"/console/prompts/" + sd.prompt + "/versions/1/playground?org=" + tn.org, "/console/playground",
		"/console/experiments", "/console/experiments/" + sd.experiment, "/console/alerts", "/console/guardrails",
		"/portal/", "/portal/apps", "/portal/apps/" + tn.app}
	if sd.products {
		pages = append(pages, "/console/products", "/console/subscriptions", "/console/product-versions",
			"/console/products/"+sd.product+"/versions/v2/diff", "/portal/products/assistant")
	}
	signedOut := []string{"/console/login", "/portal/login"}

	check := func(p string) {
		shot := ""
		if strings.Contains(p, "ledger") || p == "/console/" || p == "/portal/" || p == "/console/prompts/"+sd.prompt || p == "/console/login" {
			shot = shotName(p) // the filter forms and the sign-in page at a laptop's width
		}
		d.visit(p, shot)
		d.contrast(p)
		d.keyboard(p)
		d.labelsBeside(p)
	}
	for _, p := range signedOut {
		check(p)
	}
	d.run(chromedp.Navigate(s.base+"/console/login"), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", adminToken, chromedp.ByID), chromedp.Submit("#token", chromedp.ByID),
		chromedp.WaitVisible("#charts", chromedp.ByID))
	for _, p := range pages {
		check(p)
	}
	// The focus ring, as the keyboard sees it, on the first pages.
	d.visit("/console/keys", "")
	d.run(chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
	d.shot("focus-ring")

	d.run(chromedp.EmulateViewport(390, 844))
	for _, p := range pages {
		d.visit(p, "phone-"+shotName(p))
		d.noSideways(p)
		d.labelsBeside(p)
	}
	d.signOut()
	for _, p := range signedOut {
		d.visit(p, "phone-"+shotName(p))
		d.noSideways(p)
		d.labelsBeside(p)
	}
	d.run(chromedp.EmulateViewport(1280, 900))
}

var shotRE = regexp.MustCompile(`[^a-z0-9]+`)

// shotName turns a path into a file name: /console/limits/team/x -> console-limits-team.
func shotName(p string) string {
	p, _, _ = strings.Cut(p, "?")
	var parts []string
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if strings.Contains(part, "_") || len(part) > 20 { // an id
			continue
		}
		parts = append(parts, part)
	}
	return strings.Trim(shotRE.ReplaceAllString(strings.Join(parts, "-"), "-"), "-")
}

// TestPaletteContrast reads app.css (no browser): its palette's text
// colours meet WCAG AA (4.5:1) on the backgrounds they are used on, and
// every rule that sets both a colour and a background does too.
func TestPaletteContrast(t *testing.T) {
	raw, err := os.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(raw)
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(--[a-z-]+):\s*(#[0-9a-fA-F]{3,6})`).FindAllStringSubmatch(css, -1) {
		vars[m[1]] = m[2]
	}
	resolve := func(v string) string {
		v = strings.TrimSpace(v)
		if m := regexp.MustCompile(`^var\((--[a-z-]+)\)$`).FindStringSubmatch(v); m != nil {
			return vars[m[1]]
		}
		return v
	}
	pairs := []struct{ fg, bg string }{
		{"var(--fg)", "var(--bg)"}, {"var(--fg)", "var(--card)"}, {"var(--muted)", "var(--bg)"}, {"var(--muted)", "var(--card)"},
		{"var(--accent)", "var(--bg)"}, {"var(--accent)", "var(--card)"}, {"#fff", "var(--accent)"},
		{"var(--danger)", "var(--card)"}, {"var(--ok)", "var(--card)"},
	}
	// Every rule that sets a text colour and a background.
	rule := regexp.MustCompile(`([^{}]+)\{([^}]*)\}`)
	colour := regexp.MustCompile(`(?:^|;)\s*color:\s*([^;]+)`)
	background := regexp.MustCompile(`(?:^|;)\s*background(?:-color)?:\s*(#[0-9a-fA-F]{3,6}|var\(--[a-z-]+\))\s*(?:;|$)`)
	for _, m := range rule.FindAllStringSubmatch(css, -1) {
		c, b := colour.FindStringSubmatch(m[2]), background.FindStringSubmatch(m[2])
		if c != nil && b != nil {
			pairs = append(pairs, struct{ fg, bg string }{c[1], b[1]})
		}
	}
	if len(pairs) < 15 {
		t.Fatalf("found %d colour pairs in app.css; the parser no longer reads it", len(pairs))
	}
	for _, p := range pairs {
		fg, bg := resolve(p.fg), resolve(p.bg)
		if !strings.HasPrefix(fg, "#") || !strings.HasPrefix(bg, "#") {
			continue // transparent, inherit, currentColor
		}
		if r := contrastRatio(t, fg, bg); r < 4.5 {
			t.Errorf("%s (%s) on %s (%s): %.2f:1, want at least 4.5:1", p.fg, fg, p.bg, bg, r)
		}
	}
}

// contrastRatio is WCAG's contrast ratio of two #rgb or #rrggbb colours.
func contrastRatio(t *testing.T, a, b string) float64 {
	t.Helper()
	lum := func(h string) float64 {
		h = strings.TrimPrefix(h, "#")
		if len(h) == 3 {
			h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
		}
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil || len(h) != 6 {
			t.Fatalf("colour %q", h)
		}
		var l [3]float64
		for i := range 3 {
			c := float64(v>>(16-8*i)&0xff) / 255
			if c <= 0.04045 {
				l[i] = c / 12.92
			} else {
				l[i] = math.Pow((c+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
	}
	x, y := lum(a), lum(b)
	return (math.Max(x, y) + 0.05) / (math.Min(x, y) + 0.05)
}
