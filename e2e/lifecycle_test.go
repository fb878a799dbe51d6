package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	openaifake "github.com/sluicehq/sluice/internal/fakeprovider/openai"
)

func TestSIGTERMDrainsOpenStreams(t *testing.T) {
	g := startGateway(t, "sigterm")
	const streams = 50
	const chunks = 20 // at 100 ms apart: each stream lasts about 2 s
	group := randHex(6)
	type result struct {
		id      string
		content string
		usage   openai.CompletionUsage
		err     error
	}
	results := make([]result, streams)
	var wg sync.WaitGroup
	client := sdk(t, g, devKey)
	for i := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var httpResp *http.Response
			stream := client.Chat.Completions.NewStreaming(ctxTimeout(t, 30*time.Second), openai.ChatCompletionNewParams{
				Model:         "chat-small",
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("drain me")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			}, option.WithHeader("X-E2e-Group", group), option.WithHeader(openaifake.HeaderChunks, itoa(chunks)),
				option.WithHeader(openaifake.HeaderChunkDelayMs, "100"), option.WithResponseInto(&httpResp))
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			results[i].err = stream.Err()
			if httpResp != nil {
				results[i].id = httpResp.Header.Get("X-Request-Id")
			}
			if len(acc.Choices) > 0 {
				results[i].content = acc.Choices[0].Message.Content
			}
			results[i].usage = acc.Usage
		}()
	}
	inGroup := func(reqs []openaifake.Request) int {
		n := 0
		for _, r := range reqs {
			if r.Header.Get("X-E2e-Group") == group {
				n++
			}
		}
		return n
	}
	if !fake.Wait(15*time.Second, func(reqs []openaifake.Request) bool { return inGroup(reqs) == streams }) {
		t.Fatalf("only %d of %d streams reached the upstream", inGroup(fake.Requests()), streams)
	}
	time.Sleep(300 * time.Millisecond) // a few chunks into every stream
	sigAt := time.Now()
	if err := g.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if resp, err := http.Get(g.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Logf("note: a new connection after SIGTERM got %d (a closed listener is expected)", resp.StatusCode)
	}
	wg.Wait()
	code, err := g.wait(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Errorf("gateway exit code %d after SIGTERM, want 0", code)
	}
	t.Logf("gateway exited %v after SIGTERM", time.Since(sigAt).Round(time.Millisecond))
	want := openaifake.Reply("drain me", 0, chunks)
	failed := 0
	for i, r := range results {
		if r.err != nil || r.content != want || r.id == "" {
			failed++
			if failed <= 5 {
				t.Errorf("stream %d: id %q err %v content %q", i, r.id, r.err, r.content)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d in-flight streams did not finish cleanly across SIGTERM", failed, streams)
	}

	// The ledger must hold all of them once the gateway is back.
	if err := g.start(); err != nil {
		t.Fatal(err)
	}
	entries, err := g.ledger(500)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]LedgerEntry{}
	for _, e := range entries {
		byID[e.RequestID] = e
	}
	lost, wrong := 0, 0
	for _, r := range results {
		e, ok := byID[r.id]
		switch {
		case r.id == "":
		case !ok:
			lost++
		case e.Status != "ok" || !e.Stream || e.Estimated || e.OutputTokens != r.usage.CompletionTokens || e.InputTokens != r.usage.PromptTokens:
			wrong++
			if wrong <= 3 {
				raw, _ := json.Marshal(e)
				t.Errorf("entry after drain: %s", raw)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d ledger entries lost across SIGTERM", lost, streams)
	}
}

func TestKill9KeepsLedgerReadable(t *testing.T) {
	g := startGateway(t, "kill9")
	client := sdk(t, g, devKey)
	var ids []string
	for i := range 10 {
		var httpResp *http.Response
		_, err := client.Chat.Completions.New(ctxTimeout(t, 10*time.Second), openai.ChatCompletionNewParams{
			Model:    "chat-small",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("before the crash " + itoa(i))},
		}, option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, httpResp.Header.Get("X-Request-Id"))
	}
	for _, id := range ids {
		g.entryByID(t, id) // durable once visible (group commit done)
	}
	before, err := g.ledger(500)
	if err != nil {
		t.Fatal(err)
	}
	g.kill()
	if err := g.start(); err != nil {
		t.Fatalf("restart after kill -9: %v", err)
	}
	after, err := g.ledger(500)
	if err != nil {
		t.Fatalf("ledger after kill -9: %v", err)
	}
	byID := map[string]LedgerEntry{}
	for _, e := range after {
		byID[e.RequestID] = e
	}
	for _, e := range before {
		got, ok := byID[e.RequestID]
		if !ok {
			t.Errorf("entry %s lost after kill -9", e.RequestID)
			continue
		}
		a, _ := json.Marshal(e)
		b, _ := json.Marshal(got)
		if string(a) != string(b) {
			t.Errorf("entry changed across restart:\n before %s\n after  %s", a, b)
		}
	}
	// And the restarted gateway still serves and records.
	var httpResp *http.Response
	if _, err := client.Chat.Completions.New(ctxTimeout(t, 10*time.Second), openai.ChatCompletionNewParams{
		Model:    "chat-small",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("after the crash")},
	}, option.WithBaseURL(g.URL+"/v1"), option.WithResponseInto(&httpResp)); err != nil {
		t.Fatal(err)
	}
	g.entryByID(t, httpResp.Header.Get("X-Request-Id"))
}

func TestRequestsCLI(t *testing.T) {
	g := sharedGateway(t)
	var httpResp *http.Response
	if _, err := sdk(t, g, devKey).Chat.Completions.New(ctxTimeout(t, 10*time.Second), openai.ChatCompletionNewParams{
		Model:    "chat-small",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("for the CLI")},
	}, option.WithResponseInto(&httpResp)); err != nil {
		t.Fatal(err)
	}
	id := httpResp.Header.Get("X-Request-Id")
	g.entryByID(t, id)
	cmd := exec.Command(binPath, "requests", "--server", g.URL)
	cmd.Env = append(os.Environ(), "SLUICE_ADMIN_TOKEN="+adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice requests: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), id) {
		t.Errorf("sluice requests output lacks %s:\n%s", id, out)
	}
	if strings.Contains(string(out), adminToken) {
		t.Error("sluice requests printed the admin token")
	}

	cmd = exec.Command(binPath, "requests", "--server", g.URL)
	cmd.Env = append(os.Environ(), "SLUICE_ADMIN_TOKEN=wrong-token")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("sluice requests with a wrong token succeeded:\n%s", out)
	}
}
