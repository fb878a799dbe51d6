package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// productsUsage lists the product, subscription and model-stop commands.
const productsUsage = `Usage:
  sluice products list                                           products you may see
  sluice products show NAME                                      a product with its versions and plans
  sluice products publish NAME VERSION                           publish a draft version
  sluice products deprecate NAME VERSION [--sunset RFC3339] [--successor V]
  sluice products suspend NAME VERSION [--reason TEXT]          emergency stop: 503 everywhere within a second
  sluice products resume NAME VERSION                            lift the stop
  sluice products callers NAME [--version V] [--from DATE]       who still calls it: by org, team, app and key
  sluice subscriptions list [--product P] [--state S] [--app ID]
  sluice subscriptions create --app ORG/TEAM/APP|ID --product P --plan PLAN [--reason TEXT]
  sluice subscriptions approve|reject|suspend|resume|cancel ID [--note TEXT]
  sluice subscriptions plan ID --plan PLAN                       move it to another plan of its product
  sluice org-webhook show ORG                                    an organisation's notification webhook
  sluice org-webhook set ORG --url URL [--secret S]             subscriber notices of its applications go there, signed
  sluice org-webhook delete ORG                                  notices go to alerts.webhook_url again
  sluice models suspend MODEL [--reason TEXT] | sluice models resume MODEL
`

// parseInterspersed parses flags wherever they are among the arguments
// and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// productsCommand runs the products, subscriptions and models commands
// against a running server's admin API.
func productsCommand(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, productsUsage)
		return usageError{"usage: sluice " + cmd + " SUBCOMMAND"}
	}
	sub, args := args[0], args[1:]
	fs := newFlags(cmd+" "+sub, stderr)
	server := fs.String("server", "", "Sluice server URL (default $SLUICE_SERVER or http://127.0.0.1:8080)")
	token := fs.String("token", "", "admin token (default $SLUICE_ADMIN_TOKEN)")
	asJSON := fs.Bool("json", false, "print JSON")
	reason := fs.String("reason", "", "why (subscriptions create, suspend)")
	note := fs.String("note", "", "a note recorded with the change")
	sunset := fs.String("sunset", "", "sunset time, RFC 3339 (deprecate)")
	successor := fs.String("successor", "", "successor version (deprecate)")
	product := fs.String("product", "", "product name (subscriptions)")
	plan := fs.String("plan", "", "plan name (subscriptions create)")
	app := fs.String("app", "", "application: org/team/app or its id (subscriptions)")
	stateFilter := fs.String("state", "", "subscription state (subscriptions list)")
	version := fs.String("version", "", "version (products callers)")
	from := fs.String("from", "", "start date or RFC 3339 time (products callers; default 30 days ago)")
	hookURL := fs.String("url", "", "webhook URL (org-webhook set)")
	secret := fs.String("secret", "", "signing secret (org-webhook set; default $SLUICE_WEBHOOK_SECRET; absent keeps the stored one)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	need := func(n int, what string) error {
		if len(pos) != n {
			return usageError{fmt.Sprintf("usage: sluice %s %s %s", cmd, sub, what)}
		}
		return nil
	}
	c, err := newAdminClient(*server, *token)
	if err != nil {
		return err
	}
	var out any
	switch cmd + " " + sub {
	case "products list":
		if err := need(0, ""); err != nil {
			return err
		}
		data, err := allPages(ctx, c, "/admin/v1/products", nil)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, data)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTEAM\tVISIBILITY\tSOURCE\tVERSIONS")
		for _, p := range data {
			var vs []string
			for _, v := range asList(p["versions"]) {
				vs = append(vs, str(v["version"])+":"+str(v["state"]))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", str(p["name"]), str(p["team_id"]), str(p["visibility"]), str(p["source"]), strings.Join(vs, " "))
		}
		return tw.Flush()
	case "products show":
		if err := need(1, "NAME"); err != nil {
			return err
		}
		err = c.do(ctx, "GET", "/admin/v1/products/"+url.PathEscape(pos[0]), nil, &out)
	case "products publish", "products resume", "products suspend", "products deprecate":
		if err := need(2, "NAME VERSION"); err != nil {
			return err
		}
		body := map[string]any{}
		if sub == "suspend" && *reason != "" {
			body["reason"] = *reason
		}
		if sub == "deprecate" {
			if *sunset != "" {
				t, err := time.Parse(time.RFC3339, *sunset)
				if err != nil {
					return usageError{"--sunset: " + err.Error()}
				}
				body["sunset_at"] = t
			}
			if *successor != "" {
				body["successor"] = *successor
			}
		}
		err = c.do(ctx, "POST", "/admin/v1/products/"+url.PathEscape(pos[0])+"/versions/"+url.PathEscape(pos[1])+"/"+sub, body, &out)
	case "products callers":
		if err := need(1, "NAME"); err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"version": *version, "from": *from} {
			if v != "" {
				q.Set(k, v)
			}
		}
		path := "/admin/v1/products/" + url.PathEscape(pos[0]) + "/callers"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		var res struct{ Data []map[string]any }
		if err := c.do(ctx, "GET", path, nil, &res); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, res.Data)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ORG\tTEAM\tAPP\tKEY\tREQUESTS\tCOST_USD\tLAST_SEEN")
		for _, r := range res.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%.6f\t%s\n", str(r["org_id"]), str(r["team_id"]), str(r["app_id"]), str(r["key_id"]),
				num(r["requests"]), num(r["cost_micros"])/1e6, str(r["last_seen"]))
		}
		return tw.Flush()
	case "subscriptions list":
		q := url.Values{}
		for k, v := range map[string]string{"product": *product, "state": *stateFilter, "app_id": *app} {
			if v != "" {
				q.Set(k, v)
			}
		}
		data, err := allPages(ctx, c, "/admin/v1/subscriptions", q)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, data)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAPPLICATION\tPRODUCT\tPLAN\tSTATE\tEXPIRES")
		for _, s := range data {
			app := str(s["application_path"])
			if app == "" {
				app = str(s["application"])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", str(s["id"]), app, str(s["product"]), str(s["plan"]), str(s["state"]), str(s["expires_at"]))
		}
		return tw.Flush()
	case "subscriptions create":
		if *app == "" || *product == "" || *plan == "" {
			return usageError{"usage: sluice subscriptions create --app APP --product P --plan PLAN [--reason TEXT]"}
		}
		err = c.do(ctx, "POST", "/admin/v1/subscriptions", map[string]any{"application": *app, "product": *product, "plan": *plan, "reason": *reason}, &out)
	case "subscriptions approve", "subscriptions reject", "subscriptions suspend", "subscriptions resume", "subscriptions cancel":
		if err := need(1, "ID"); err != nil {
			return err
		}
		err = c.do(ctx, "POST", "/admin/v1/subscriptions/"+url.PathEscape(pos[0])+"/"+sub, map[string]any{"note": *note}, &out)
	case "subscriptions plan":
		if err := need(1, "ID --plan PLAN"); err != nil {
			return err
		}
		if *plan == "" {
			return usageError{"usage: sluice subscriptions plan ID --plan PLAN"}
		}
		err = c.do(ctx, "PATCH", "/admin/v1/subscriptions/"+url.PathEscape(pos[0]), map[string]any{"plan": *plan}, &out)
	case "org-webhook show", "org-webhook delete":
		if err := need(1, "ORG"); err != nil {
			return err
		}
		method := map[string]string{"show": "GET", "delete": "DELETE"}[sub]
		err = c.do(ctx, method, "/admin/v1/orgs/"+url.PathEscape(pos[0])+"/notify-webhook", nil, &out)
	case "org-webhook set":
		if err := need(1, "ORG --url URL [--secret S]"); err != nil {
			return err
		}
		if *hookURL == "" {
			return usageError{"usage: sluice org-webhook set ORG --url URL [--secret S]"}
		}
		body := map[string]any{"url": *hookURL}
		if *secret == "" {
			*secret = os.Getenv("SLUICE_WEBHOOK_SECRET") // kept out of the shell history
		}
		if *secret != "" {
			body["secret"] = *secret
		}
		err = c.do(ctx, "PUT", "/admin/v1/orgs/"+url.PathEscape(pos[0])+"/notify-webhook", body, &out)
	case "models suspend", "models resume":
		if err := need(1, "MODEL"); err != nil {
			return err
		}
		body := map[string]any{"model": pos[0]}
		if sub == "suspend" {
			body["reason"] = *reason
		}
		err = c.do(ctx, "POST", "/admin/v1/models/"+sub, body, &out)
	default:
		fmt.Fprint(stderr, productsUsage)
		return usageError{fmt.Sprintf("unknown command %q", cmd+" "+sub)}
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, out)
}

func asList(v any) []map[string]any {
	xs, _ := v.([]any)
	out := make([]map[string]any, 0, len(xs))
	for _, x := range xs {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// allPages reads every page of a keyset-paginated list (cursor,
// next_cursor), at most 1000 pages.
func allPages(ctx context.Context, c *adminClient, path string, q url.Values) ([]map[string]any, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("limit", "1000")
	var all []map[string]any
	for range 1000 {
		var res struct {
			Data       []map[string]any
			NextCursor string `json:"next_cursor"`
		}
		if err := c.do(ctx, "GET", path+"?"+q.Encode(), nil, &res); err != nil {
			return nil, err
		}
		all = append(all, res.Data...)
		if res.NextCursor == "" {
			break
		}
		q.Set("cursor", res.NextCursor)
	}
	if all == nil {
		all = []map[string]any{}
	}
	return all, nil
}
