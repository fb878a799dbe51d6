package redislimit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// group is one subject's seven script values.
func group(denied string, n ...int64) []any {
	v := []any{denied}
	for _, x := range n {
		v = append(v, x)
	}
	return v
}

func cat(parts ...[]any) []any {
	var out []any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		res     []any
		want    ratelimit.Verdict
		wantErr string // a substring of the error; "" for none
	}{
		{"well formed", group("requests", 1, 2, 3, 4, 5, 1),
			ratelimit.Verdict{Denied: "requests", Counters: ratelimit.Counters{Requests: 1, Tokens: 2, Concurrent: 3,
				SpentMicros: 4, ReservedMicros: 5, Started: true}}, ""},
		{"not started", group("", 9, 8, 7, 6, 5, 0),
			ratelimit.Verdict{Counters: ratelimit.Counters{Requests: 9, Tokens: 8, Concurrent: 7, SpentMicros: 6,
				ReservedMicros: 5}}, ""},
		{"too few values", group("", 1, 2, 3, 4, 5), ratelimit.Verdict{}, "returned 6 values, want 7"},
		{"too many values", group("", 1, 2, 3, 4, 5, 6, 7), ratelimit.Verdict{}, "returned 8 values, want 7"},
		{"no values", nil, ratelimit.Verdict{}, "returned 0 values, want 7"},
		{"verdict not a string", []any{nil, "x", int64(2), int64(3), int64(4), int64(5), int64(6)},
			ratelimit.Verdict{}, "returned <nil> for the verdict"},
		{"first value not an integer", []any{"", "1", int64(2), int64(3), int64(4), int64(5), int64(6)},
			ratelimit.Verdict{}, "returned string for value 1"},
		{"third value not an integer", []any{"", int64(1), int64(2), "3", []any{}, int64(5), int64(6)},
			ratelimit.Verdict{}, "returned string for value 3"},
		{"last value not an integer", []any{"", int64(1), int64(2), int64(3), int64(4), int64(5), nil},
			ratelimit.Verdict{}, "returned <nil> for value 6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parse(tc.res)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if v != tc.want {
					t.Fatalf("parse = %+v, want %+v", v, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parse error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseAllReply(t *testing.T) {
	a := group("", 1, 2, 3, 4, 5, 0)
	b := group("budget", 6, 7, 8, 9, 10, 1)
	va, _ := parse(a)
	vb, _ := parse(b)
	tests := []struct {
		name    string
		res     []any
		n       int
		want    []ratelimit.Verdict
		wantErr string
	}{
		{"two groups", cat(a, b), 2, []ratelimit.Verdict{va, vb}, ""},
		{"one group short", a, 2, nil, "returned 7 values, want 14"},
		{"one value over", cat(a, []any{int64(1)}), 1, nil, "returned 8 values, want 7"},
		{"bad second group", cat(a, []any{int64(0)}, b[1:]), 2, nil, "returned int64 for the verdict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := parseAll(tc.res, tc.n)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parseAll: %v", err)
				}
				if !reflect.DeepEqual(vs, tc.want) {
					t.Fatalf("parseAll = %+v, want %+v", vs, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parseAll error = %v (verdicts %+v), want one containing %q", err, vs, tc.wantErr)
			}
		})
	}
}

// scriptedRedis is a fake Redis that answers every script with one canned
// reply (or error): a Redis whose script misbehaves.
type scriptedRedis struct {
	addr  string
	reply string // RESP bytes sent for EVALSHA and EVAL
}

// resp encodes v (int64, string, nil, []any) in RESP2.
func resp(v any) string {
	switch v := v.(type) {
	case nil:
		return "$-1\r\n"
	case int64:
		return ":" + strconv.FormatInt(v, 10) + "\r\n"
	case string:
		return "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
	case []any:
		s := "*" + strconv.Itoa(len(v)) + "\r\n"
		for _, x := range v {
			s += resp(x)
		}
		return s
	}
	panic(fmt.Sprintf("resp: %T", v))
}

func newScriptedRedis(t *testing.T, reply string) *scriptedRedis {
	f := &scriptedRedis{reply: reply}
	f.addr = listenFake(t, f.serve)
	return f
}

// serve answers the commands on c until it closes.
func (f *scriptedRedis) serve(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		var out string
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			out = "-ERR unknown command 'HELLO'\r\n"
		case "PING":
			out = "+PONG\r\n"
		case "EVALSHA", "EVAL":
			out = f.reply
		default:
			out = "+OK\r\n"
		}
		if _, err := c.Write([]byte(out)); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	header := func(kind byte) (int, error) {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		n, _, ok := respHeader([]byte(line), kind)
		if !ok {
			return 0, fmt.Errorf("bad RESP header %q", line)
		}
		return n, nil
	}
	n, err := header('*')
	if err != nil || n == 0 {
		return nil, fmt.Errorf("bad command: %v", err)
	}
	args := make([]string, n)
	for i := range args {
		size, err := header('$')
		if err != nil {
			return nil, err
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}

// scriptedStore is a Store on a fake Redis whose scripts all reply reply.
func scriptedStore(t *testing.T, reply any) *Store {
	t.Helper()
	var out string
	if e, ok := reply.(error); ok {
		out = "-" + e.Error() + "\r\n"
	} else {
		out = resp(reply)
	}
	f := newScriptedRedis(t, out)
	s, err := New(Options{Addr: f.addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func admissions(n int) []ratelimit.Admission {
	now := time.Now()
	as := make([]ratelimit.Admission, n)
	for i := range as {
		as[i] = ratelimit.Admission{Key: "k" + strconv.Itoa(i), Now: now, LeaseUntil: now.Add(time.Minute),
			Ticket: "t" + strconv.Itoa(i), Limits: ratelimit.Limits{RPM: 10}}
	}
	return as
}

// TestAdmitAllMalformedReply: AdmitAll reads the script's reply strictly; a
// reply it cannot make sense of is an error, never a verdict.
func TestAdmitAllMalformedReply(t *testing.T) {
	ok := group("", 1, 0, 1, 0, 0, 1)
	refused := group("requests", 10, 0, 0, 0, 0, 0)
	va, _ := parse(ok)
	vr, _ := parse(refused)
	tests := []struct {
		name     string
		subjects int
		reply    any
		denied   int
		want     []ratelimit.Verdict
		wantErr  string
	}{
		{"all admitted", 1, cat([]any{int64(-1)}, ok), -1, []ratelimit.Verdict{va}, ""},
		{"second refused", 2, cat([]any{int64(1)}, ok, refused), 1, []ratelimit.Verdict{va, vr}, ""},
		{"first refused", 2, cat([]any{int64(0)}, refused), 0, []ratelimit.Verdict{vr}, ""},
		{"empty reply", 1, []any{}, 0, nil, "returned nothing"},
		{"only the index", 1, []any{int64(-1)}, 0, nil, "returned 0 values, want 7"},
		{"index not an integer", 1, cat([]any{"-1"}, ok), 0, nil, "for the refusing subject"},
		{"index below -1", 1, cat([]any{int64(-2)}, ok), 0, nil, "returned -2 for the refusing subject"},
		{"index past the subjects", 2, cat([]any{int64(2)}, ok, ok, refused), 0, nil, "returned 2 for the refusing subject"},
		{"index far past the subjects", 1, cat([]any{int64(5)}, ok), 0, nil, "returned 5 for the refusing subject"},
		{"admitted, too few groups", 2, cat([]any{int64(-1)}, ok), 0, nil, "returned 7 values, want 14"},
		{"refused, too many groups", 2, cat([]any{int64(0)}, refused, ok), 0, nil, "returned 14 values, want 7"},
		{"bad group", 1, cat([]any{int64(-1)}, []any{int64(0)}, ok[1:]), 0, nil, "for the verdict"},
		{"script error", 1, fmt.Errorf("ERR script exploded"), 0, nil, "script exploded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scriptedStore(t, tc.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			denied, vs, err := s.AdmitAll(ctx, admissions(tc.subjects))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("AdmitAll = %d, %+v, %v; want an error containing %q", denied, vs, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("AdmitAll: %v", err)
			}
			if denied != tc.denied || !reflect.DeepEqual(vs, tc.want) {
				t.Fatalf("AdmitAll = %d, %+v; want %d, %+v", denied, vs, tc.denied, tc.want)
			}
		})
	}
}

// TestReadSettleMalformedReply: Read, Settle and SettleAll return the
// script's error, or an error for a reply they cannot read.
func TestReadSettleMalformedReply(t *testing.T) {
	tests := []struct {
		name    string
		reply   any
		wantErr string
	}{
		{"script error", fmt.Errorf("WRONGTYPE Operation against a key holding the wrong kind of value"), "WRONGTYPE"},
		{"short reply", group("", 1, 2, 3), "returned 4 values"},
		{"not an array", int64(0), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scriptedStore(t, tc.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			now := time.Now()
			check := func(op string, c ratelimit.Counters, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s = %+v, %v; want an error containing %q", op, c, err, tc.wantErr)
				}
				if c != (ratelimit.Counters{}) {
					t.Errorf("%s returned counters %+v with its error", op, c)
				}
			}
			c, err := s.Read(ctx, "k", now, time.Time{})
			check("Read", c, err)
			c, err = s.Settle(ctx, ratelimit.Settlement{Key: "k", Ticket: "t", Now: now})
			check("Settle", c, err)
			cs, err := s.SettleAll(ctx, []ratelimit.Settlement{{Key: "k", Ticket: "t", Now: now}})
			if err == nil || cs != nil {
				t.Errorf("SettleAll = %+v, %v; want an error", cs, err)
			}
		})
	}
}
