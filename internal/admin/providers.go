package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/internal/netguard"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/runtime"
	"github.com/sluicehq/sluice/internal/secrets"
	"github.com/sluicehq/sluice/internal/store"
)

// Providers created through the admin API are stored with their API key
// sealed (see internal/secrets); responses and audit rows show only the
// key's last four characters. Providers declared in the configuration file
// are listed but read-only here, and a stored provider may not take the
// name of one. Models in the file may target stored providers by name.

// Tenant is the tenant of every object until Sluice has tenants; it is part
// of each sealed secret's additional data.
const Tenant = "default"

// apiKeyField names the sealed column in the additional data.
const apiKeyField = "api_key"

// storedTypes are the provider types the admin API can create: those whose
// one credential is an API key (Bedrock with a Bedrock API key).
var storedTypes = []string{config.TypeOpenAI, config.TypeAzureOpenAI, config.TypeAnthropic, config.TypeGemini, config.TypeBedrock}

// credentialHeaders may not be set through headers: a credential belongs
// in api_key, where it is sealed and never shown.
var credentialHeaders = []string{"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"}

// ProviderView is a stored provider as the API shows it: never the key.
type ProviderView struct {
	ID          string                 `json:"id"`
	Name        string                 `json:"name"`
	Type        string                 `json:"type"`
	BaseURL     string                 `json:"base_url"`
	APIVersion  string                 `json:"api_version,omitempty"`
	Region      string                 `json:"region,omitempty"`
	Headers     map[string]string      `json:"headers,omitempty"`
	Timeouts    store.ProviderTimeouts `json:"timeouts,omitzero"`
	RetryOn     []int                  `json:"retry_on,omitempty"`
	HasAPIKey   bool                   `json:"has_api_key"`
	APIKeyLast4 string                 `json:"api_key_last4"`
	Source      string                 `json:"source"`
	CreatedAt   time.Time              `json:"created_at"`
	UpdatedAt   time.Time              `json:"updated_at"`
	Version     int64                  `json:"version"`
}

// fileView is a provider of the configuration file: only its name, since
// its settings (and credentials) live in the file.
type fileView struct {
	Name     string `json:"name"`
	Source   string `json:"source"`
	ReadOnly bool   `json:"read_only"`
}

func fileViewOf(name string) fileView { return fileView{Name: name, Source: "config", ReadOnly: true} }

func viewOf(p store.ProviderRecord) ProviderView {
	return ProviderView{ID: p.ID, Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIVersion: p.Settings.APIVersion,
		Region: p.Settings.Region, Headers: p.Settings.Headers, Timeouts: p.Settings.Timeouts, RetryOn: p.Settings.RetryOn,
		HasAPIKey: p.APIKeyCiphertext != "", APIKeyLast4: p.APIKeyLast4, Source: "api",
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Version: p.Version}
}

// auditView is a provider as an audit row records it: the key as "…last4".
func auditView(p store.ProviderRecord) json.RawMessage {
	v := struct {
		ProviderView
		APIKey string `json:"api_key,omitempty"`
	}{ProviderView: viewOf(p)}
	if p.APIKeyCiphertext != "" {
		v.APIKey = "…" + p.APIKeyLast4
	}
	b, _ := json.Marshal(v)
	return b
}

// last4 is the part of a key shown for recognition: its last four
// characters, or nothing when the key is too short to spare them.
func last4(key string) string {
	if len(key) < 12 {
		return ""
	}
	return key[len(key)-4:]
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch returns the version named by If-Match: 0 when the header is
// absent or "*", or a 412 for a value that is no version of ours.
func ifMatch(r *http.Request) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	if strings.Contains(h, ",") || strings.HasPrefix(h, "W/") {
		return 0, &httpError{http.StatusPreconditionFailed, "version_mismatch", "If-Match must be the one strong ETag from the last read."}
	}
	v, err := strconv.ParseInt(strings.Trim(h, `"`), 10, 64)
	if err != nil || v < 1 {
		return 0, &httpError{http.StatusPreconditionFailed, "version_mismatch", "If-Match does not match the provider's ETag."}
	}
	return v, nil
}

func newProviderID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "prv_" + hex.EncodeToString(b)
}

// ProviderInput documents the body of POST and PATCH /admin/v1/providers
// (the handlers decode the fields present, see decodePatch).
type ProviderInput struct {
	Name       string                 `json:"name,omitempty"`
	Type       string                 `json:"type,omitempty" enum:"openai,azure-openai,anthropic,gemini,bedrock"`
	BaseURL    string                 `json:"base_url,omitempty"`
	APIKey     *string                `json:"api_key,omitempty" doc:"Sealed at rest; shown only as its last four characters. null removes it."`
	APIVersion string                 `json:"api_version,omitempty"`
	Region     string                 `json:"region,omitempty"`
	Headers    map[string]string      `json:"headers,omitempty" doc:"Extra headers; never credentials."`
	Timeouts   store.ProviderTimeouts `json:"timeouts,omitzero"`
	RetryOn    []int                  `json:"retry_on,omitempty"`
}

// providerFields are the writable fields, and the only ones accepted: the
// id, version, timestamps and api_key_last4 are the server's.
var providerFields = []string{"name", "type", "base_url", "api_key", "api_version", "region", "headers", "timeouts", "retry_on"}

// patch is a decoded request body: the fields present, each value decoded.
type patch struct {
	fields map[string]json.RawMessage
	apiKey *string // set when api_key is present; "" clears it
}

func decodePatch(w http.ResponseWriter, r *http.Request) (*patch, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, &httpError{http.StatusBadRequest, "invalid_body", "The body must be a JSON object with the fields " + strings.Join(providerFields, ", ") + "."}
	}
	for k := range fields {
		if !slices.Contains(providerFields, k) {
			return nil, &httpError{http.StatusBadRequest, "unknown_field", fmt.Sprintf("Field %q cannot be written; the writable fields are %s.", k, strings.Join(providerFields, ", "))}
		}
	}
	p := &patch{fields: fields}
	if raw, ok := fields["api_key"]; ok {
		var k *string
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, &httpError{http.StatusBadRequest, "invalid_api_key", "api_key must be a string, or null to remove it."}
		}
		if k == nil {
			k = new(string)
		}
		p.apiKey = k
	}
	return p, nil
}

// apply writes the patch's non-secret fields into rec.
func (p *patch) apply(rec *store.ProviderRecord) error {
	s := &rec.Settings
	for name, raw := range p.fields {
		var err error
		null := string(raw) == "null"
		switch name {
		case "name":
			err = json.Unmarshal(raw, &rec.Name)
		case "type":
			err = json.Unmarshal(raw, &rec.Type)
		case "base_url":
			rec.BaseURL = ""
			err = json.Unmarshal(raw, &rec.BaseURL)
		case "api_version":
			s.APIVersion = ""
			err = json.Unmarshal(raw, &s.APIVersion)
		case "region":
			s.Region = ""
			err = json.Unmarshal(raw, &s.Region)
		case "headers":
			s.Headers = nil
			err = json.Unmarshal(raw, &s.Headers)
		case "timeouts":
			s.Timeouts = store.ProviderTimeouts{}
			if !null {
				dec := json.NewDecoder(strings.NewReader(string(raw)))
				dec.DisallowUnknownFields()
				err = dec.Decode(&s.Timeouts)
			}
		case "retry_on":
			s.RetryOn = nil
			err = json.Unmarshal(raw, &s.RetryOn)
		}
		if err != nil {
			return &httpError{http.StatusBadRequest, "invalid_" + name, fmt.Sprintf("%s has the wrong type.", name)}
		}
		if null && (name == "name" || name == "type") {
			return &httpError{http.StatusBadRequest, "invalid_" + name, name + " cannot be null."}
		}
	}
	if len(s.Headers) == 0 {
		s.Headers = nil
	}
	return nil
}

// toConfig is the provider as the runtime compiles it.
func toConfig(p store.ProviderRecord, apiKey string) (config.Provider, error) {
	c := config.Provider{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIKey: apiKey, Headers: p.Settings.Headers,
		RetryOn: p.Settings.RetryOn, APIVersion: p.Settings.APIVersion, Region: p.Settings.Region}
	for _, d := range []struct {
		name string
		s    string
		to   *config.Duration
	}{{"connect", p.Settings.Timeouts.Connect, &c.Timeouts.Connect}, {"first_byte", p.Settings.Timeouts.FirstByte, &c.Timeouts.FirstByte},
		{"stall", p.Settings.Timeouts.Stall, &c.Timeouts.Stall}, {"total", p.Settings.Timeouts.Total, &c.Timeouts.Total}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return c, fmt.Errorf("timeouts.%s: %q is not a duration such as 30s or 10m", d.name, d.s)
		}
		*d.to = config.Duration(v)
	}
	return c, nil
}

// validate adds the SSRF guard to the checks below: an API-supplied base
// URL may not point at loopback, private, link-local or metadata addresses
// unless the operator allowed it (--allow-private-upstreams).
func (a *API) validate(p store.ProviderRecord, newKey *string, hasKey bool) error {
	if err := validate(p, newKey, hasKey); err != nil {
		return err
	}
	if !a.opts.AllowPrivateUpstreams && p.BaseURL != "" {
		if err := netguard.CheckURL(p.BaseURL); err != nil {
			return &httpError{http.StatusBadRequest, "invalid_base_url", "base_url is not allowed: " + err.Error() +
				". Loopback and private networks need the server flag --allow-private-upstreams."}
		}
	}
	return nil
}

// validate checks a provider as the configuration file's validation would,
// plus the admin API's own rules. hasKey says whether it will have a key.
func validate(p store.ProviderRecord, newKey *string, hasKey bool) error {
	bad := func(field, msg string) error {
		return &httpError{http.StatusBadRequest, "invalid_provider", field + ": " + msg}
	}
	if !slices.Contains(storedTypes, p.Type) {
		return bad("type", "must be one of "+strings.Join(storedTypes, ", "))
	}
	if p.Type == config.TypeBedrock && !hasKey {
		return bad("api_key", "required for type bedrock (a Bedrock API key; AWS access keys are supported only in the configuration file)")
	}
	if newKey != nil && len(*newKey) > 4096 {
		return bad("api_key", "at most 4096 characters")
	}
	for h := range p.Settings.Headers {
		if slices.Contains(credentialHeaders, strings.ToLower(h)) {
			return bad("headers."+h, "credentials go in api_key, where they are encrypted and never shown")
		}
	}
	for _, c := range p.Settings.RetryOn {
		if c < 400 || c > 599 {
			return bad("retry_on", "must be HTTP error statuses (400-599)")
		}
	}
	key := ""
	switch {
	case newKey != nil:
		key = *newKey
	case hasKey:
		key = "sealed" // stands in for the stored key, already checked when it was set
	}
	cp, err := toConfig(p, key)
	if err != nil {
		return bad("timeouts", err.Error())
	}
	if err := (&config.File{Version: config.CurrentVersion, Providers: []config.Provider{cp}}).Validate(); err != nil {
		var ps config.Problems
		if errors.As(err, &ps) && len(ps) > 0 {
			msgs := make([]string, len(ps))
			for i, pr := range ps {
				msgs[i] = strings.TrimPrefix(pr.Path, "providers[0].") + ": " + pr.Msg
			}
			return &httpError{http.StatusBadRequest, "invalid_provider", strings.Join(msgs, "; ")}
		}
		return err
	}
	return nil
}

// modelsUsing lists the models of snap whose targets name provider.
func modelsUsing(snap *runtime.Snapshot, provider string) []string {
	var out []string
	for _, name := range snap.ModelNames {
		m := snap.Models[name]
		routes := append([]*runtime.Route{m.Default}, m.Routes...)
		found := false
		for _, r := range routes {
			for _, t := range r.Targets {
				if t.Provider != nil && t.Provider.Name() == provider {
					found = true
				}
			}
		}
		if found {
			out = append(out, name)
		}
	}
	return out
}

func (a *API) sealKey(ctx context.Context, id, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	if a.opts.Secrets == nil {
		return "", errors.New("no keyring: the admin API cannot store provider keys")
	}
	return a.opts.Secrets.Seal(ctx, key, secrets.AAD{Tenant: Tenant, Object: id, Field: apiKeyField})
}

// findProvider returns the stored provider named by id or name, a 409 for
// a provider of the configuration file, or a 404.
func (a *API) findProvider(ctx context.Context, idOrName string) (store.ProviderRecord, error) {
	p, err := a.opts.Store.GetProvider(ctx, idOrName)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return p, err
	}
	all, err := a.opts.Store.ListProviders(ctx)
	if err != nil {
		return p, err
	}
	for _, p := range all {
		if p.Name == idOrName {
			return p, nil
		}
	}
	if a.opts.Snapshots.Load().Providers[idOrName] == "config" {
		return p, readOnly(idOrName)
	}
	return p, &httpError{http.StatusNotFound, "not_found", "No such provider."}
}

func readOnly(name string) error {
	return &httpError{http.StatusConflict, "read_only", fmt.Sprintf("Provider %q is declared in the configuration file; change it there.", name)}
}

func (a *API) listProviders(w http.ResponseWriter, r *http.Request) error {
	stored, err := a.opts.Store.ListProviders(r.Context())
	if err != nil {
		return err
	}
	out := make([]any, 0, len(stored))
	for _, p := range stored {
		out = append(out, viewOf(p))
	}
	snap := a.opts.Snapshots.Load()
	var fromFile []string
	for name, src := range snap.Providers {
		if src == "config" {
			fromFile = append(fromFile, name)
		}
	}
	slices.Sort(fromFile)
	for _, name := range fromFile {
		out = append(out, fileViewOf(name))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out})
}

func (a *API) getProvider(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("id")
	p, err := a.findProvider(r.Context(), name)
	var he *httpError
	if errors.As(err, &he) && he.code == "read_only" {
		return writeJSON(w, http.StatusOK, fileViewOf(name))
	}
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(p.Version))
	return writeJSON(w, http.StatusOK, viewOf(p))
}

func (a *API) createProvider(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	body, err := decodePatch(w, r)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	p := store.ProviderRecord{ID: newProviderID(), CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := body.apply(&p); err != nil {
		return err
	}
	if _, ok := body.fields["name"]; !ok {
		return &httpError{http.StatusBadRequest, "invalid_provider", "name is required."}
	}
	key := ""
	if body.apiKey != nil {
		key = *body.apiKey
	}
	if err := a.validate(p, body.apiKey, key != ""); err != nil {
		return err
	}
	if a.opts.Snapshots.Load().Providers[p.Name] == "config" {
		return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("Provider %q is declared in the configuration file.", p.Name)}
	}
	if p.APIKeyCiphertext, err = a.sealKey(ctx, p.ID, key); err != nil {
		return err
	}
	p.APIKeyLast4 = last4(key)
	entry := auditEntry(w, r, "provider.create", "provider", p.ID, nil, auditView(p))
	if err := a.opts.Store.CreateProvider(ctx, p, entry); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("A provider named %q already exists.", p.Name)}
		}
		return err
	}
	if err := a.opts.Control.RefreshKeys(ctx); err != nil {
		return fmt.Errorf("provider %s stored, but the configuration did not compile: %w", p.ID, err)
	}
	w.Header().Set("ETag", etag(p.Version))
	w.Header().Set("Location", "/admin/v1/providers/"+p.ID)
	return writeJSON(w, http.StatusCreated, viewOf(p))
}

func (a *API) updateProvider(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	body, err := decodePatch(w, r)
	if err != nil {
		return err
	}
	old, err := a.findProvider(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if want != 0 && want != old.Version {
		return &httpError{http.StatusPreconditionFailed, "version_mismatch", fmt.Sprintf("The provider changed since it was read: its ETag is now %s.", etag(old.Version))}
	}
	p := old
	p.Settings.Headers = maps.Clone(old.Settings.Headers)
	if err := body.apply(&p); err != nil {
		return err
	}
	hasKey := p.APIKeyCiphertext != ""
	if body.apiKey != nil {
		hasKey = *body.apiKey != ""
	}
	if err := a.validate(p, body.apiKey, hasKey); err != nil {
		return err
	}
	snap := a.opts.Snapshots.Load()
	if p.Name != old.Name {
		if snap.Providers[p.Name] == "config" {
			return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("Provider %q is declared in the configuration file.", p.Name)}
		}
		if used := modelsUsing(snap, old.Name); len(used) > 0 {
			return inUse(old.Name, used)
		}
	}
	if body.apiKey != nil {
		if p.APIKeyCiphertext, err = a.sealKey(ctx, p.ID, *body.apiKey); err != nil {
			return err
		}
		p.APIKeyLast4 = last4(*body.apiKey)
	}
	p.UpdatedAt = time.Now().UTC()
	p.Version = old.Version + 1
	entry := auditEntry(w, r, "provider.update", "provider", p.ID, auditView(old), auditView(p))
	switch err := a.opts.Store.UpdateProvider(ctx, p, old.Version, entry); {
	case errors.Is(err, store.ErrVersionMismatch):
		return &httpError{http.StatusPreconditionFailed, "version_mismatch", "The provider changed since it was read; read it again."}
	case errors.Is(err, store.ErrConflict):
		return &httpError{http.StatusConflict, "name_taken", fmt.Sprintf("A provider named %q already exists.", p.Name)}
	case errors.Is(err, store.ErrNotFound):
		return &httpError{http.StatusNotFound, "not_found", "No such provider."}
	case err != nil:
		return err
	}
	if err := a.opts.Control.RefreshKeys(ctx); err != nil {
		return fmt.Errorf("provider %s updated, but the configuration did not compile: %w", p.ID, err)
	}
	w.Header().Set("ETag", etag(p.Version))
	return writeJSON(w, http.StatusOK, viewOf(p))
}

func (a *API) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	want, err := ifMatch(r)
	if err != nil {
		return err
	}
	old, err := a.findProvider(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if want != 0 && want != old.Version {
		return &httpError{http.StatusPreconditionFailed, "version_mismatch", fmt.Sprintf("The provider changed since it was read: its ETag is now %s.", etag(old.Version))}
	}
	if used := modelsUsing(a.opts.Snapshots.Load(), old.Name); len(used) > 0 {
		return inUse(old.Name, used)
	}
	entry := auditEntry(w, r, "provider.delete", "provider", old.ID, auditView(old), nil)
	switch err := a.opts.Store.DeleteProvider(ctx, old.ID, old.Version, entry); {
	case errors.Is(err, store.ErrVersionMismatch):
		return &httpError{http.StatusPreconditionFailed, "version_mismatch", "The provider changed since it was read; read it again."}
	case errors.Is(err, store.ErrNotFound):
		return &httpError{http.StatusNotFound, "not_found", "No such provider."}
	case err != nil:
		return err
	}
	if err := a.opts.Control.RefreshKeys(ctx); err != nil {
		return fmt.Errorf("provider %s deleted, but the configuration did not compile: %w", old.ID, err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": old.ID})
}

func inUse(name string, models []string) error {
	return &httpError{http.StatusConflict, "in_use", fmt.Sprintf("Provider %q is a target of model(s) %s in the configuration file; change those first.",
		name, strings.Join(models, ", "))}
}

// StoredProviders loads the providers stored through the admin API and
// opens their keys, for runtime.Inputs. A key that does not open (a
// different KEK, an altered or moved ciphertext) fails the whole load.
func StoredProviders(ctx context.Context, st *store.Store, kr *secrets.Keyring) ([]config.Provider, error) {
	recs, err := st.ListProviders(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]config.Provider, 0, len(recs))
	var errs []error
	for _, p := range recs {
		key := ""
		if p.APIKeyCiphertext != "" {
			if kr == nil {
				errs = append(errs, fmt.Errorf("stored provider %q: no keyring to open its API key", p.Name))
				continue
			}
			if key, err = kr.Open(ctx, p.APIKeyCiphertext, secrets.AAD{Tenant: Tenant, Object: p.ID, Field: apiKeyField}); err != nil {
				errs = append(errs, fmt.Errorf("stored provider %q: API key: %w", p.Name, err))
				continue
			}
		}
		cp, err := toConfig(p, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("stored provider %q: %w", p.Name, err))
			continue
		}
		out = append(out, cp)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// StoredProviderNames names the providers stored through the admin API,
// which the configuration file's models may target.
func StoredProviderNames(ctx context.Context, st *store.Store) ([]string, error) {
	recs, err := st.ListProviders(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(recs))
	for i, p := range recs {
		names[i] = p.Name
	}
	return names, nil
}
