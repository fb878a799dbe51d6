package console

import (
	"testing"
	"time"
)

// TestTokenSessions: a token sign-in lasts until its expiry, ends on sign
// out, and the table of them is bounded (expired ones make room).
func TestTokenSessions(t *testing.T) {
	ts := tokenSessions{m: map[string]tokenSession{}}
	live, err := ts.put(tokenSession{token: "a", expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	dead, err := ts.put(tokenSession{token: "b", expires: time.Now().Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"live", live, true},
		{"expired", dead, false},
		{"unknown", "nope", false},
		{"empty", "", false},
	} {
		if s, ok := ts.get(tc.id); ok != tc.want || (ok && s.token != "a") {
			t.Errorf("%s: %v %q, want %v", tc.name, ok, s.token, tc.want)
		}
	}
	ts.drop(live)
	if _, ok := ts.get(live); ok {
		t.Fatal("a dropped session still works")
	}
	for i := range maxTokenUsers {
		if _, err := ts.put(tokenSession{expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("sign-in %d refused: %v", i, err)
		}
	}
	if _, err := ts.put(tokenSession{expires: time.Now().Add(time.Hour)}); err == nil {
		t.Fatalf("more than %d token sessions", maxTokenUsers)
	}
	ts.mu.Lock()
	for id, s := range ts.m {
		s.expires = time.Now().Add(-time.Second)
		ts.m[id] = s
		break
	}
	ts.mu.Unlock()
	if _, err := ts.put(tokenSession{expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("an expired session did not make room: %v", err)
	}
}
