package sse

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type ev struct{ Event, Data, ID string }

func parseAll(t testing.TB, chunks ...string) ([]ev, error) {
	t.Helper()
	var p Parser
	var out []ev
	for _, c := range chunks {
		if err := p.Feed([]byte(c), func(e Event) {
			out = append(out, ev{string(e.Event), string(e.Data), string(e.ID)})
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

var cases = []struct {
	name string
	in   string
	want []ev
}{
	{"openai chunks", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []ev{{"", `{"a":1}`, ""}, {"", "[DONE]", ""}}},
	{"anthropic named events", "event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n", []ev{{"message_start", "{}", ""}, {"ping", `{"type": "ping"}`, ""}}},
	{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []ev{{"", "x", ""}, {"", "y", ""}}},
	{"bare cr", "data: x\r\rdata: y\r\r", []ev{{"", "x", ""}, {"", "y", ""}}},
	{"multi-line data", "data: a\ndata: b\n\n", []ev{{"", "a\nb", ""}}},
	{"comments and unknown fields", ": keep-alive\nretry: 10\nfoo: bar\ndata: z\n\n", []ev{{"", "z", ""}}},
	{"no space after colon", "data:x\n\n", []ev{{"", "x", ""}}},
	{"id", "id: 7\ndata: x\n\n", []ev{{"", "x", "7"}}},
	{"unterminated event is not emitted", "data: x\n", nil},
	{"DONE inside text is not DONE", "data: {\"c\":\"[DONE]\"}\n\n", []ev{{"", `{"c":"[DONE]"}`, ""}}},
}

func TestParser(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAll(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			// Split invariance: every cut into single bytes gives the same events.
			got, _ = parseAll(t, strings.Split(tc.in, "")...)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("byte-split events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLineLimit(t *testing.T) {
	p := Parser{MaxLine: 10}
	err := p.Feed([]byte("data: 0123456789\n"), func(Event) {})
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
	p = Parser{MaxLine: 10}
	_ = p.Feed([]byte("data: 01"), func(Event) {})
	if err := p.Feed([]byte("23456789"), func(Event) {}); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("split line: err = %v, want ErrLineTooLong", err)
	}
}

func TestIsDone(t *testing.T) {
	for in, want := range map[string]bool{"[DONE]": true, " [DONE]": false, "[DONE] ": false, "[DON": false} {
		if IsDone([]byte(in)) != want {
			t.Errorf("IsDone(%q) != %v", in, want)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	got := string(AppendEvent(nil, "error", []byte("a\nb")))
	if want := "event: error\ndata: a\ndata: b\n\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FuzzParser checks split invariance: the events parsed from the whole input
// equal those parsed from the same bytes cut at any point.
func FuzzParser(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.in, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, cut uint8) {
		whole, err1 := parseAll(t, in)
		var chunks []string
		step := int(cut%16) + 1
		for i := 0; i < len(in); i += step {
			chunks = append(chunks, in[i:min(i+step, len(in))])
		}
		split, err2 := parseAll(t, chunks...)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("errors differ: %v vs %v", err1, err2)
		}
		if diff := cmp.Diff(whole, split); diff != "" {
			t.Fatalf("split changed events (-whole +split):\n%s", diff)
		}
	})
}
