package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// adminClient calls a running server's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func newAdminClient(server, token string) (*adminClient, error) {
	if server == "" {
		server = os.Getenv("SLUICE_SERVER")
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	if token == "" {
		token = os.Getenv("SLUICE_ADMIN_TOKEN")
	}
	if token == "" {
		return nil, usageError{"set SLUICE_ADMIN_TOKEN (or pass --token) to the admin token printed on first start"}
	}
	return &adminClient{base: strings.TrimRight(server, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (c *adminClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && ctx.Err() == nil {
			err = ue.Err
		}
		return fmt.Errorf("cannot reach the Sluice server at %s (is it running? set --server or SLUICE_SERVER): %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("%s %s: %s", method, path, e.Error.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// clientCommands are the commands clientCommand runs, as "command sub".
var clientCommands = map[string]bool{
	"reload ": true, "requests ": true, "usage ": true,
	"keys create": true, "keys list": true, "keys rotate": true, "keys revoke": true,
	"orgs create": true, "orgs list": true, "teams create": true, "teams list": true, "apps create": true, "apps list": true,
}

func clientCommand(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	sub := ""
	switch cmd {
	case "keys", "orgs", "teams", "apps":
		if len(args) == 0 {
			if cmd == "keys" {
				return usageError{"usage: sluice keys create|list|revoke|rotate"}
			}
			return usageError{"usage: sluice " + cmd + " create|list"}
		}
		sub, args = args[0], args[1:]
	}
	if !clientCommands[cmd+" "+sub] {
		return usageError{fmt.Sprintf("unknown command %q", strings.TrimSpace(cmd+" "+sub))}
	}
	fs := newFlags(strings.TrimSpace(cmd+" "+sub), stderr)
	server := fs.String("server", "", "Sluice server URL (default $SLUICE_SERVER or http://127.0.0.1:8080)")
	token := fs.String("token", "", "admin token (default $SLUICE_ADMIN_TOKEN)")
	limit := fs.Int("limit", 20, "number of entries (requests)")
	name := fs.String("name", "", "key name (keys create)")
	models := fs.String("models", "", "comma-separated model allow-list (keys create)")
	asJSON := fs.Bool("json", false, "print JSON")
	rpm := fs.Int64("rpm", 0, "requests per minute (keys create)")
	tpm := fs.Int64("tpm", 0, "tokens per minute (keys create)")
	conc := fs.Int64("max-concurrent", 0, "concurrent requests (keys create)")
	budget := fs.Float64("budget-usd", 0, "budget in dollars (keys create)")
	period := fs.String("budget-period", "monthly", "budget period: daily, weekly, monthly, total (keys create)")
	org := fs.String("org", "", "organisation id (teams create, usage, requests)")
	team := fs.String("team", "", "team id (apps create, usage, requests)")
	app := fs.String("app", "", "application id (keys create, usage, requests)")
	key := fs.String("key", "", "key id (usage, requests)")
	groupBy := fs.String("group-by", "", "usage: key, app, team, org or model")
	from := fs.String("from", "", "usage: start date (default: this month)")
	to := fs.String("to", "", "usage: end date (exclusive)")
	overlap := fs.Int64("overlap", 3600, "keys rotate: seconds the old value keeps working")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// setLimits adds the limit flags that are set to a request body.
	setLimits := func(body map[string]any) {
		for k, v := range map[string]int64{"rpm": *rpm, "tpm": *tpm, "max_concurrent": *conc} {
			if v != 0 {
				body[k] = v
			}
		}
		if *budget > 0 {
			body["budget"] = map[string]any{"amount_usd": *budget, "period": *period}
		}
	}
	c, err := newAdminClient(*server, *token)
	if err != nil {
		return err
	}
	switch cmd + " " + sub {
	case "reload ":
		var out map[string]any
		if err := c.do(ctx, http.MethodPost, "/admin/v1/reload", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reloaded: config version %v, models %v\n", out["version"], out["models"])
		return nil
	case "requests ":
		var out struct {
			Data []map[string]any `json:"data"`
		}
		qs := scopeQuery(*org, *team, *app, *key)
		qs.Set("limit", fmt.Sprint(*limit))
		if err := c.do(ctx, http.MethodGet, "/admin/v1/requests?"+qs.Encode(), nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out.Data)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tREQUEST ID\tKEY\tMODEL\tPROVIDER\tSTATUS\tHTTP\tIN\tOUT\tCACHED\tCOST $\tLATENCY ms\tTTFT ms")
		for _, e := range out.Data {
			est := ""
			if e["estimated"] == true {
				est = "~"
			}
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\t%s%v\t%s%v\t%v\t%.6f\t%.1f\t%.1f\n",
				e["time"], e["request_id"], str(e["key_name"]), str(e["model"]), str(e["provider"]), e["status"], e["http_status"],
				est, e["input_tokens"], est, e["output_tokens"], e["cached_tokens"], num(e["cost_micros"])/1e6,
				num(e["latency_ms"]), num(e["ttft_ms"]))
		}
		return tw.Flush()
	case "keys create":
		if *name == "" {
			return usageError{"usage: sluice keys create --name NAME [--models a,b]"}
		}
		var out map[string]any
		body := map[string]any{"name": *name, "app_id": *app}
		if *models != "" {
			body["models"] = splitList(*models)
		}
		setLimits(body)
		if err := c.do(ctx, http.MethodPost, "/admin/v1/keys", body, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "Created key %v (%v). Shown once; Sluice keeps only its hash:\n\n    %v\n\n", out["name"], out["id"], out["key"])
		return nil
	case "keys list":
		var out struct {
			Data []map[string]any `json:"data"`
		}
		if err := c.do(ctx, http.MethodGet, "/admin/v1/keys", nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out.Data)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tMODELS\tCREATED\tREVOKED")
		for _, k := range out.Data {
			revoked := "-"
			if v, ok := k["revoked_at"]; ok && v != nil {
				revoked = fmt.Sprint(v)
			}
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\n", k["id"], k["name"], k["prefix"], k["models"], k["created_at"], revoked)
		}
		return tw.Flush()
	case "keys rotate":
		if fs.NArg() != 1 {
			return usageError{"usage: sluice keys rotate [--overlap SECONDS] ID"}
		}
		var out map[string]any
		if err := c.do(ctx, http.MethodPost, "/admin/v1/keys/"+url.PathEscape(fs.Arg(0))+"/rotate",
			map[string]any{"overlap_seconds": *overlap}, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "Rotated key %v. %v\n\n    %v\n\n", out["id"], out["note"], out["key"])
		return nil
	case "orgs create", "teams create", "apps create":
		if *name == "" {
			return usageError{"usage: sluice " + cmd + " create --name NAME [--org ID | --team ID] [--rpm N] [--budget-usd X]"}
		}
		body := map[string]any{"name": *name}
		switch cmd {
		case "teams":
			body["org_id"] = *org
		case "apps":
			body["team_id"] = *team
		}
		setLimits(body)
		var out map[string]any
		if err := c.do(ctx, http.MethodPost, "/admin/v1/"+cmd, body, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "created %v %v (%v)\n", out["object"], out["name"], out["id"])
		return nil
	case "orgs list", "teams list", "apps list":
		var out struct {
			Data []map[string]any `json:"data"`
		}
		// Each list takes the filters of the levels above it only.
		var qs url.Values
		switch cmd {
		case "orgs":
			if *org != "" || *team != "" {
				return usageError{"usage: sluice orgs list (no --org or --team: it lists every organisation you may read)"}
			}
			qs = url.Values{}
		case "teams":
			if *team != "" {
				return usageError{"usage: sluice teams list [--org ID]"}
			}
			qs = scopeQuery(*org, "", "", "")
		default:
			qs = scopeQuery(*org, *team, "", "")
		}
		if err := c.do(ctx, http.MethodGet, "/admin/v1/"+cmd+"?"+qs.Encode(), nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out.Data)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tORG\tTEAM\tSOURCE\tLIMITS")
		for _, u := range out.Data {
			lim, _ := json.Marshal(u["limits"])
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%s\n", u["id"], u["name"], str(u["org_id"]), str(u["team_id"]), u["source"], lim)
		}
		return tw.Flush()
	case "usage ":
		qs := scopeQuery(*org, *team, *app, *key)
		for k, v := range map[string]string{"group_by": *groupBy, "from": *from, "to": *to} {
			if v != "" {
				qs.Set(k, v)
			}
		}
		var out struct {
			From  string           `json:"from"`
			Data  []map[string]any `json:"data"`
			Total map[string]any   `json:"total"`
		}
		if err := c.do(ctx, http.MethodGet, "/admin/v1/usage?"+qs.Encode(), nil, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tREQUESTS\tINPUT TOKENS\tOUTPUT TOKENS\tCOST $")
		for _, row := range append(out.Data, out.Total) {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%.6f\n", str(row["group"]), row["requests"], row["input_tokens"], row["output_tokens"], num(row["cost_micros"])/1e6)
		}
		return tw.Flush()
	case "keys revoke":
		if fs.NArg() != 1 {
			return usageError{"usage: sluice keys revoke ID|NAME"}
		}
		if err := c.do(ctx, http.MethodDelete, "/admin/v1/keys/"+url.PathEscape(fs.Arg(0)), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", fs.Arg(0))
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", strings.TrimSpace(cmd+" "+sub))}
}

// scopeQuery is the query string naming a unit or key.
func scopeQuery(org, team, app, key string) url.Values {
	qs := url.Values{}
	for k, v := range map[string]string{"org_id": org, "team_id": team, "app_id": app, "key_id": key} {
		if v != "" {
			qs.Set(k, v)
		}
	}
	return qs
}

func str(v any) string {
	if v == nil || v == "" {
		return "-"
	}
	return fmt.Sprint(v)
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
