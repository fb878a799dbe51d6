package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func auditFor(action, id string) AuditEntry {
	return AuditEntry{Actor: "test", Tenant: "default", Action: action, ObjectType: "provider", ObjectID: id,
		After: json.RawMessage(`{"id":"` + id + `"}`)}
}

func TestProviders(t *testing.T) { forEach(t, testProviders) }

func testProviders(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	p := ProviderRecord{ID: "prv_1", Name: "openai-main", Type: "openai", BaseURL: "https://api.example.com/v1",
		Settings:         ProviderSettings{Headers: map[string]string{"X-Team": "a"}, Timeouts: ProviderTimeouts{Total: "30s"}, RetryOn: []int{429}},
		APIKeyCiphertext: "v1:dek-x:AAAA", APIKeyLast4: "wxyz", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateProvider(ctx, p, auditFor("provider.create", p.ID)); err != nil {
		t.Fatal(err)
	}
	dup := p
	dup.ID = "prv_2"
	if err := s.CreateProvider(ctx, dup, auditFor("provider.create", dup.ID)); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: err = %v, want ErrConflict", err)
	}
	got, err := s.GetProvider(ctx, "prv_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Name != p.Name || got.Settings.Headers["X-Team"] != "a" || got.Settings.Timeouts.Total != "30s" ||
		got.APIKeyCiphertext != p.APIKeyCiphertext || got.APIKeyLast4 != "wxyz" || !got.CreatedAt.Equal(now) || got.Settings.RetryOn[0] != 429 {
		t.Fatalf("round trip: %+v", got)
	}
	if _, err := s.GetProvider(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetProvider(nope) = %v", err)
	}

	upd := got
	upd.BaseURL = "https://other.example.com/v1"
	upd.UpdatedAt = now.Add(time.Second)
	if err := s.UpdateProvider(ctx, upd, 2, auditFor("provider.update", upd.ID)); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale version: err = %v, want ErrVersionMismatch", err)
	}
	if err := s.UpdateProvider(ctx, upd, 1, auditFor("provider.update", upd.ID)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetProvider(ctx, "prv_1")
	if got.Version != 2 || got.BaseURL != upd.BaseURL || !got.UpdatedAt.Equal(upd.UpdatedAt) || !got.CreatedAt.Equal(now) {
		t.Fatalf("after update: %+v", got)
	}
	missing := upd
	missing.ID = "prv_missing"
	if err := s.UpdateProvider(ctx, missing, 1, auditFor("provider.update", "prv_missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: err = %v", err)
	}

	// A second provider, then a rename onto the first one's name.
	p2 := p
	p2.ID, p2.Name = "prv_2", "anthropic-main"
	if err := s.CreateProvider(ctx, p2, auditFor("provider.create", p2.ID)); err != nil {
		t.Fatal(err)
	}
	p2.Name = "openai-main"
	if err := s.UpdateProvider(ctx, p2, 1, auditFor("provider.update", p2.ID)); !errors.Is(err, ErrConflict) {
		t.Fatalf("rename onto a taken name: err = %v, want ErrConflict", err)
	}
	list, err := s.ListProviders(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "anthropic-main" || list[1].Name != "openai-main" {
		t.Fatalf("ListProviders = %+v, %v", list, err)
	}

	if err := s.DeleteProvider(ctx, "prv_1", 1, auditFor("provider.delete", "prv_1")); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("delete with a stale version: %v", err)
	}
	if err := s.DeleteProvider(ctx, "prv_1", 2, auditFor("provider.delete", "prv_1")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProvider(ctx, "prv_1", 0, auditFor("provider.delete", "prv_1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.DeleteProvider(ctx, "prv_2", 0, auditFor("provider.delete", "prv_2")); err != nil {
		t.Fatalf("delete without a version: %v", err)
	}

	// Exactly one audit row per change that happened (2 creates, 1 update,
	// 2 deletes); the rejected writes left none.
	entries, err := s.ListAudit(ctx, AuditFilter{Limit: 100, ObjectType: "provider"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" "+e.ObjectID)
	}
	want := "[provider.delete prv_2 provider.delete prv_1 provider.create prv_2 provider.update prv_1 provider.create prv_1]"
	if fmt.Sprint(actions) != want {
		t.Fatalf("audit rows (newest first) = %v\nwant %s", actions, want)
	}
}

// A failed audit insert rolls the change back: no change without its row.
func TestProviderChangeNeedsItsAuditRow(t *testing.T) { forEach(t, testProviderChangeNeedsAudit) }

func testProviderChangeNeedsAudit(t *testing.T, s *Store) {
	ctx := context.Background()
	p := ProviderRecord{ID: "prv_1", Name: "x", Type: "openai", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := s.CreateProvider(ctx, p, AuditEntry{}); err == nil { // no actor: the insert fails
		t.Fatal("a create with an invalid audit entry succeeded")
	}
	if _, err := s.GetProvider(ctx, "prv_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the provider was stored without its audit row: %v", err)
	}
}

func TestSettingCreateAndSwap(t *testing.T) { forEach(t, testSettingCreateAndSwap) }

func testSettingCreateAndSwap(t *testing.T, s *Store) {
	ctx := context.Background()
	// Many creators at once: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateSetting(ctx, "k", fmt.Sprint(i))
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d creators won, want 1", wins)
	}
	v, _ := s.Setting(ctx, "k")
	if err := s.SwapSetting(ctx, "k", "not-"+v, "new"); !errors.Is(err, ErrConflict) {
		t.Fatalf("swap from a stale value: %v", err)
	}
	if err := s.SwapSetting(ctx, "k", v, "new"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Setting(ctx, "k"); got != "new" {
		t.Fatalf("after swap: %q", got)
	}
	if err := s.SwapSetting(ctx, "absent", "", "x"); !errors.Is(err, ErrConflict) {
		t.Fatalf("swap of an absent setting: %v", err)
	}
}
