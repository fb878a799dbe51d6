package proxy

import (
	"bytes"
	"net/http"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/route"
	"github.com/sluicehq/sluice/internal/runtime"
)

// selectRoute returns the first conditional route whose match fits, or the
// model's default route.
func selectRoute(r *http.Request, c *Call, fs *forwardSpec) *runtime.Route {
	for _, rt := range fs.model.Routes {
		if matches(rt.Match, r, c, fs) {
			return rt
		}
	}
	return fs.model.Default
}

func matches(m *config.Match, r *http.Request, c *Call, fs *forwardSpec) bool {
	for k, v := range m.Headers {
		got := r.Header.Get(k)
		if got == "" || (v != "*" && got != v) {
			return false
		}
	}
	if len(m.Keys) > 0 && (c.key == nil || !slices.Contains(m.Keys, c.key.Name)) {
		return false
	}
	if len(m.KeyTags) > 0 && (c.key == nil || !c.key.HasTag(m.KeyTags)) {
		return false
	}
	if m.MinMaxTokens > 0 && fs.maxTokens() < int64(m.MinMaxTokens) {
		return false
	}
	if m.MinInputTokens > 0 && len(fs.body)/4 < m.MinInputTokens {
		return false
	}
	if m.HasTools != nil && hasTools(fs.body) != *m.HasTools {
		return false
	}
	if m.HasImages != nil && hasImages(fs.body) != *m.HasImages {
		return false
	}
	return true
}

// maxTokens is the request's output limit, 0 when it sets none: read by the
// body's one peek when the model is in the body, else scanned for.
func (fs *forwardSpec) maxTokens() int64 {
	if fs.peek.model.Exists() {
		for _, v := range fs.peek.limits {
			if v.Exists() {
				return v.Int()
			}
		}
		return 0
	}
	return requestedMaxTokens(fs.body)
}

func requestedMaxTokens(body []byte) int64 {
	// Gemini accepts both spellings of generationConfig and of its fields
	// (the ingress refuses a body that uses two of them).
	for _, v := range gjson.GetManyBytes(body, "max_tokens", "max_completion_tokens", "max_output_tokens",
		"generationConfig.maxOutputTokens", "generationConfig.max_output_tokens",
		"generation_config.maxOutputTokens", "generation_config.max_output_tokens") {
		if v.Exists() {
			return v.Int()
		}
	}
	return 0
}

func hasTools(body []byte) bool {
	t := gjson.GetBytes(body, "tools")
	return t.IsArray() && len(t.Array()) > 0
}

var imageMarkers = [][]byte{[]byte(`"image_url"`), []byte(`"input_image"`), []byte(`"inlineData"`), []byte(`"inline_data"`), []byte(`"type":"image"`), []byte(`"type": "image"`)}

func hasImages(body []byte) bool {
	for _, m := range imageMarkers {
		if bytes.Contains(body, m) {
			return true
		}
	}
	return false
}

// stickyValue is what pins a canary assignment: the key, the end user, or
// a session header, as the route says.
// Only a canary route reads it: for the others it is "", which spares a
// string per request (and the body's user lookup).
func stickyValue(rt *runtime.Route, r *http.Request, c *Call, fs *forwardSpec) string {
	if rt.Router.Policy() != route.Canary {
		return ""
	}
	switch {
	case rt.Sticky == "user":
		for _, v := range gjson.GetManyBytes(fs.body, "user", "metadata.user_id") {
			if v.Str != "" {
				return "u:" + v.Str
			}
		}
	case strings.HasPrefix(rt.Sticky, "header:"):
		if v := r.Header.Get(rt.Sticky[7:]); v != "" {
			return "h:" + v
		}
	}
	if c.key != nil {
		return "k:" + c.key.ID
	}
	return ""
}
