package console

import (
	"fmt"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/internal/store"
)

func TestKeyPage(t *testing.T) {
	var keys []store.KeyRecord
	for i := range 7 {
		keys = append(keys, store.KeyRecord{ID: fmt.Sprintf("key_%d", 9-i), Name: fmt.Sprintf("k%d", i%3)})
	}
	ids := func(ks []store.KeyRecord) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	var all []string
	after := ""
	for range 10 {
		page, next := keyPage(slices.Clone(keys), after, 3)
		if len(page) > 3 {
			t.Fatalf("page of %d", len(page))
		}
		all = append(all, ids(page)...)
		if next == "" {
			break
		}
		after = next
	}
	want := []string{"key_3", "key_6", "key_9", "key_5", "key_8", "key_4", "key_7"} // by name, then id
	if !slices.Equal(all, want) {
		t.Fatalf("pages %v, want %v", all, want)
	}
	if page, next := keyPage(slices.Clone(keys), "", 7); len(page) != 7 || next != "" {
		t.Fatalf("one full page: %d, next %q", len(page), next)
	}
}
