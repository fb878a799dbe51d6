package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicehq/sluice/internal/prompt"
)

const promptsUsage = `usage:
  sluice prompts create NAME --team ID [--file VERSION.json] [--protected production,...] [--description D]
  sluice prompts version NAME --file VERSION.json [--message WHY]
  sluice prompts list [--team ID] [--json]
  sluice prompts show NAME [--version N] [--json]
  sluice prompts diff NAME FROM TO
  sluice prompts label NAME LABEL --version N [--split-version M --split-weight PERCENT [--sticky key|user]] [--reason WHY]
  sluice prompts label NAME LABEL --rollback [--reason WHY]
  sluice prompts label NAME --history [LABEL]
  sluice prompts test NAME --version N --cases FILE.jsonl [--compare M] [--gateway URL] [--key KEY]

VERSION.json is {"model", "messages": [{"role", "content"}], "variables": {JSON Schema}, "params", "output"}.
test calls the prompt through the running gateway (--gateway, default the server; --key or SLUICE_API_KEY),
prints a table, stores the run (with SLUICE_ADMIN_TOKEN) and exits 1 when a case fails.`

// parseInterleaved parses flags that may come before, between or after
// the positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func promptsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{promptsUsage}
	}
	sub, args := args[0], args[1:]
	fs := newFlags("prompts "+sub, stderr)
	server := fs.String("server", "", "Sluice server URL (default $SLUICE_SERVER or http://127.0.0.1:8080)")
	token := fs.String("token", "", "admin token (default $SLUICE_ADMIN_TOKEN)")
	team := fs.String("team", "", "team id (create, list)")
	file := fs.String("file", "", "a version as JSON (create, version)")
	message := fs.String("message", "", "why this version (version)")
	protected := fs.String("protected", "", "comma-separated protected labels (create)")
	description := fs.String("description", "", "what the prompt is for (create)")
	asJSON := fs.Bool("json", false, "print JSON")
	version := fs.Int("version", 0, "a version number (show, label, test)")
	splitVersion := fs.Int("split-version", 0, "label: the version that gets --split-weight percent of the traffic")
	splitWeight := fs.Int("split-weight", 0, "label: percentage (1-100) for --split-version")
	sticky := fs.String("sticky", "", "label: a split is sticky per key (default) or user")
	reason := fs.String("reason", "", "label: why it moves")
	rollback := fs.Bool("rollback", false, "label: move it back to its previous version")
	history := fs.Bool("history", false, "label: show the moves")
	cases := fs.String("cases", "", "test: the JSONL test set")
	compare := fs.Int("compare", 0, "test: a second version to run side by side")
	gateway := fs.String("gateway", "", "test: the gateway's URL (default the server's)")
	key := fs.String("key", "", "test: a Sluice API key (default $SLUICE_API_KEY)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	need := func(n int, what string) error {
		if len(pos) != n {
			return usageError{fmt.Sprintf("usage: sluice prompts %s %s\n\n%s", sub, what, promptsUsage)}
		}
		return nil
	}
	if sub == "test" {
		if err := need(1, "NAME --version N --cases FILE"); err != nil {
			return err
		}
		return promptsTest(ctx, pos[0], *version, *compare, *cases, *server, *gateway, *key, *token, stdout)
	}
	c, err := newAdminClient(*server, *token)
	if err != nil {
		return err
	}
	base := func(name string) string { return "/admin/v1/prompts/" + url.PathEscape(name) }
	readVersion := func() (map[string]any, error) {
		if *file == "" {
			return nil, nil
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", *file, err)
		}
		if *message != "" {
			v["message"] = *message
		}
		return v, nil
	}
	var out map[string]any
	switch sub {
	case "create":
		if err := need(1, "NAME --team ID [--file VERSION.json]"); err != nil {
			return err
		}
		body := map[string]any{"name": pos[0], "team_id": *team}
		if *description != "" {
			body["description"] = *description
		}
		if ps := splitList(*protected); len(ps) > 0 {
			body["protected"] = ps
		}
		v, err := readVersion()
		if err != nil {
			return err
		}
		if v != nil {
			body["version"] = v
		}
		if err := c.do(ctx, "POST", "/admin/v1/prompts", body, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created prompt %s (%s), latest version %v\n", pos[0], str(out["id"]), out["latest_version"])
		return nil
	case "version":
		if err := need(1, "NAME --file VERSION.json"); err != nil {
			return err
		}
		v, err := readVersion()
		if err != nil || v == nil {
			return usageError{"sluice prompts version NAME --file VERSION.json"}
		}
		if err := c.do(ctx, "POST", base(pos[0])+"/versions", v, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s version %v\n", pos[0], out["version"])
		return nil
	case "list":
		q := url.Values{}
		if *team != "" {
			q.Set("team_id", *team)
		}
		path := "/admin/v1/prompts"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		if err := c.do(ctx, "GET", path, nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTEAM\tLATEST\tLABELS\tSOURCE")
		for _, d := range out["data"].([]any) {
			p := d.(map[string]any)
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", str(p["name"]), str(p["team_id"]), p["latest_version"], labelsOf(p), str(p["source"]))
		}
		return tw.Flush()
	case "show":
		if err := need(1, "NAME [--version N]"); err != nil {
			return err
		}
		path := base(pos[0])
		if *version > 0 {
			path += "/versions/" + strconv.Itoa(*version)
		}
		if err := c.do(ctx, "GET", path, nil, &out); err != nil {
			return err
		}
		if *asJSON || *version > 0 {
			return printJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "%s (%s) team %s, latest version %v, labels %s\n", str(out["name"]), str(out["id"]), str(out["team_id"]), out["latest_version"], labelsOf(out))
		vs, _ := out["versions"].([]any)
		for _, d := range vs {
			v := d.(map[string]any)
			fmt.Fprintf(stdout, "  version %v  %s  by %s: %s\n", v["version"], str(v["model"]), str(v["author"]), str(v["message"]))
		}
		return nil
	case "diff":
		if err := need(3, "NAME FROM TO"); err != nil {
			return err
		}
		q := url.Values{"from": {pos[1]}, "to": {pos[2]}}
		if err := c.do(ctx, "GET", base(pos[0])+"/diff?"+q.Encode(), nil, &out); err != nil {
			return err
		}
		if d := str(out["diff"]); d != "" {
			fmt.Fprint(stdout, d)
		} else {
			fmt.Fprintf(stdout, "versions %s and %s say the same\n", pos[1], pos[2])
		}
		return nil
	case "label":
		if *history {
			if len(pos) < 1 || len(pos) > 2 {
				return usageError{"usage: sluice prompts label NAME --history [LABEL]"}
			}
			path := base(pos[0]) + "/history"
			if len(pos) == 2 {
				path += "?label=" + url.QueryEscape(pos[1])
			}
			if err := c.do(ctx, "GET", path, nil, &out); err != nil {
				return err
			}
			if *asJSON {
				return printJSON(stdout, out)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tLABEL\tFROM\tTO\tSPLIT\tBY\tREASON")
			for _, d := range out["data"].([]any) {
				m := d.(map[string]any)
				split := "-"
				if w := num(m["split_weight"]); w > 0 {
					split = fmt.Sprintf("%v%% to %v", w, m["split_version"])
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\t%s\n", str(m["ts"]), str(m["label"]), m["from_version"], m["to_version"], split, str(m["actor"]), str(m["reason"]))
			}
			return tw.Flush()
		}
		if err := need(2, "NAME LABEL --version N | --rollback"); err != nil {
			return err
		}
		path := base(pos[0]) + "/labels/" + url.PathEscape(pos[1])
		if *rollback {
			if err := c.do(ctx, "POST", path+"/rollback", map[string]any{"reason": *reason}, &out); err != nil {
				return err
			}
		} else {
			body := map[string]any{"version": *version, "reason": *reason}
			if *splitVersion != 0 || *splitWeight != 0 {
				body["split_version"], body["split_weight"] = *splitVersion, *splitWeight
			}
			if *sticky != "" {
				body["sticky"] = *sticky
			}
			if err := c.do(ctx, "PUT", path, body, &out); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s@%s -> version %v", pos[0], pos[1], out["version"])
		if w := num(out["split_weight"]); w > 0 {
			fmt.Fprintf(stdout, " (%v%% to version %v, sticky per %s)", w, out["split_version"], map[bool]string{true: "user", false: "key"}[str(out["sticky"]) == "user"])
		}
		fmt.Fprintln(stdout)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q\n\n%s", "prompts "+sub, promptsUsage)}
}

func labelsOf(p map[string]any) string {
	ls, _ := p["labels"].([]any)
	var out []string
	for _, d := range ls {
		l := d.(map[string]any)
		s := fmt.Sprintf("%s=%v", str(l["label"]), l["version"])
		if num(l["split_weight"]) > 0 {
			s += fmt.Sprintf("(+%v%%:%v)", l["split_weight"], l["split_version"])
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

// promptsTest runs a test set through the gateway against one version, or
// two side by side, prints the table, stores each run (when an admin token
// is at hand) and fails when a case fails.
func promptsTest(ctx context.Context, name string, version, compare int, casesFile, server, gateway, key, token string, stdout io.Writer) error {
	if version < 1 || casesFile == "" {
		return usageError{"usage: sluice prompts test NAME --version N --cases FILE [--compare M]"}
	}
	f, err := os.Open(casesFile)
	if err != nil {
		return err
	}
	cases, err := prompt.ParseCases(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", casesFile, err)
	}
	if gateway == "" {
		gateway = server
	}
	if gateway == "" {
		gateway = os.Getenv("SLUICE_SERVER")
	}
	if gateway == "" {
		gateway = "http://127.0.0.1:8080"
	}
	if key == "" {
		key = os.Getenv("SLUICE_API_KEY")
	}
	if key == "" {
		return usageError{"set SLUICE_API_KEY (or pass --key) to a Sluice API key that may use the prompt's model"}
	}
	admin, _ := newAdminClient(server, token) // optional: costs and stored runs
	versions := []int{version}
	if compare > 0 {
		versions = append(versions, compare)
	}
	hc := &http.Client{Timeout: 5 * time.Minute}
	var runs []prompt.Run
	for _, v := range versions {
		run := prompt.Run{Version: strconv.Itoa(v)}
		ids := make([]string, len(cases))
		outs := make([]prompt.Outcome, len(cases))
		errs := make([]error, len(cases))
		for i, c := range cases {
			outs[i], ids[i], errs[i] = callPrompt(ctx, hc, strings.TrimRight(gateway, "/"), key, name, v, c.Variables)
		}
		costs := ledgerCosts(ctx, admin, ids)
		output := outputSchema(ctx, admin, name, v)
		for i, c := range cases {
			if output != nil { // every case's answer must match the version's output schema
				c.Assert = append(append([]prompt.Assertion(nil), c.Assert...), *output)
			}
			if cost, ok := costs[ids[i]]; ok {
				outs[i].CostMicros = cost
			} else if errs[i] == nil && needsCost(c) {
				errs[i] = fmt.Errorf("cost unknown (no ledger entry for request %s; set SLUICE_ADMIN_TOKEN)", ids[i])
			}
			r := prompt.Evaluate(c, outs[i])
			r.Err = errs[i]
			run.Results = append(run.Results, r)
		}
		runs = append(runs, run)
		if admin != nil {
			s := prompt.Summarize(run)
			summary := map[string]any{"pass_rate": s.PassRate(), "mean_latency_ms": s.MeanLatency.Milliseconds(),
				"input_tokens": s.InputTokens, "output_tokens": s.OutputTokens, "cost_micros": s.CostMicros, "cases_file": casesFile}
			if err := admin.do(ctx, "POST", "/admin/v1/prompts/"+url.PathEscape(name)+"/test-runs",
				map[string]any{"version": v, "cases": s.Cases, "passed": s.Passed, "summary": summary}, nil); err != nil {
				fmt.Fprintf(stdout, "warning: the run of version %d was not stored: %v\n", v, err)
			}
		}
	}
	if err := prompt.WriteTable(stdout, runs); err != nil {
		return err
	}
	if !prompt.AllPassed(runs) {
		failed := 0
		for _, run := range runs {
			for _, r := range run.Results {
				if !r.Passed() {
					failed++
				}
			}
		}
		return fmt.Errorf("%d case run(s) failed", failed)
	}
	return nil
}

// outputSchema returns a json_schema assertion of the version's output
// schema, or nil when it has none (or the version cannot be read).
func outputSchema(ctx context.Context, admin *adminClient, name string, version int) *prompt.Assertion {
	if admin == nil {
		return nil
	}
	var v struct {
		Output json.RawMessage `json:"output"`
	}
	if err := admin.do(ctx, "GET", fmt.Sprintf("/admin/v1/prompts/%s/versions/%d", url.PathEscape(name), version), nil, &v); err != nil {
		return nil
	}
	if len(bytes.TrimSpace(v.Output)) == 0 || string(v.Output) == "null" {
		return nil
	}
	return &prompt.Assertion{Type: "json_schema", Value: v.Output}
}

func needsCost(c prompt.Case) bool {
	for _, a := range c.Assert {
		if a.Type == "max_cost_usd" {
			return true
		}
	}
	return false
}

// callPrompt calls one version of the prompt through the gateway and
// returns what it produced and the request id.
func callPrompt(ctx context.Context, hc *http.Client, gateway, key, name string, version int, vars json.RawMessage) (prompt.Outcome, string, error) {
	var out prompt.Outcome
	if len(vars) == 0 {
		vars = json.RawMessage("{}")
	}
	body, _ := json.Marshal(map[string]any{"variables": vars})
	req, err := http.NewRequestWithContext(ctx, "POST", gateway+"/prompts/"+url.PathEscape(name)+"@"+strconv.Itoa(version), bytes.NewReader(body))
	if err != nil {
		return out, "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return out, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	out.Latency = time.Since(start)
	id := resp.Header.Get("X-Request-Id")
	if err != nil {
		return out, id, err
	}
	err = prompt.ReadAnswer(&out, resp.StatusCode, data)
	return out, id, err
}

// ledgerCosts reads the cost of the requests from the ledger (it is
// written a moment after each answer), waiting up to five seconds.
func ledgerCosts(ctx context.Context, admin *adminClient, ids []string) map[string]int64 {
	costs := map[string]int64{}
	if admin == nil || len(ids) == 0 {
		return costs
	}
	want := 0
	for _, id := range ids {
		if id != "" {
			want++
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var out struct {
			Data []struct {
				RequestID  string `json:"request_id"`
				CostMicros int64  `json:"cost_micros"`
			} `json:"data"`
		}
		if err := admin.do(ctx, "GET", fmt.Sprintf("/admin/v1/requests?limit=%d", min(1000, 2*len(ids)+50)), nil, &out); err != nil {
			return costs
		}
		for _, e := range out.Data {
			costs[e.RequestID] = e.CostMicros
		}
		found := 0
		for _, id := range ids {
			if _, ok := costs[id]; ok && id != "" {
				found++
			}
		}
		if found >= want || time.Now().After(deadline) || ctx.Err() != nil {
			return costs
		}
		time.Sleep(200 * time.Millisecond)
	}
}
