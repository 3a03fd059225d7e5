package store

import (
	"context"
	"time"
)

// ScheduleRecord is a stored Batch job schedule. The jobs package owns the
// meaning of Spec (the schedule as JSON); the other fields are the columns
// that lists and the firing loop select on.
type ScheduleRecord struct {
	// AccountKey is the Batch account's ARM resource ID in lower case.
	AccountKey string
	// ID is the schedule ID as created; Key is ID in lower case.
	ID  string
	Key string
	// State is the Batch job schedule state ("active", "disabled",
	// "terminating", "completed", "deleting").
	State string
	// WakeAt is when the firing loop must next look at the schedule (zero:
	// never). Only active schedules are woken.
	WakeAt  time.Time
	Spec    []byte
	Version int64
	// CreatedAt is set by the store on create; UpdatedAt on every write.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ScheduleListParams selects job schedules in (account, key) order.
type ScheduleListParams struct {
	// AccountKey restricts the list to one account ("" for every account).
	AccountKey string
	// States, when non-empty, restricts the list to schedules in one of the states.
	States []string
	Page   Page
}

// ScheduleStore keeps Batch job schedules. ScheduleUpdate is a
// compare-and-swap on the row's version, so two replicas that both find a
// schedule due cannot both advance it.
type ScheduleStore interface {
	// ScheduleCreate stores a new schedule; EConflict if the account has one with that key.
	ScheduleCreate(ctx context.Context, r ScheduleRecord) (ScheduleRecord, error)
	// ScheduleGet returns the account's schedule (ID case-insensitive), or ENotFound.
	ScheduleGet(ctx context.Context, accountKey, id string) (ScheduleRecord, error)
	// ScheduleUpdate applies fn to the schedule under compare-and-swap; State,
	// WakeAt and Spec may change. ENotFound if absent; an error from fn is
	// returned as is and nothing is written.
	ScheduleUpdate(ctx context.Context, accountKey, id string, fn func(*ScheduleRecord) error) (ScheduleRecord, error)
	// ScheduleDelete removes the schedule, or returns ENotFound.
	ScheduleDelete(ctx context.Context, accountKey, id string) error
	// ScheduleList lists schedules with a next-page token ("" on the last page).
	ScheduleList(ctx context.Context, p ScheduleListParams) ([]ScheduleRecord, string, error)
	// ScheduleDue returns up to limit active schedules of every account
	// whose WakeAt is set and not after t, earliest first.
	ScheduleDue(ctx context.Context, t time.Time, limit int) ([]ScheduleRecord, error)
}
