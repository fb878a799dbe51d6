package cache

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Test vectors of the RFC 8785 reference implementation
// (cyberphone/json-canonicalization, testdata/input and testdata/output).
func TestCanonicalRFC8785Vectors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"values",
			`{"numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],
			  "escaping": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
			  "literals": [null, true, false]}`,
			`{"escaping":"€$\u000f\nA'B\"\\\\\"/","literals":[null,true,false],"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}`},
		{"weird",
			`{"\u20ac": "Euro Sign", "1": "One", "\u0080": "Control\u007f", "\ud83d\ude02": "Smiley",
			  "\u00f6": "Latin Small Letter O With Diaeresis", "\ufb33": "Hebrew Letter Dalet With Dagesh",
			  "</script>": "Browser Challenge"}`,
			"{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u0080\":\"Control\u007f\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😂\":\"Smiley\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{"nested", `{ "b" : [ {"z":1,"a":2} ], "a" : { } }`, `{"a":{},"b":[{"a":2,"z":1}]}`},
		{"big integer kept", `{"seed": 123456789012345678901234567890}`, `{"seed":123456789012345678901234567890}`},
		{"negative zero", `[-0, -0.0]`, `[0,0]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// ECMAScript number serialization, RFC 8785 Appendix B.
func TestFormatNumberAppendixB(t *testing.T) {
	cases := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tc := range cases {
		if got := FormatNumber(math.Float64frombits(tc.bits)); got != tc.want {
			t.Errorf("%#016x: got %s, want %s", tc.bits, got, tc.want)
		}
	}
}

func TestCanonicalRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"duplicate": `{"a":1,"a":2}`,
		"deep":      strings.Repeat("[", 200) + strings.Repeat("]", 200),
		"syntax":    `{"a":}`,
		"overflow":  `[1e400]`,
	} {
		if _, err := Canonical([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestKeyOf(t *testing.T) {
	base := Request{Scope: "org_1", Protocol: "openai", Model: "gpt-4o-mini", Target: "up/gpt-4o-mini",
		Body: []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`),
		Drop: []string{"stream", "stream_options"}}
	k0, err := KeyOf(base)
	if err != nil {
		t.Fatal(err)
	}
	same := []Request{
		with(base, func(r *Request) {
			r.Body = []byte(`{ "temperature" : 0.50, "messages":[{"content":"hi","role":"user"}], "model":"gpt-4o-mini"}`)
		}),
		with(base, func(r *Request) {
			r.Body = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":5e-1,"stream":true,"stream_options":{"include_usage":true}}`)
		}),
	}
	for i, r := range same {
		if k, _ := KeyOf(r); k != k0 {
			t.Errorf("same[%d]: key differs", i)
		}
	}
	differ := map[string]Request{
		"other organisation": with(base, func(r *Request) { r.Scope = "org_2" }),
		"other protocol":     with(base, func(r *Request) { r.Protocol = "anthropic" }),
		"other target":       with(base, func(r *Request) { r.Target = "up2/gpt-4o-mini" }),
		"other model":        with(base, func(r *Request) { r.Model = "gpt-4o" }),
		"other temperature": with(base, func(r *Request) {
			r.Body = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":0.6}`)
		}),
		"other content": with(base, func(r *Request) {
			r.Body = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi!"}],"temperature":0.5}`)
		}),
		// Scope and protocol cannot bleed into each other.
		"shifted parts": with(base, func(r *Request) { r.Scope, r.Protocol = "org_1o", "penai" }),
	}
	for name, r := range differ {
		if k, _ := KeyOf(r); k == k0 {
			t.Errorf("%s: same key", name)
		}
	}
}

func with(r Request, f func(*Request)) Request { f(&r); return r }

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestMemoryLRUAndTTL(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c := NewMemory(3 * (100 + entryOverhead))
	c.now = clock.now
	val := func(b byte) []byte { return []byte(strings.Repeat(string(b), 100)) }
	keys := []Key{{1}, {2}, {3}, {4}}
	for i := range 3 {
		if err := c.Set(ctx, keys[i], val('a'+byte(i)), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// Touch key 1, so key 2 is the least recently used.
	if v, ok, _ := c.Get(ctx, keys[0]); !ok || v[0] != 'a' {
		t.Fatalf("Get(1) = %q, %v", v, ok)
	}
	if err := c.Set(ctx, keys[3], val('d'), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Get(ctx, keys[1]); ok {
		t.Fatal("the least recently used entry survived")
	}
	for _, k := range []Key{keys[0], keys[2], keys[3]} {
		if _, ok, _ := c.Get(ctx, k); !ok {
			t.Fatalf("entry %v evicted", k[0])
		}
	}
	if got := c.Bytes(); got != 3*(100+entryOverhead) {
		t.Fatalf("Bytes = %d", got)
	}
	if c.Stats.Evictions.Load() != 1 {
		t.Fatalf("evictions = %d", c.Stats.Evictions.Load())
	}
	// Expiry at exactly the TTL.
	clock.t = clock.t.Add(time.Minute - time.Nanosecond)
	if _, ok, _ := c.Get(ctx, keys[0]); !ok {
		t.Fatal("expired early")
	}
	clock.t = clock.t.Add(time.Nanosecond)
	if _, ok, _ := c.Get(ctx, keys[0]); ok {
		t.Fatal("not expired at its TTL")
	}
	// A value larger than the cache is refused; a returned value is a copy.
	if err := c.Set(ctx, Key{9}, make([]byte, 700), time.Minute); err != ErrTooLarge {
		t.Fatalf("large value: %v", err)
	}
	if err := c.Set(ctx, keys[2], val('c'), time.Minute); err != nil {
		t.Fatal(err)
	}
	v, _, _ := c.Get(ctx, keys[2])
	v[0] = 'X'
	if v2, _, _ := c.Get(ctx, keys[2]); v2[0] != 'c' {
		t.Fatal("Get returned the stored slice")
	}
}

func TestRedisStore(t *testing.T) {
	addr := os.Getenv("SLUICE_TEST_REDIS_ADDR")
	if addr == "" {
		if os.Getenv("SLUICE_TEST_REQUIRE_REDIS") != "" {
			t.Fatal("SLUICE_TEST_REDIS_ADDR is not set")
		}
		t.Skip("SLUICE_TEST_REDIS_ADDR not set")
	}
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	s := NewRedis(rc, "sluice-test-"+t.Name()+":")
	k := Key{7}
	if _, ok, err := s.Get(ctx, k); ok || err != nil {
		t.Fatalf("empty Get: %v %v", ok, err)
	}
	if err := s.Set(ctx, k, []byte("answer"), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(ctx, k); !ok || err != nil || string(v) != "answer" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
	ttl, err := rc.PTTL(ctx, "sluice-test-"+t.Name()+":cache:"+k.String()).Result()
	if err != nil || ttl <= 0 || ttl > 200*time.Millisecond {
		t.Fatalf("PTTL = %v, %v", ttl, err)
	}
	if err := s.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Get(ctx, k); ok {
		t.Fatal("deleted entry found")
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add([]byte(`{"b":1,"a":[1.5,"x",null]}`))
	f.Add([]byte(strings.Repeat("[", 129)))
	f.Add([]byte(`{"a":1,"A":2}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonical(in)
		if err != nil {
			return
		}
		again, err := Canonical(out)
		if err != nil {
			t.Fatalf("canonical output does not parse: %s: %v", out, err)
		}
		if string(again) != string(out) {
			t.Fatalf("not idempotent: %s -> %s", out, again)
		}
	})
}

func TestDialRedis(t *testing.T) {
	tests := []struct {
		addr   string
		wantOK bool
	}{
		{"127.0.0.1:6379", true},
		{"redis://user:pw@127.0.0.1:6380/2", true},
		{"redis://127.0.0.1:6379/notadb", false},
		{"http://127.0.0.1:6379", false},
		{"", false},
	}
	for _, tc := range tests {
		s, err := DialRedis(tc.addr, time.Second)
		if (err == nil) != tc.wantOK {
			t.Errorf("DialRedis(%q): %v, want ok=%v", tc.addr, err, tc.wantOK)
		}
		if s != nil {
			s.Close()
		}
	}
	addr := os.Getenv("SLUICE_TEST_REDIS_ADDR")
	if addr == "" {
		return
	}
	s, err := DialRedis(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	k := Key{9}
	if err := s.Set(ctx, k, []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(ctx, k); !ok || err != nil || string(v) != "v" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
	_ = s.Delete(ctx, k)
}
