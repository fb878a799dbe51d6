package runtime

import (
	"strconv"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/internal/route"
)

// Live is the data plane's state that outlives any one snapshot: the health
// of every target and upstream key, each route's router (with its balancing
// state) and each provider's key pool (with its rotation). Compile never
// creates such state itself; it asks Live for the object that belongs to an
// identity (a target's provider and model; a route's model, name, policy and
// targets; a provider's name and keys), so that two snapshots compiled from
// the same inputs share every live object and are equal as values, and a
// reload keeps the state of everything it does not change.
//
// A Live is safe for concurrent use. Retain drops the objects that the
// running snapshot no longer uses; snapshots still being read keep theirs
// until they are collected.
type Live struct {
	health *route.Registry

	mu      sync.Mutex // guards routers and pools
	routers map[string]*route.Router
	pools   map[string]*KeyPool
}

// NewLive returns the live state of a data plane whose target health is
// health (a new registry when nil).
func NewLive(health *route.Registry) *Live {
	if health == nil {
		health = route.NewRegistry(route.HealthOptions{})
	}
	return &Live{health: health, routers: map[string]*route.Router{}, pools: map[string]*KeyPool{}}
}

// Health returns the target health registry.
func (l *Live) Health() *route.Registry { return l.health }

// router returns the router for the route identified by id, making it from
// policy and targets the first time. id must name everything that makes the
// router behave differently: the policy and each target's health identity,
// weight and cost.
func (l *Live) router(id string, policy route.Policy, targets []route.Target) (*route.Router, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.routers[id]; r != nil {
		return r, nil
	}
	r, err := route.NewRouter(policy, targets)
	if err != nil {
		return nil, err
	}
	l.routers[id] = r
	return r, nil
}

// keyPool returns the key pool of providerName over keys, making it the
// first time.
func (l *Live) keyPool(providerName string, keys []string) *KeyPool {
	id := identity(append([]string{providerName}, keys...)...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pools[id]; p != nil {
		return p
	}
	p := newKeyPool(l.health, providerName, keys)
	l.pools[id] = p
	return p
}

// Retain forgets the routers and key pools that s does not use, so that
// routes and keys removed by reloads do not accumulate. Call it after
// publishing s.
func (l *Live) Retain(s *Snapshot) {
	routers := map[*route.Router]bool{}
	pools := map[*KeyPool]bool{}
	for _, m := range s.Models {
		for _, rt := range append([]*Route{m.Default}, m.Routes...) {
			if rt == nil {
				continue
			}
			routers[rt.Router] = true
			for _, t := range rt.Targets {
				pools[t.Keys] = true
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, r := range l.routers {
		if !routers[r] {
			delete(l.routers, id)
		}
	}
	for id, p := range l.pools {
		if !pools[p] {
			delete(l.pools, id)
		}
	}
}

// size returns how many routers and key pools l holds (for tests).
func (l *Live) size() (routers, pools int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.routers), len(l.pools)
}

// identity joins parts into a map key that no other list of parts gives:
// each part is prefixed with its length.
func identity(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}
