package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeGateway answers prompt calls with "Echo: <text>" (version 2 adds
// "!"), the ledger with a cost of 7 micro-dollars per request, and
// records the test runs stored.
func fakeGateway(t *testing.T) (*httptest.Server, *[]map[string]any) {
	var mu sync.Mutex
	var runs []map[string]any
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/prompts/summarize@"):
			if r.Header.Get("Authorization") != "Bearer gw-key" {
				w.WriteHeader(401)
				return
			}
			var in struct{ Variables map[string]any }
			_ = json.NewDecoder(r.Body).Decode(&in)
			n++
			w.Header().Set("X-Request-Id", fmt.Sprintf("req_%d", n))
			text, ok := in.Variables["text"].(string)
			if !ok {
				w.WriteHeader(400)
				fmt.Fprint(w, `{"error":{"message":"Invalid prompt variables: variable /text: is required"}}`)
				return
			}
			if strings.HasSuffix(r.URL.Path, "@2") {
				text += "!"
			}
			b, _ := json.Marshal(map[string]any{"object": "chat.completion", "choices": []any{map[string]any{"message": map[string]any{"content": "Echo: " + text}}},
				"usage": map[string]any{"prompt_tokens": 3, "completion_tokens": 2}})
			_, _ = w.Write(b)
		case r.URL.Path == "/admin/v1/prompts/summarize/versions/3":
			fmt.Fprint(w, `{"version":3,"output":{"type":"object"}}`)
		case strings.HasPrefix(r.URL.Path, "/admin/v1/prompts/summarize/versions/"):
			fmt.Fprint(w, `{"version":1}`)
		case r.URL.Path == "/admin/v1/requests":
			var data []any
			for i := 1; i <= n; i++ {
				data = append(data, map[string]any{"request_id": fmt.Sprintf("req_%d", i), "cost_micros": 7})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
		case r.URL.Path == "/admin/v1/prompts/summarize/test-runs":
			var run map[string]any
			_ = json.NewDecoder(r.Body).Decode(&run)
			runs = append(runs, run)
			w.WriteHeader(201)
			fmt.Fprint(w, "{}")
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &runs
}

func TestPromptsTestCommand(t *testing.T) {
	srv, runs := fakeGateway(t)
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pass := write("pass.jsonl",
		`{"name":"echo","variables":{"text":"hello"},"assert":[{"type":"contains","value":"hello"},{"type":"max_cost_usd","value":0.00001}]}`,
		`{"name":"regex","variables":{"text":"tea"},"assert":[{"type":"regex","value":"^Echo: tea"}]}`)
	fail := write("fail.jsonl",
		`{"name":"too dear","variables":{"text":"hello"},"assert":[{"type":"max_cost_usd","value":0.000001}]}`,
		`{"name":"exact","variables":{"text":"x"},"assert":[{"type":"equals","value":"Echo: x"}]}`,
		`{"name":"bad variables","variables":{"txt":"x"},"assert":[]}`)
	tests := []struct {
		name     string
		args     []string
		wantErr  bool
		contains []string
		runs     int
	}{
		{"passing", []string{"summarize", "--version", "1", "--cases", pass}, false, []string{"echo", "PASS", "2/2", "0.000014"}, 1},
		{"failing, side by side", []string{"--cases", fail, "summarize", "--version", "1", "--compare", "2"}, true,
			[]string{"FAIL max_cost_usd", "PASS", "FAIL equals", "ERROR HTTP 400", "1/3", "0/3"}, 2},
		{"an output schema", []string{"summarize", "--version", "3", "--cases", pass}, true, []string{"FAIL json_schema: output is not valid JSON", "0/2"}, 1},
		{"no cases file", []string{"summarize", "--version", "1", "--cases", filepath.Join(dir, "none")}, true, nil, 0},
		{"no version", []string{"summarize", "--cases", pass}, true, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			*runs = nil
			var out bytes.Buffer
			args := append([]string{"test"}, tt.args...)
			args = append(args, "--server", srv.URL, "--key", "gw-key", "--token", "admin")
			err := promptsCommand(context.Background(), args, &out, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v\n%s", err, tt.wantErr, out.String())
			}
			for _, s := range tt.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			if len(*runs) != tt.runs {
				t.Fatalf("%d runs stored, want %d: %v", len(*runs), tt.runs, *runs)
			}
		})
	}
	// The stored run of the passing set.
	*runs = nil
	var out bytes.Buffer
	if err := promptsCommand(context.Background(), []string{"test", "summarize", "--version", "1", "--cases", pass, "--server", srv.URL,
		"--key", "gw-key", "--token", "admin"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	r := (*runs)[0]
	if r["version"] != 1.0 || r["cases"] != 2.0 || r["passed"] != 2.0 || r["summary"].(map[string]any)["cost_micros"] != 14.0 {
		t.Fatalf("stored run %v", r)
	}
}
