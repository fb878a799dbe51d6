package admin

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/netguard"
	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
)

// An organisation's notification webhook: the subscriber notices of its
// applications (a product version's deprecation, the lead times before a
// sunset or a subscription's end) are posted there, signed with its secret
// (X-Sluice-Signature, as alert webhooks are), instead of to the alerts
// webhook. Only the organisation's owner (orgs.write there) reads and
// changes it: its URL may carry a token. A webhook declared in the
// configuration file's organisation is read-only here.

// OrgWebhookAAD is the additional data that seals an organisation
// webhook's secret: the serving node opens it with the same.
func OrgWebhookAAD(orgID string) secrets.AAD {
	return secrets.AAD{Tenant: Tenant, Object: orgID, Field: "notify_webhook_secret"}
}

// OrgWebhookInput sets an organisation's notification webhook.
type OrgWebhookInput struct {
	URL string `json:"url" doc:"http or https; loopback and private networks need the server flag --allow-private-upstreams."`
	// Secret is write-only: absent keeps the stored one, "" removes it.
	Secret *string `json:"secret,omitempty" doc:"Signs each body (HMAC-SHA256, X-Sluice-Signature). Absent keeps the stored one; empty removes it. Never shown."`
}

// OrgWebhookView is an organisation's notification webhook as the API shows it.
type OrgWebhookView struct {
	Object      string    `json:"object" enum:"org_notify_webhook"`
	OrgID       string    `json:"org_id"`
	URL         string    `json:"url"`
	HasSecret   bool      `json:"has_secret"`
	SecretLast4 string    `json:"secret_last4,omitempty"`
	Source      string    `json:"source" enum:"api,config"`
	ReadOnly    bool      `json:"read_only"`
	UpdatedAt   time.Time `json:"updated_at"`
	Rev         int64     `json:"rev"`
}

func orgWebhookView(h store.OrgWebhook) OrgWebhookView {
	return OrgWebhookView{Object: "org_notify_webhook", OrgID: h.OrgID, URL: h.URL, HasSecret: h.SecretCiphertext != "",
		SecretLast4: h.SecretLast4, Source: h.Source, ReadOnly: h.Source == "config", UpdatedAt: h.UpdatedAt, Rev: h.Rev}
}

// AuditWebhookURL is a webhook URL as the audit log records it: its
// scheme and host only. The log is read by auditors, who may not read the
// webhook, and a path, query or user info often carries a token.
func AuditWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(redacted)"
	}
	out := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		out += "/…"
	}
	return out
}

func auditWebhookView(h store.OrgWebhook) OrgWebhookView {
	v := orgWebhookView(h)
	v.URL = AuditWebhookURL(h.URL)
	return v
}

// loadOrgForWebhook reads the organisation named by the path (its id or
// name) and decides orgs.write there.
func (a *API) loadOrgForWebhook(r *http.Request) (store.Unit, error) {
	id := r.PathValue("id")
	if u := a.opts.Snapshots.Load().UnitByPath(id); u != nil && u.Kind == store.KindOrg {
		id = u.ID
	}
	return a.loadUnit(r, orgKind, id, orgKind.write)
}

func (a *API) getOrgWebhook(w http.ResponseWriter, r *http.Request) error {
	org, err := a.loadOrgForWebhook(r)
	if err != nil {
		return err
	}
	h, err := a.opts.Store.GetOrgWebhook(r.Context(), org.ID)
	if err != nil {
		return storeError(err, "webhook")
	}
	w.Header().Set("ETag", etag(h.Rev))
	return writeJSON(w, http.StatusOK, orgWebhookView(h))
}

// CheckWebhookURL checks a notification webhook's URL: http or https with
// a host, and, unless allowPrivate, not an address of a loopback, private
// or link-local network (the dial is checked again, after DNS).
func CheckWebhookURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2048 {
		return &httpError{http.StatusBadRequest, "invalid_url", "url must be an http or https URL of at most 2048 characters."}
	}
	if !allowPrivate {
		if err := netguard.CheckURL(raw); err != nil {
			return &httpError{http.StatusBadRequest, "invalid_url", "url is not allowed: " + err.Error() +
				". Loopback and private networks need the server flag --allow-private-upstreams."}
		}
	}
	return nil
}

func (a *API) putOrgWebhook(w http.ResponseWriter, r *http.Request) error {
	org, err := a.loadOrgForWebhook(r)
	if err != nil {
		return err
	}
	var in OrgWebhookInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	old, err := a.opts.Store.GetOrgWebhook(r.Context(), org.ID)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	case rev > 0 && rev != old.Rev:
		return storeError(store.ErrVersionMismatch, "webhook")
	case old.Source == "config":
		return &httpError{http.StatusConflict, "read_only", "This organisation's webhook is declared in the configuration file; change it there."}
	}
	if err := CheckWebhookURL(in.URL, a.opts.AllowPrivateUpstreams); err != nil {
		return err
	}
	if in.Secret != nil && len(*in.Secret) > 512 {
		return &httpError{http.StatusBadRequest, "invalid_body", "secret: at most 512 characters."}
	}
	h := store.OrgWebhook{OrgID: org.ID, URL: in.URL, SecretCiphertext: old.SecretCiphertext, SecretLast4: old.SecretLast4, Source: "api"}
	if in.Secret != nil {
		h.SecretCiphertext, h.SecretLast4 = "", ""
		if *in.Secret != "" {
			if a.opts.Secrets == nil {
				return &httpError{http.StatusServiceUnavailable, "no_keyring", "This server cannot store secrets."}
			}
			if h.SecretCiphertext, err = a.opts.Secrets.Seal(r.Context(), *in.Secret, OrgWebhookAAD(org.ID)); err != nil {
				return err
			}
			h.SecretLast4 = last4(*in.Secret)
		}
	}
	var before any
	if old.OrgID != "" {
		before = auditWebhookView(old)
	}
	entry := a.auditFor(w, r, "org.notify_webhook.set", "org", org.ID, org.ID, before,
		map[string]any{"url": AuditWebhookURL(h.URL), "has_secret": h.SecretCiphertext != ""})
	newRev, err := a.opts.Store.PutOrgWebhook(r.Context(), h, rev, &entry)
	if err != nil {
		return storeError(err, "webhook")
	}
	h.Rev, h.UpdatedAt = newRev, time.Now().UTC()
	w.Header().Set("ETag", etag(newRev))
	return writeJSON(w, http.StatusOK, orgWebhookView(h))
}

func (a *API) deleteOrgWebhook(w http.ResponseWriter, r *http.Request) error {
	org, err := a.loadOrgForWebhook(r)
	if err != nil {
		return err
	}
	rev, err := ifMatch(r)
	if err != nil {
		return err
	}
	old, err := a.opts.Store.GetOrgWebhook(r.Context(), org.ID)
	if rev > 0 && (errors.Is(err, store.ErrNotFound) || (err == nil && rev != old.Rev)) {
		return storeError(store.ErrVersionMismatch, "webhook")
	}
	if err != nil {
		return storeError(err, "webhook")
	}
	if old.Source == "config" {
		return &httpError{http.StatusConflict, "read_only", "This organisation's webhook is declared in the configuration file; change it there."}
	}
	entry := a.auditFor(w, r, "org.notify_webhook.delete", "org", org.ID, org.ID, auditWebhookView(old), nil)
	if err := a.opts.Store.DeleteOrgWebhook(r.Context(), org.ID, &entry); err != nil {
		return storeError(err, "webhook")
	}
	return writeJSON(w, http.StatusOK, Deleted{Deleted: org.ID})
}
