package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/llm"
	protocolanthropic "github.com/sluicehq/sluice/internal/protocol/anthropic"
	protocolbedrock "github.com/sluicehq/sluice/internal/protocol/bedrock"
	protocolgemini "github.com/sluicehq/sluice/internal/protocol/gemini"
	protocolopenai "github.com/sluicehq/sluice/internal/protocol/openai"
	protocolresponses "github.com/sluicehq/sluice/internal/protocol/responses"
)

var update = flag.Bool("update", false, "rewrite the generated sections of the golden files")

// The protocols, in the order of internal/app/codecs.go.
var (
	clientNames   = []string{"openai", "responses", "anthropic", "gemini"}
	upstreamNames = []string{"openai", "anthropic", "gemini", "bedrock"}
)

// fixedNow is the clock of the codecs that stamp their answers.
func fixedNow() time.Time { return time.Unix(1760000000, 0) }

// clientCodecs are the production codecs; the two that make ids and read
// the clock get fixed ones, so that their output can be compared byte for
// byte. The other generated ids are normalised (see normalise).
var clientCodecs = map[string]llm.ClientCodec{
	"openai":    protocolopenai.ClientCodec{Now: fixedNow, NewID: func() string { return "chatcmpl-sluice" }},
	"responses": protocolresponses.ClientCodec{Now: fixedNow, NewID: func() string { return "0123456789abcdef" }},
	"anthropic": protocolanthropic.Client,
	"gemini":    protocolgemini.Client,
}

var upstreamCodecs = map[string]llm.UpstreamCodec{
	"openai":    protocolopenai.Upstream,
	"anthropic": protocolanthropic.Upstream,
	"gemini":    protocolgemini.Upstream,
	"bedrock":   protocolbedrock.Upstream,
}

// servedModel is the model each upstream is asked for, as a route's target
// names it.
var servedModel = map[string]string{
	"openai":    "gpt-4o",
	"anthropic": "claude-sonnet-4-5",
	"gemini":    "gemini-2.5-flash",
	"bedrock":   "anthropic.claude-sonnet-4-5-20250929-v1:0",
}

// pathModel is the model a client names in the URL path (Gemini only).
var pathModel = map[string]string{"gemini": "gemini-2.5-pro"}

// translated reports whether the data plane translates the pair; the
// others are passed through byte for byte (internal/proxy/forward.go).
func translated(client, upstream string) bool {
	return client != upstream && (client != "responses" || upstream != "openai")
}

// requiredCases must exist in every pair's directory.
var requiredCases = []string{
	"plain_text",
	"system_multi_turn",
	"stream_text",
	"tools",
	"tools_stream",
	"tool_result",
	"image_base64",
	"json_schema",
	"usage_cached",
	"thinking",
	"thinking_stream",
	"max_tokens",
	"untranslatable",
	"error_429",
	"error_500",
	"stream_error",
	"stream_truncated",
	"parallel_tools_stream",
}

// generated are the sections that -update writes.
var generated = []string{"upstream_request.json", "upstream_stream.hex", "client_status", "client_response.json", "client_stream.txt"}

// outcome is what one case produced.
type outcome struct {
	out map[string]string // the generated sections

	req          *llm.Request
	reqErr       *llm.Error // the request was refused
	upstreamBody []byte     // the encoded upstream request
	clientStatus int
	clientBody   []byte // a complete answer or an error body
	clientStream []byte // a streamed answer
	wire         []byte // the upstream stream, as fed to the reader
	meter        llm.Usage
	meterOK      bool
}

// ender is implemented by readers that hold events until the stream ends
// (Bedrock); the data plane calls End at EOF.
type ender interface {
	End(emit func(llm.Event)) error
}

// runCase runs one case as internal/proxy/forward.go composes the codecs.
func runCase(client, upstream string, a *archive) (*outcome, error) {
	cc, uc := clientCodecs[client], upstreamCodecs[upstream]
	model := servedModel[upstream]
	o := &outcome{out: map[string]string{}}
	body, ok := a.get("client_request.json")
	if !ok {
		return nil, errors.New("no client_request.json section")
	}
	stream := a.has("upstream_stream.txt") || a.has("upstream_events.txt")

	req, err := cc.DecodeRequest([]byte(body), pathModel[client])
	if err == nil {
		o.req = req
		req.Model, req.Stream = model, stream
		o.upstreamBody, err = uc.EncodeRequest(req, model)
	}
	if err != nil {
		var le *llm.Error
		if !errors.As(err, &le) {
			return nil, fmt.Errorf("the request was refused with %T, not *llm.Error: %v", err, err)
		}
		o.reqErr = le
		o.clientStatus = cmpOr(le.Status, 400)
		o.clientBody = cc.EncodeError(le)
		o.out["client_status"] = strconv.Itoa(o.clientStatus) + "\n"
		o.out["client_response.json"] = prettyJSON(o.clientBody)
		return o, nil
	}
	o.out["upstream_request.json"] = prettyJSON(normalise(o.upstreamBody))

	if st, ok := a.get("upstream_status"); ok {
		status, err := strconv.Atoi(strings.TrimSpace(st))
		if err != nil {
			return nil, fmt.Errorf("upstream_status: %v", err)
		}
		resp, _ := a.get("upstream_response.json")
		// The data plane renders the decoded error with the upstream's status.
		o.clientStatus = status
		o.clientBody = cc.EncodeError(uc.DecodeError(status, []byte(resp)))
		o.out["client_status"] = strconv.Itoa(status) + "\n"
		o.out["client_response.json"] = prettyJSON(o.clientBody)
		return o, nil
	}

	o.clientStatus = 200
	if stream {
		if o.wire, err = upstreamWire(upstream, a, o.out); err != nil {
			return nil, err
		}
		r := relay(client, upstream, req, [][]byte{o.wire})
		o.clientStream, o.meter, o.meterOK = r.out, r.meter, r.meterOK
		o.out["client_status"] = "200\n"
		o.out["client_stream.txt"] = streamText(o.clientStream)
		return o, nil
	}
	resp, ok := a.get("upstream_response.json")
	if !ok {
		// A case that expects a refusal has no answer to relay;
		// checkSemantics reports that the request went through.
		o.clientStatus = 0
		return o, nil
	}
	ir, err := uc.DecodeResponse([]byte(resp))
	if err == nil {
		o.meter, o.meterOK = ir.Usage, true
		if ir.Model == "" {
			ir.Model = model
		}
		o.clientBody, err = cc.EncodeResponse(req, ir)
	}
	if err != nil {
		// The data plane answers 502 upstream_invalid.
		o.clientStatus = 502
		o.out["client_status"] = "502\n"
		o.out["client_response.json"] = "the upstream answer could not be translated: " + err.Error() + "\n"
		return o, nil
	}
	o.clientBody = normalise(o.clientBody)
	o.out["client_status"] = "200\n"
	o.out["client_response.json"] = prettyJSON(o.clientBody)
	return o, nil
}

// upstreamWire returns the upstream stream's bytes: the SSE section, or
// for Bedrock the frames of the events section (written to the hex
// section, which is what the reader is fed unless -update rewrites it).
func upstreamWire(upstream string, a *archive, out map[string]string) ([]byte, error) {
	if s, ok := a.get("upstream_stream.txt"); ok {
		return streamBytes(s), nil
	}
	s, _ := a.get("upstream_events.txt")
	evs, err := parseFrameEvents(s)
	if err != nil {
		return nil, fmt.Errorf("upstream_events.txt: %v", err)
	}
	frames := encodeFrames(evs)
	out["upstream_stream.hex"] = hexDump(frames)
	if h, ok := a.get("upstream_stream.hex"); ok && !*update {
		b, err := hexBytes(h)
		if err != nil {
			return nil, fmt.Errorf("upstream_stream.hex: %v", err)
		}
		return b, nil
	}
	return frames, nil
}

// relayed is what a stream relay produced.
type relayed struct {
	out     []byte
	meter   llm.Usage
	meterOK bool
	done    bool
}

// relay runs an upstream stream, cut into chunks, through the upstream's
// reader and the client's writer, as the data plane's eventStreamer and
// relayStream do: the served model fills a start event without one; an
// upstream error event ends the stream once the chunk that carried it is
// rendered; a reader that holds events is ended at EOF; and a stream that
// ends before its terminal event (or is malformed) ends with the writer's
// Fail.
func relay(client, upstream string, req *llm.Request, chunks [][]byte) relayed {
	reader := upstreamCodecs[upstream].NewStreamReader()
	var buf bytes.Buffer
	w := clientCodecs[client].NewStreamWriter(&buf, req)
	errored := false
	emit := func(ev llm.Event) {
		if ev.Type == llm.EvStart && ev.Model == "" {
			ev.Model = servedModel[upstream]
		}
		if ev.Type == llm.EvError {
			errored = true
		}
		_ = w.Write(ev)
	}
	var broken error
	for _, c := range chunks {
		broken = reader.Feed(c, emit)
		if errored || broken != nil {
			break
		}
	}
	if e, ok := reader.(ender); ok && broken == nil && !errored {
		broken = e.End(emit)
	}
	if !reader.Done() && !errored {
		msg := "the upstream stream ended before its terminal event"
		if broken != nil {
			msg = "the upstream stream was malformed: " + broken.Error()
		}
		_ = w.Fail(&llm.Error{Status: 502, Type: "server", Message: "Sluice: " + msg + "."})
	}
	r := relayed{out: normalise(buf.Bytes()), done: reader.Done()}
	r.meter, r.meterOK = reader.Usage()
	return r
}

// volatile matches the ids that codecs make up at random: Bedrock's
// message ids, Anthropic's for answers without one, and OpenAI's for tool
// calls streamed without one.
var volatile = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`msg_bdrk_[0-9a-f]{24}`), "msg_bdrk_<random>"},
	{regexp.MustCompile(`msg_sluice_[0-9a-f]{24}`), "msg_sluice_<random>"},
	{regexp.MustCompile(`"call_[A-Za-z0-9]{24}"`), `"call_<random>"`},
}

func normalise(b []byte) []byte {
	for _, v := range volatile {
		b = v.re.ReplaceAll(b, []byte(v.repl))
	}
	return b
}

// prettyJSON indents a JSON body (keeping its key order and escapes); a
// body that is not JSON is kept as it is.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b) + "\n"
	}
	out.WriteByte('\n')
	return out.String()
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// casePaths returns the case files by pair, and fails the test when a pair
// directory is missing, is a pass-through pair, or lacks a required case.
func casePaths(t testing.TB) map[[2]string][]string {
	t.Helper()
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	out := map[[2]string][]string{}
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), "Fuzz") {
			continue
		}
		client, upstream, ok := strings.Cut(d.Name(), "_")
		if !ok || !slices.Contains(clientNames, client) || !slices.Contains(upstreamNames, upstream) {
			t.Errorf("testdata/%s: not <client>_<upstream>", d.Name())
			continue
		}
		if !translated(client, upstream) {
			t.Errorf("testdata/%s: the pair is passed through, not translated", d.Name())
			continue
		}
		paths, err := filepath.Glob(filepath.Join("testdata", d.Name(), "*.txtar"))
		if err != nil {
			t.Fatal(err)
		}
		out[[2]string{client, upstream}] = paths
	}
	for _, c := range clientNames {
		for _, u := range upstreamNames {
			if !translated(c, u) {
				continue
			}
			paths, ok := out[[2]string{c, u}]
			if !ok {
				t.Errorf("testdata/%s_%s: missing", c, u)
				continue
			}
			for _, want := range requiredCases {
				if !slices.Contains(paths, filepath.Join("testdata", c+"_"+u, want+".txtar")) {
					t.Errorf("testdata/%s_%s: no %s case", c, u, want)
				}
			}
		}
	}
	return out
}

// TestPairs runs every case of every translated pair: the generated
// sections against the golden file, the semantic checks, and for streams
// the same client output however the upstream's bytes are cut.
func TestPairs(t *testing.T) {
	pairs := casePaths(t)
	keys := make([][2]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"_"+a[1], b[0]+"_"+b[1]) })
	for _, k := range keys {
		client, upstream := k[0], k[1]
		t.Run(client+"_"+upstream, func(t *testing.T) {
			t.Parallel()
			for _, path := range pairs[k] {
				name := strings.TrimSuffix(filepath.Base(path), ".txtar")
				t.Run(name, func(t *testing.T) { runGolden(t, client, upstream, path) })
			}
		})
	}
}

func runGolden(t *testing.T, client, upstream, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := parseArchive(string(data))
	o, err := runCase(client, upstream, a)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		for _, name := range generated {
			if v, ok := o.out[name]; ok {
				a.set(name, v)
			} else {
				a.remove(name)
			}
		}
		a.sort()
		if err := os.WriteFile(path, []byte(a.format()), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, name := range generated {
			got, produced := o.out[name]
			want, present := a.get(name)
			switch {
			case produced && !present:
				t.Errorf("%s: the case produces a %s section the file lacks (run with -update)", path, name)
			case !produced && present:
				t.Errorf("%s: the file has a %s section the case no longer produces (run with -update)", path, name)
			case got != want:
				t.Errorf("%s: %s differs (-want +got):\n%s", path, name, cmp.Diff(want, got))
			}
		}
	}
	var f failures
	checkSemantics(&f, client, upstream, a, o)
	f.report(t, a)
	if o.wire != nil {
		checkSplits(t, client, upstream, o)
	}
}

// checkSplits feeds the upstream stream cut in other ways and requires the
// same client output and metering: fed byte by byte, and cut once at every
// byte boundary; a long stream (or -short) gets random multi-cuts instead of
// every cut.
func checkSplits(t *testing.T, client, upstream string, o *outcome) {
	want := relay(client, upstream, o.req, [][]byte{o.wire})
	if !bytes.Equal(want.out, o.clientStream) {
		t.Fatalf("the same stream relayed twice differs")
	}
	try := func(desc string, chunks [][]byte) bool {
		got := relay(client, upstream, o.req, chunks)
		if !bytes.Equal(got.out, want.out) || got.meter != want.meter || got.meterOK != want.meterOK || got.done != want.done {
			t.Errorf("stream fed %s: the client output differs from the whole stream's (-whole +split):\n%s",
				desc, cmp.Diff(string(want.out), string(got.out)))
			return false
		}
		return true
	}
	w := o.wire
	bytewise := make([][]byte, len(w))
	for i := range w {
		bytewise[i] = w[i : i+1]
	}
	if !try("byte by byte", bytewise) {
		return
	}
	// Every cut of a stream up to 4 KiB; -short keeps the byte-by-byte feed
	// and tries random cuts only.
	const exhaustive = 4096
	if len(w) <= exhaustive && !testing.Short() {
		for i := 1; i < len(w); i++ {
			if !try(fmt.Sprintf("cut at byte %d", i), [][]byte{w[:i], w[i:]}) {
				return
			}
		}
		return
	}
	rng := rand.New(rand.NewPCG(uint64(len(w)), 7))
	tries := 500
	if testing.Short() {
		tries = 64
	}
	for range tries {
		cuts := []int{0}
		for range 1 + rng.IntN(8) {
			cuts = append(cuts, 1+rng.IntN(len(w)-1))
		}
		cuts = append(cuts, len(w))
		slices.Sort(cuts)
		var chunks [][]byte
		for i := 1; i < len(cuts); i++ {
			chunks = append(chunks, w[cuts[i-1]:cuts[i]])
		}
		if !try(fmt.Sprintf("cut at %v", cuts[1:len(cuts)-1]), chunks) {
			return
		}
	}
}
