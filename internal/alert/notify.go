package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/store"
)

// PagerDutyURL is the PagerDuty Events API v2 endpoint.
const PagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// SignatureHeader carries a webhook body's signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
const SignatureHeader = "X-Sluice-Signature"

// NewClient returns the HTTP client for notifications. Unless
// allowPrivate, it refuses to connect to loopback, private, link-local
// and other internal addresses, checked on the address actually dialled
// (after DNS), like upstream providers.
func NewClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		d.Control = netguard.Control
	}
	tr := &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: 5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Sign returns the X-Sluice-Signature value of body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body, refusing one older than
// tolerance: what a receiver does (the recipe in docs/observability.md).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return false
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	return hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig))
}

// Event is the JSON body of a webhook notification.
type Event struct {
	// ID is stable per transition: a receiver may use it to drop a
	// repeated delivery.
	ID        string    `json:"id"`
	Rule      string    `json:"rule"`
	Kind      string    `json:"kind"`
	Series    string    `json:"series,omitempty"`
	State     string    `json:"state"` // firing or resolved
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	At        time.Time `json:"at"`
	Summary   string    `json:"summary"`
}

func eventOf(r config.AlertRule, d store.AlertDelivery) Event {
	verb := "is firing"
	if d.State == StateResolved {
		verb = "resolved"
	}
	series := ""
	if d.Series != "" {
		series = " (" + d.Series + ")"
	}
	return Event{ID: fmt.Sprintf("%s/%s/%d", d.Rule, d.Series, d.Seq), Rule: d.Rule, Kind: r.Kind, Series: d.Series,
		State: d.State, Value: d.Value, Threshold: r.Threshold, At: d.At,
		Summary: fmt.Sprintf("Sluice alert %s%s %s: %s %.4g (threshold %.4g)", d.Rule, series, verb, r.Kind, d.Value, r.Threshold)}
}

// request builds the HTTP request of one delivery to channel c.
func request(ctx context.Context, c config.AlertChannel, ev Event, now time.Time) (*http.Request, error) {
	var body []byte
	var err error
	url := c.URL
	switch c.Type {
	case config.ChannelSlack:
		emoji := ":rotating_light:"
		if ev.State == StateResolved {
			emoji = ":white_check_mark:"
		}
		body, err = json.Marshal(map[string]string{"text": emoji + " " + ev.Summary})
	case config.ChannelPagerDuty:
		if url == "" {
			url = PagerDutyURL
		}
		action := "trigger"
		if ev.State == StateResolved {
			action = "resolve"
		}
		pd := map[string]any{"routing_key": c.RoutingKey, "event_action": action, "dedup_key": "sluice/" + ev.Rule + "/" + ev.Series}
		if action == "trigger" {
			pd["payload"] = map[string]any{"summary": ev.Summary, "source": "sluice", "severity": "error", "timestamp": ev.At,
				"custom_details": ev}
		}
		body, err = json.Marshal(pd)
	default:
		body, err = json.Marshal(ev)
	}
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Sluice-Alerts/1")
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	if c.Type == config.ChannelWebhook && c.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(c.Secret, now, body))
	}
	return req, nil
}

// backoff is the pause after the n-th failed try: 5s doubling to 10m.
func backoff(n int) time.Duration {
	d := 5 * time.Second
	for range max(n-1, 0) {
		d *= 2
		if d >= 10*time.Minute {
			return 10 * time.Minute
		}
	}
	return d
}

// Deliver sends the deliveries due at now.
func (e *Evaluator) Deliver(ctx context.Context, now time.Time) error {
	rules := map[string]config.AlertRule{}
	for _, r := range e.o.Rules() {
		rules[r.Name] = r
	}
	disabled, err := e.o.Store.DisabledAlertChannels(ctx)
	if err != nil {
		return err
	}
	for {
		due, more, err := e.o.Store.ClaimAlertDeliveries(ctx, now, 2*time.Minute, 100)
		if err != nil {
			return err
		}
		for _, d := range due {
			e.deliver(ctx, now, rules, disabled, d)
		}
		if !more {
			return nil
		}
	}
}

func (e *Evaluator) deliver(ctx context.Context, now time.Time, rules map[string]config.AlertRule, disabled map[string]string, d store.AlertDelivery) {
	r, ok := rules[d.Rule]
	var ch config.AlertChannel
	if ok {
		i, err := strconv.Atoi(d.Channel[strings.LastIndexByte(d.Channel, ':')+1:])
		if err == nil && i >= 0 && i < len(r.Notify) && ChannelID(r.Name, i) == d.Channel {
			ch = r.Notify[i]
		} else {
			ok = false
		}
	}
	if !ok { // the rule or channel is gone: nothing to send
		_ = e.o.Store.FinishAlertDelivery(ctx, d, true, "rule or channel removed", now)
		return
	}
	if _, off := disabled[d.Channel]; off {
		_ = e.o.Store.FinishAlertDelivery(ctx, d, true, "channel disabled", now)
		return
	}
	err := e.send(ctx, ch, eventOf(r, d), now)
	if err == nil {
		if ferr := e.o.Store.FinishAlertDelivery(ctx, d, true, "", now); ferr != nil {
			e.o.Logger.Warn("alert delivery: record", "err", ferr)
		}
		return
	}
	attempts := d.Attempts + 1
	e.o.Logger.Warn("alert delivery failed", "rule", d.Rule, "channel", d.Channel, "try", attempts, "err", err)
	if ferr := e.o.Store.FinishAlertDelivery(ctx, d, false, err.Error(), now.Add(backoff(attempts))); ferr != nil {
		e.o.Logger.Warn("alert delivery: record", "err", ferr)
	}
	if attempts >= e.o.MaxAttempts {
		reason := fmt.Sprintf("%d failed deliveries; last: %v", attempts, err)
		after, _ := json.Marshal(map[string]string{"channel": d.Channel, "type": ch.Type, "reason": reason})
		if derr := e.o.Store.DisableAlertChannel(ctx, d.Channel, reason, now, store.AuditEntry{Time: now, Actor: "system:alerts",
			Action: "alert_channel.disable", ObjectType: "alert_channel", ObjectID: d.Channel, After: after}); derr != nil {
			e.o.Logger.Warn("alert channel: disable", "err", derr)
		}
		disabled[d.Channel] = reason
		e.o.Logger.Error("alert channel disabled after repeated failures", "channel", d.Channel, "tries", attempts)
	}
}

// send posts one notification; a non-2xx answer is an error.
func (e *Evaluator) send(ctx context.Context, c config.AlertChannel, ev Event, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := request(ctx, c, ev, now)
	if err != nil {
		return err
	}
	res, err := e.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", res.Status)
	}
	return nil
}
