package store

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestAuditLog(t *testing.T) { forEach(t, testAuditLog) }

func testAuditLog(t *testing.T, s *Store) {
	ctx := context.Background()
	ts := time.Now().UTC().Truncate(time.Microsecond)
	first := AuditEntry{Time: ts, Actor: "admin-token", Tenant: "default", Action: "key.create", ObjectType: "key",
		ObjectID: "key_1", After: json.RawMessage(`{"name":"dev"}`), RequestID: "req-1", IP: "127.0.0.1"}
	if err := s.InsertAudit(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Same timestamp: the order still follows insertion.
	for _, id := range []string{"key_2", "key_3"} {
		e := first
		e.ObjectID, e.Action, e.Before, e.After = id, "key.revoke", json.RawMessage(`{"revoked":false}`), nil
		if err := s.InsertAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.InsertAudit(ctx, AuditEntry{Actor: "a", Action: "x", Before: json.RawMessage(`{oops`)}); err == nil {
		t.Fatal("invalid JSON was accepted")
	}
	if err := s.InsertAudit(ctx, AuditEntry{Action: "x"}); err == nil {
		t.Fatal("an entry without an actor was accepted")
	}
	all, err := s.ListAudit(ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ObjectID != "key_3" || all[1].ObjectID != "key_2" || all[2].ObjectID != "key_1" {
		t.Fatalf("ListAudit order: %+v", all)
	}
	got := all[2]
	if !got.Time.Equal(ts) || got.Actor != "admin-token" || got.Tenant != "default" || got.RequestID != "req-1" ||
		got.IP != "127.0.0.1" || got.Before != nil || string(got.After) != `{"name":"dev"}` || !strings.HasPrefix(got.ID, "aud_") {
		t.Fatalf("round trip: %+v", got)
	}
	if all[0].After != nil || string(all[0].Before) != `{"revoked":false}` {
		t.Fatalf("before/after: %+v", all[0])
	}
	one, err := s.ListAudit(ctx, AuditFilter{Limit: 1, ObjectType: "key", ObjectID: "key_2"})
	if err != nil || len(one) != 1 || one[0].ObjectID != "key_2" {
		t.Fatalf("filtered: %+v, %v", one, err)
	}
	if none, _ := s.ListAudit(ctx, AuditFilter{ObjectType: "provider"}); len(none) != 0 {
		t.Fatalf("filter by type: %+v", none)
	}
}

// The audit log is append-only by construction: no method of Store
// changes or deletes its rows, and no SQL in the package does.
func TestAuditLogHasNoUpdateOrDelete(t *testing.T) {
	for _, name := range []string{"Update", "Delete", "Remove", "Purge", "Edit", "Set", "Prune", "Truncate"} {
		typ := reflect.TypeFor[*Store]()
		for i := range typ.NumMethod() {
			m := typ.Method(i).Name
			if strings.HasPrefix(m, name) && strings.Contains(m, "Audit") {
				t.Errorf("Store.%s looks like it modifies the audit log", m)
			}
		}
	}
	files, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	bad := regexp.MustCompile(`(?i)(UPDATE\s+audit_log|DELETE\s+FROM\s+audit_log|DROP\s+TABLE\s+audit_log|TRUNCATE\s+(TABLE\s+)?audit_log|ALTER\s+TABLE\s+audit_log)`)
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if m := bad.Find(b); m != nil {
			t.Errorf("%s: %q writes over the audit log", f.Name(), m)
		}
	}
}
