package runtime

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/route"
)

// liveFile has a weighted route over two targets of a provider with a key
// pool, a second model and a conditional route: every kind of live object.
func liveFile(weightB int) *config.File {
	return &config.File{Version: 1,
		Providers: []config.Provider{{Name: "p", Type: "openai", BaseURL: "https://p.example/v1", APIKeys: []string{"k0", "k1", "k2"}}},
		Models: []config.Model{
			{Name: "a", Routing: config.Routing{Policy: "weighted"},
				Targets: []config.Target{{Provider: "p", Model: "x", Weight: 3}, {Provider: "p", Model: "y", Weight: 1}},
				Routes:  []config.Route{{Name: "beta", Match: config.Match{Headers: map[string]string{"x-beta": "1"}}, Targets: []config.Target{{Provider: "p", Model: "y"}}}}},
			{Name: "b", Routing: config.Routing{Policy: "weighted"},
				Targets: []config.Target{{Provider: "p", Model: "x", Weight: 1}, {Provider: "p", Model: "z", Weight: weightB}}},
		},
	}
}

// use exercises every live object of s: routers advance their round robin,
// key pools rotate, a target fails.
func use(s *Snapshot) {
	for _, name := range s.ModelNames {
		m := s.Models[name]
		for _, rt := range append([]*Route{m.Default}, m.Routes...) {
			for range 3 {
				rt.Router.Plan("")
				rt.Targets[0].Keys.Pick()
			}
		}
	}
	s.Models["a"].Default.Targets[1].Health.Failure()
}

// asValue is s without the fields that differ between two compiles by
// design: its version and compile time.
func asValue(s *Snapshot) Snapshot {
	v := *s
	v.Version, v.LoadedAt = 0, time.Time{}
	return v
}

// TestSnapshotIsAValue: compiling the same inputs twice against the same
// Live gives equal snapshots, even after the first one served requests,
// because every live object is the Live's, not the snapshot's.
func TestSnapshotIsAValue(t *testing.T) {
	live := NewLive(nil)
	in := stubInputs(liveFile(1))
	in.Live = live
	first, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	use(first)
	second, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(asValue(first), asValue(second)) {
		t.Fatal("two compiles of the same inputs differ: the snapshot holds state of its own")
	}
	for _, name := range []string{"a", "b"} {
		if first.Models[name].Default.Router != second.Models[name].Default.Router {
			t.Errorf("model %s: a new router for an unchanged route", name)
		}
		if first.Models[name].Default.Targets[0].Keys != second.Models[name].Default.Targets[0].Keys {
			t.Errorf("model %s: a new key pool for unchanged keys", name)
		}
	}
	// A Live of its own gives objects of its own: the equality above is
	// not that of pointers to nothing.
	other := stubInputs(liveFile(1))
	other.Live = NewLive(nil)
	third, err := Compile(other)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(asValue(first), asValue(third)) {
		t.Error("a snapshot that served requests equals a fresh one compiled against a new Live")
	}
}

// TestReloadKeepsLiveState: a recompile keeps the router, key pool and
// health of what it does not change, replaces the router of a changed
// route, and Retain forgets what the new snapshot no longer uses.
func TestReloadKeepsLiveState(t *testing.T) {
	live := NewLive(route.NewRegistry(route.HealthOptions{ConsecutiveFailures: 1}))
	in := stubInputs(liveFile(1))
	in.Live = live
	before, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	use(before)
	live.Retain(before)
	routers, pools := live.size()
	if routers != 3 || pools != 1 {
		t.Fatalf("live holds %d routers and %d key pools, want 3 and 1", routers, pools)
	}

	in.File = liveFile(5) // model b's second target changes weight
	after, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	live.Retain(after)
	a0, a1 := before.Models["a"], after.Models["a"]
	if a0.Default.Router != a1.Default.Router || a0.Routes[0].Router != a1.Routes[0].Router {
		t.Error("an unchanged route got a new router (its balancing state was lost)")
	}
	if before.Models["b"].Default.Router == after.Models["b"].Default.Router {
		t.Error("a route whose weights changed kept its old router")
	}
	if h := a1.Default.Targets[1].Health; h != a0.Default.Targets[1].Health || h.Status().State != route.Ejected {
		t.Errorf("the health of an unchanged target was not kept: %+v", h.Status())
	}
	if a0.Default.Targets[0].Keys != after.Models["b"].Default.Targets[0].Keys {
		t.Error("the provider's key pool was not kept")
	}
	if routers, pools := live.size(); routers != 3 || pools != 1 {
		t.Errorf("after Retain live holds %d routers and %d key pools, want 3 and 1", routers, pools)
	}

	// A provider whose keys change gets a new pool; the old one goes.
	changed := liveFile(5)
	changed.Providers[0].APIKeys = []string{"k8", "k9"}
	in.File = changed
	keyed, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	live.Retain(keyed)
	if keyed.Models["a"].Default.Targets[0].Keys == a1.Default.Targets[0].Keys {
		t.Error("new upstream keys kept the old key pool")
	}
	if _, pools := live.size(); pools != 1 {
		t.Errorf("after the keys changed live holds %d key pools, want 1", pools)
	}
}

// TestIdentityIsUnambiguous: parts that concatenate alike still give
// different identities.
func TestIdentityIsUnambiguous(t *testing.T) {
	tests := []struct{ a, b []string }{
		{[]string{"ab", "c"}, []string{"a", "bc"}},
		{[]string{"a\x00b"}, []string{"a", "b"}},
		{[]string{"1:a"}, []string{"1", "a"}},
		{[]string{""}, nil},
	}
	for _, tc := range tests {
		if identity(tc.a...) == identity(tc.b...) {
			t.Errorf("identity(%q) == identity(%q)", tc.a, tc.b)
		}
	}
}
