package product

import "fmt"

// VersionState is where a product version is in its life.
type VersionState string

// Version states: draft -> published -> deprecated -> retired; a
// deprecated version may be republished (rollback).
const (
	Draft      VersionState = "draft"
	Published  VersionState = "published"
	Deprecated VersionState = "deprecated"
	Retired    VersionState = "retired"
)

// VersionStates lists every version state.
var VersionStates = []VersionState{Draft, Published, Deprecated, Retired}

// VersionEvent is what moves a version from one state to another.
type VersionEvent string

// Version events.
const (
	Publish   VersionEvent = "publish"
	Deprecate VersionEvent = "deprecate"
	Retire    VersionEvent = "retire"
	// Rollback republishes a deprecated version.
	Rollback VersionEvent = "rollback"
)

// VersionEvents lists every version event.
var VersionEvents = []VersionEvent{Publish, Deprecate, Retire, Rollback}

// versionTransitions is the version state machine: from, event -> to. A
// pair that is absent is refused.
var versionTransitions = map[VersionState]map[VersionEvent]VersionState{
	Draft:      {Publish: Published},
	Published:  {Deprecate: Deprecated, Retire: Retired},
	Deprecated: {Retire: Retired, Rollback: Published},
	Retired:    {},
}

// NextVersionState returns the state event moves a version in from to,
// or an error wrapping ErrTransition.
func NextVersionState(from VersionState, ev VersionEvent) (VersionState, error) {
	if to, ok := versionTransitions[from][ev]; ok {
		return to, nil
	}
	return from, fmt.Errorf("%w: cannot %s a %s version", ErrTransition, ev, from)
}

// Served reports whether a version in state s answers requests (a
// published or deprecated one; after its sunset it answers 410).
func (s VersionState) Served() bool { return s == Published || s == Deprecated }

// SubState is where a subscription is in its life.
type SubState string

// Subscription states: pending -> active <-> suspended -> cancelled |
// expired | rejected.
const (
	Pending   SubState = "pending"
	Active    SubState = "active"
	Suspended SubState = "suspended"
	Cancelled SubState = "cancelled"
	Expired   SubState = "expired"
	Rejected  SubState = "rejected"
)

// SubStates lists every subscription state.
var SubStates = []SubState{Pending, Active, Suspended, Cancelled, Expired, Rejected}

// SubEvent is what moves a subscription from one state to another.
type SubEvent string

// Subscription events. Approve, Reject, Suspend, Resume and Cancel are
// the admin API's; Expire is the data plane's (the first request after
// expires_at) and the sweeper's.
const (
	Approve SubEvent = "approve"
	Reject  SubEvent = "reject"
	Suspend SubEvent = "suspend"
	Resume  SubEvent = "resume"
	Cancel  SubEvent = "cancel"
	Expire  SubEvent = "expire"
)

// SubEvents lists every subscription event.
var SubEvents = []SubEvent{Approve, Reject, Suspend, Resume, Cancel, Expire}

// subTransitions is the subscription state machine: from, event -> to.
// Cancelled, expired and rejected are final.
var subTransitions = map[SubState]map[SubEvent]SubState{
	Pending:   {Approve: Active, Reject: Rejected, Cancel: Cancelled},
	Active:    {Suspend: Suspended, Cancel: Cancelled, Expire: Expired},
	Suspended: {Resume: Active, Cancel: Cancelled, Expire: Expired},
	Cancelled: {},
	Expired:   {},
	Rejected:  {},
}

// NextSubState returns the state event moves a subscription in from to,
// or an error wrapping ErrTransition.
func NextSubState(from SubState, ev SubEvent) (SubState, error) {
	if to, ok := subTransitions[from][ev]; ok {
		return to, nil
	}
	return from, fmt.Errorf("%w: cannot %s a %s subscription", ErrTransition, ev, from)
}

// Final reports whether no event moves a subscription out of s.
func (s SubState) Final() bool { return len(subTransitions[s]) == 0 }

// InitialState is the state of a new subscription request to a plan: active
// for an automatic plan, pending for one that needs approval.
func InitialState(a Approval) SubState {
	if a == Auto {
		return Active
	}
	return Pending
}
