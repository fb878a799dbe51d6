package admin

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/store"
)

// Alert rules made through the API join the file's alert_rules; both are
// evaluated by the node that holds the evaluator's lease (internal/alert).
// They are platform objects: the super-admin's.

// AlertRuleInput is a rule as the API takes and shows it.
type AlertRuleInput struct {
	Name      string              `json:"name"`
	Kind      string              `json:"kind" enum:"error_rate,latency_p95,ttft_p95,spend_rate,deprecated_traffic,target_ejected,all_targets_down"`
	Threshold float64             `json:"threshold"`
	Window    string              `json:"window,omitempty"` // "5m"
	For       string              `json:"for,omitempty"`
	MinEvents int64               `json:"min_events,omitempty"`
	NoData    string              `json:"no_data,omitempty" enum:"ok,keep,alerting"`
	Where     map[string]string   `json:"where,omitempty"`
	GroupBy   []string            `json:"group_by,omitempty"`
	Notify    []AlertChannelInput `json:"notify,omitempty"`
	ID        string              `json:"id,omitempty"`
	CreatedAt *time.Time          `json:"created_at,omitempty"`
}

// AlertChannelInput is one destination; secrets are write-only.
type AlertChannelInput struct {
	Type       string            `json:"type" enum:"webhook,slack,pagerduty"`
	URL        string            `json:"url,omitempty"`
	Secret     string            `json:"secret,omitempty"`
	RoutingKey string            `json:"routing_key,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// AlertsAnswer is GET /admin/v1/alerts.
type AlertsAnswer struct {
	States                []store.AlertState      `json:"states"`
	Transitions           []store.AlertTransition `json:"transitions"`
	TransitionsNextCursor string                  `json:"transitions_next_cursor,omitempty" description:"With limit or cursor: pass as cursor for the older transitions; absent on the last page."`
	DisabledChannels      map[string]string       `json:"disabled_channels"`
}

// The alert history (transitions) pages by keyset like the other growing
// lists: newest first, then by rule and series, then a series' newest
// transition first; a cursor names the last transition shown. Rule and
// series are quoted, so a series of any bytes (group_by values) round-trips.
const transitionCursorTag = "at1"

// maxTransitionCursor bounds a cursor's length: longer than decodeCursor
// takes, since a series joins group_by values of any length.
const maxTransitionCursor = 8 << 10

func transitionCursor(t store.AlertTransition) string {
	c := t.CursorOf()
	return encodeCursor(transitionCursorTag, strconv.FormatInt(c.At, 10), strconv.Quote(c.Rule), strconv.Quote(c.Series),
		strconv.FormatInt(c.Seq, 10))
}

// parseTransitionCursor reads the alert history's cursor: nil without one.
func parseTransitionCursor(s string) (*store.AlertTransitionCursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxTransitionCursor {
		return nil, errInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errInvalidCursor
	}
	p := strings.Split(string(b), "\n")
	if len(p) != 5 || p[0] != transitionCursorTag {
		return nil, errInvalidCursor
	}
	at, err1 := strconv.ParseInt(p[1], 10, 64)
	rule, err2 := strconv.Unquote(p[2])
	series, err3 := strconv.Unquote(p[3])
	seq, err4 := strconv.ParseInt(p[4], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil || at < 0 || seq < 1 || rule == "" {
		return nil, errInvalidCursor
	}
	return &store.AlertTransitionCursor{At: at, Rule: rule, Series: series, Seq: seq}, nil
}

func (in AlertRuleInput) toConfig() (config.AlertRule, error) {
	r := config.AlertRule{Name: in.Name, Kind: in.Kind, Threshold: in.Threshold, MinEvents: in.MinEvents, NoData: in.NoData,
		Where: in.Where, GroupBy: in.GroupBy}
	for _, d := range []struct {
		s   string
		dst *config.Duration
		at  string
	}{{in.Window, &r.Window, "window"}, {in.For, &r.For, "for"}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return r, &httpError{http.StatusBadRequest, "invalid_" + d.at, d.at + " must be a duration such as 5m."}
		}
		*d.dst = config.Duration(v)
	}
	for _, c := range in.Notify {
		r.Notify = append(r.Notify, config.AlertChannel{Type: c.Type, URL: c.URL, Secret: c.Secret, RoutingKey: c.RoutingKey, Headers: c.Headers})
	}
	var problems []string
	config.ValidateAlertRule("rule", r, func(path, format string, args ...any) {
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	})
	if len(problems) > 0 {
		return r, &httpError{http.StatusBadRequest, "invalid_rule", strings.Join(problems, "; ")}
	}
	return r, nil
}

// alertRuleView shows a stored rule without its channels' secrets.
func alertRuleView(sr store.StoredAlertRule) AlertRuleInput {
	var r config.AlertRule
	_ = json.Unmarshal([]byte(sr.Spec), &r)
	at := sr.CreatedAt
	v := AlertRuleInput{ID: sr.ID, CreatedAt: &at, Name: r.Name, Kind: r.Kind, Threshold: r.Threshold, MinEvents: r.MinEvents,
		NoData: r.NoData, Where: r.Where, GroupBy: r.GroupBy, Notify: []AlertChannelInput{}}
	if r.Window > 0 {
		v.Window = time.Duration(r.Window).String()
	}
	if r.For > 0 {
		v.For = time.Duration(r.For).String()
	}
	for _, c := range r.Notify {
		ch := AlertChannelInput{Type: c.Type, URL: c.URL}
		if c.Secret != "" {
			ch.Secret = "(set)"
		}
		if c.RoutingKey != "" {
			ch.RoutingKey = "(set)"
		}
		if c.Type == config.ChannelSlack && c.URL != "" { // a Slack webhook URL is its secret
			ch.URL = "(set)"
		}
		v.Notify = append(v.Notify, ch)
	}
	return v
}

func (a *API) listAlertRules(w http.ResponseWriter, r *http.Request) error {
	rules, err := a.opts.Store.ListAlertRules(r.Context())
	if err != nil {
		return err
	}
	out := make([]AlertRuleInput, len(rules))
	for i, sr := range rules {
		out[i] = alertRuleView(sr)
	}
	return writeJSON(w, http.StatusOK, list[AlertRuleInput]{Object: "list", Data: out})
}

func (a *API) createAlertRule(w http.ResponseWriter, r *http.Request) error {
	var in AlertRuleInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.ID != "" || in.CreatedAt != nil {
		return &httpError{http.StatusBadRequest, "invalid_body", "id and created_at are set by Sluice."}
	}
	rule, err := in.toConfig()
	if err != nil {
		return err
	}
	spec, err := json.Marshal(rule)
	if err != nil {
		return err
	}
	id := newID("alr_")
	now := time.Now().UTC()
	if err := a.opts.Store.CreateAlertRule(r.Context(), id, rule.Name, string(spec), now); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "name_taken", "An alert rule of that name exists."}
		}
		return err
	}
	view := alertRuleView(store.StoredAlertRule{ID: id, Name: rule.Name, Spec: string(spec), CreatedAt: now})
	a.writeAudit(w, r, "alert_rule.create", "alert_rule", id, nil, view)
	return writeJSON(w, http.StatusCreated, view)
}

func (a *API) deleteAlertRule(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.opts.Store.DeleteAlertRule(r.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound
		}
		return err
	}
	a.writeAudit(w, r, "alert_rule.delete", "alert_rule", id, nil, nil)
	return writeJSON(w, http.StatusOK, Deleted{Deleted: id})
}

// listAlerts answers the states, the newest transitions and the disabled
// channels. With limit or cursor, the transitions are one page of the
// history, with transitions_next_cursor when older ones follow; without
// either, the newest 100, as it always answered.
func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) error {
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	after, err := parseTransitionCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	ans := AlertsAnswer{}
	if ans.States, err = a.opts.Store.AlertStates(r.Context()); err != nil {
		return err
	}
	if !paged(r) {
		ans.Transitions, err = a.opts.Store.AlertTransitions(r.Context(), limit)
	} else if ans.Transitions, err = a.opts.Store.AlertTransitionPage(r.Context(), after, limit+1); err == nil && len(ans.Transitions) > limit {
		// One more than the page tells that older transitions follow it.
		ans.Transitions = ans.Transitions[:limit]
		ans.TransitionsNextCursor = transitionCursor(ans.Transitions[limit-1])
	}
	if err != nil {
		return err
	}
	if ans.DisabledChannels, err = a.opts.Store.DisabledAlertChannels(r.Context()); err != nil {
		return err
	}
	if ans.States == nil {
		ans.States = []store.AlertState{}
	}
	if ans.Transitions == nil {
		ans.Transitions = []store.AlertTransition{}
	}
	return writeJSON(w, http.StatusOK, ans)
}

// enableAlertChannel switches a channel that failed too often back on.
func (a *API) enableAlertChannel(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.opts.Store.EnableAlertChannel(r.Context(), id); err != nil {
		return err
	}
	a.writeAudit(w, r, "alert_channel.enable", "alert_channel", id, nil, nil)
	return writeJSON(w, http.StatusOK, map[string]string{"enabled": id})
}

// listCaptures searches the request log, scoped like the ledger.
func (a *API) listCaptures(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	uf := store.UsageFilter{OrgID: q.Get("org_id"), TeamID: q.Get("team_id"), AppID: q.Get("app_id"), KeyID: q.Get("key_id")}
	if err := a.ledgerScope(r, &uf); err != nil {
		return err
	}
	f := store.CaptureFilter{RequestID: q.Get("request_id"), KeyID: uf.KeyID, Model: q.Get("model"), Status: q.Get("status"),
		OrgID: uf.OrgID, TeamID: uf.TeamID, AppID: uf.AppID}
	var err error
	if f.From, err = parseTime(q.Get("from"), "from", time.Time{}); err != nil {
		return err
	}
	if f.To, err = parseTime(q.Get("to"), "to", time.Time{}); err != nil {
		return err
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return &httpError{http.StatusBadRequest, "invalid_limit", "limit must be an integer from 1 to 500."}
		}
		f.Limit = n
	}
	if f.After, err = parseCaptureCursor(q.Get("cursor")); err != nil {
		return err
	}
	// One more than the page tells whether older captures follow it.
	limit := cmp.Or(f.Limit, 50)
	f.Limit = limit + 1
	cs, err := a.opts.Store.SearchCaptures(r.Context(), f, time.Now())
	if err != nil {
		return err
	}
	out := page[store.Capture]{Object: "list", Data: cs}
	if len(cs) > limit {
		out.Data = cs[:limit]
		out.NextCursor = captureCursor(cs[limit-1])
	}
	return writeJSON(w, http.StatusOK, out)
}
