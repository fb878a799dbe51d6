package app

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/netguard"
)

func TestUpstreamClients(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	cases := []struct {
		name    string
		client  *http.Client
		path    string
		status  int   // 0: the request must fail
		wantErr error // the error then
	}{
		{name: "upstream client reaches loopback", client: upstreamClient(), path: "/", status: 200},
		{name: "upstream client does not follow redirects", client: upstreamClient(), path: "/redirect", status: http.StatusFound},
		{name: "guarded client refuses loopback", client: guardedClient(), path: "/", wantErr: netguard.ErrBlocked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.client.CloseIdleConnections()
			resp, err := tc.client.Post(srv.URL+tc.path, "application/json", strings.NewReader("{}"))
			if tc.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d, want the dial refused", resp.StatusCode)
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
