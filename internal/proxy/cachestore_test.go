package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// endWatcher is a ResponseWriter that, when the bytes ending a stream are
// written, runs then (the client asking again the moment its stream ends).
type endWatcher struct {
	header http.Header
	body   strings.Builder
	end    string
	then   func()
	ran    bool
}

func (w *endWatcher) Header() http.Header { return w.header }
func (w *endWatcher) WriteHeader(int)     {}
func (w *endWatcher) Flush()              {}
func (w *endWatcher) Write(p []byte) (int, error) {
	w.body.Write(p)
	if !w.ran && strings.Contains(w.body.String(), w.end) {
		w.ran = true
		w.then()
	}
	return len(p), nil
}

// A streamed cache miss is stored before the bytes that end it reach the
// client: the same request sent as soon as the terminal event arrives is a
// hit. (Storing after the last flush let a fast client miss.)
func TestStreamedMissStoredBeforeItsEnd(t *testing.T) {
	up := &textUpstream{reply: "Write to alice@example.org today."}
	e := guardEnv(t, up, nil)
	in := guardIngresses()[0] // OpenAI chat
	path, body := in.req("gm", "what now, "+card+"?", true)
	ask := func(w http.ResponseWriter) {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+clientKey)
		e.server.Config.Handler.ServeHTTP(w, r)
	}
	var again *httptest.ResponseRecorder
	w := &endWatcher{header: http.Header{}, end: in.end, then: func() {
		again = httptest.NewRecorder()
		ask(again)
	}}
	ask(w)
	if !w.ran {
		t.Fatalf("the stream never ended: %s", w.body.String())
	}
	if got := w.header.Get("X-Sluice-Cache"); got != "miss" {
		t.Fatalf("first answer: cache %q", got)
	}
	if got := again.Header().Get("X-Sluice-Cache"); got != "hit" || up.count() != 1 {
		t.Fatalf("asked again at the stream's end: cache %q, upstream calls %d: %s", got, up.count(), again.Body.String())
	}
}
