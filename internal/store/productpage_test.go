package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/product"
)

func TestProductChildren(t *testing.T) { forEach(t, testProductChildren) }

// testProductChildren: the versions and plans of a page of products, read
// at once, are each product's own, as ListVersions and ListPlans give
// them one product at a time.
func testProductChildren(t *testing.T, s *Store) {
	ctx := context.Background()
	now := tree(t, s)
	var ids []string
	for i := range 4 {
		id := fmt.Sprintf("prd_%d", i)
		p := ProductRecord{Product: product.Product{Name: fmt.Sprintf("p%d", i), Visibility: product.Private}, ID: id, TeamID: "t1", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateProduct(ctx, p, unitAudit("product.create", id)); err != nil {
			t.Fatal(err)
		}
		for j := range i { // product i has i versions and i plans
			v := VersionRecord{Version: product.Version{Version: fmt.Sprintf("v%d", j+1), State: product.Draft, Models: map[string]string{"a": "b"}},
				ID: fmt.Sprintf("ver_%d_%d", i, j), ProductID: id, CreatedAt: now, UpdatedAt: now}
			if err := s.PutVersion(ctx, v, 0, unitAudit("version.create", v.ID)); err != nil {
				t.Fatal(err)
			}
			pl := PlanRecord{Plan: product.Plan{Name: fmt.Sprintf("plan%d", j)}, ID: fmt.Sprintf("pln_%d_%d", i, j), ProductID: id,
				CreatedAt: now, UpdatedAt: now}
			if err := s.PutPlan(ctx, pl, 0, unitAudit("plan.create", pl.ID)); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	versions, plans, err := s.ProductChildren(ctx, ids[1:])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		wantV, _ := s.ListVersions(ctx, id)
		wantP, _ := s.ListPlans(ctx, id)
		if id == ids[0] { // not asked for
			wantV, wantP = nil, nil
		}
		if fmt.Sprint(versions[id]) != fmt.Sprint(wantV) || fmt.Sprint(plans[id]) != fmt.Sprint(wantP) {
			t.Errorf("%s: versions %v plans %v, want %v and %v", id, versions[id], plans[id], wantV, wantP)
		}
	}
}
