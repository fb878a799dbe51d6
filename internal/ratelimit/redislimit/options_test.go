package redislimit

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/ratelimit"
)

// TestNewOptions: New fills the defaults, keeps what the caller set, and
// refuses an address it cannot read.
func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantErr bool
		timeout time.Duration
		pool    int
		key     string // s.key("K", "tickets")
		addr    string
	}{
		{"defaults", Options{Addr: "127.0.0.1:1"}, false, ratelimit.DefaultTimeout, 64, "sluice:rl:{K}:tickets", "127.0.0.1:1"},
		{"set", Options{Addr: "127.0.0.1:1", Timeout: time.Second, PoolSize: 3, Prefix: "p:"}, false, time.Second, 3, "p:{K}:tickets", "127.0.0.1:1"},
		{"url", Options{Addr: "redis://127.0.0.1:2/1"}, false, ratelimit.DefaultTimeout, 64, "sluice:rl:{K}:tickets", "127.0.0.1:2"},
		{"bad url", Options{Addr: "redis://127.0.0.1:2/notadb"}, true, 0, 0, "", ""},
		{"empty", Options{}, true, 0, 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.o)
			if tc.wantErr {
				if err == nil {
					_ = s.Close()
					t.Fatal("New succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			opt := s.c.Options()
			if opt.ReadTimeout != tc.timeout || opt.DialTimeout != tc.timeout || opt.PoolSize != tc.pool {
				t.Errorf("timeouts %v/%v, pool %d; want %v, %d", opt.DialTimeout, opt.ReadTimeout, opt.PoolSize, tc.timeout, tc.pool)
			}
			if opt.MaxRetries != 0 || opt.DialerRetries != 1 {
				t.Errorf("retries %d, dialer retries %d; want none (fail fast)", opt.MaxRetries, opt.DialerRetries)
			}
			if got := s.key("K", "tickets"); got != tc.key {
				t.Errorf("key = %q, want %q", got, tc.key)
			}
			if got := s.String(); got != "redis "+tc.addr {
				t.Errorf("String = %q, want %q", got, "redis "+tc.addr)
			}
		})
	}
}
