package fakeserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/fakeprovider/reqlog"
)

func TestHeaders(t *testing.T) {
	tests := []struct {
		name    string
		h       map[string]string
		status  int
		hang    int
		wantErr string
	}{
		{name: "empty"},
		{name: "status and hang", h: map[string]string{"S": "429", "H": "After-Headers"}, status: 429, hang: HangAfterHeaders},
		{name: "hang true", h: map[string]string{"H": "true"}, hang: HangBeforeHeaders},
		{name: "status out of range", h: map[string]string{"S": "200"}, wantErr: "want 400..599"},
		{name: "first error wins", h: map[string]string{"S": "x", "H": "bad"}, wantErr: `invalid S header "x"`},
		{name: "bad hang", h: map[string]string{"H": "bad"}, wantErr: `invalid H header "bad"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.h {
				h.Set(k, v)
			}
			p := NewHeaders(h)
			status, hang := p.Status("S"), p.Hang("H")
			err := p.Err()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || status != tc.status || hang != tc.hang {
				t.Fatalf("got (%d, %d, %v), want (%d, %d, nil)", status, hang, err, tc.status, tc.hang)
			}
		})
	}
}

func TestOptInt(t *testing.T) {
	p := NewHeaders(http.Header{"N": {"7"}})
	if n := p.OptInt("N"); n == nil || *n != 7 {
		t.Fatalf("OptInt(N) = %v, want 7", n)
	}
	if n := p.OptInt("Missing"); n != nil {
		t.Fatalf("OptInt(Missing) = %v, want nil", *n)
	}
}

func TestCloseReleasesHang(t *testing.T) {
	var b Base
	done := make(chan struct{})
	go func() {
		b.Hang(context.Background())
		close(done)
	}()
	b.Close()
	b.Close() // twice is fine
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Hang did not return after Close")
	}
	if b.Sleep(context.Background(), time.Hour) {
		t.Fatal("Sleep after Close reported true")
	}
}

func TestRecord(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		close  bool
		early  error
		status int
	}{
		{name: "ok", body: "1234", status: 200},
		{name: "too large", body: "12345", early: ErrTooLarge, status: 413},
		{name: "closed", body: "1", close: true, early: ErrClosed, status: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b Base
			if tc.close {
				b.Close()
			}
			var gotEarly error
			rr := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/x", strings.NewReader(tc.body))
			b.Record(rr, req, 4, time.Now, func(w http.ResponseWriter, r *http.Request, rec *reqlog.Request, early error) {
				gotEarly = early
				if body, _ := io.ReadAll(r.Body); string(body) != tc.body || reqlog.Record(r) != rec {
					t.Errorf("body %q / record not passed on", body)
				}
				w.WriteHeader(tc.status)
				SetEvents(w, 3)
				MarkComplete(w)
			})
			if !errors.Is(gotEarly, tc.early) || (tc.early == nil) != (gotEarly == nil) {
				t.Fatalf("early = %v, want %v", gotEarly, tc.early)
			}
			last, ok := b.Last()
			if !ok || last.Status != tc.status || last.Events != 3 || last.InFlight() || last.Cancelled {
				t.Fatalf("log = %+v, want status %d, 3 events, finished", last, tc.status)
			}
		})
	}
}
