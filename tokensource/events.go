package tokensource

import (
	"fmt"
	"time"
)

// EventKind says what happened to an account's tokens.
type EventKind int

const (
	// EventRefreshed: a new access token was obtained from the provider.
	EventRefreshed EventKind = iota + 1
	// EventRotated: the provider issued a new refresh token; it was saved
	// (or, if saving failed, EventSaveFailed follows).
	EventRotated
	// EventAdopted: a newer token saved by another process or Source
	// sharing the store was taken instead of refreshing.
	EventAdopted
	// EventSaveFailed: saving a token failed; it is kept in memory and
	// the save is retried. Err says why.
	EventSaveFailed
	// EventSaved: a token whose save had failed was saved.
	EventSaved
	// EventRefreshFailed: a refresh failed, after all its attempts, with
	// an error that is not "login required": Err is an *Error from the
	// token endpoint (often Temporary) or the store's error. The current
	// token, if still valid, is served, and the refresh is retried at the
	// scheduler's next back-off step. One event per refresh.
	EventRefreshFailed
	// EventLoginRequired: the account must log in again. Err is the
	// *LoginRequiredError.
	EventLoginRequired
)

var kindText = map[EventKind]string{
	EventRefreshed:     "refreshed",
	EventRotated:       "rotated",
	EventAdopted:       "adopted",
	EventSaveFailed:    "save failed",
	EventSaved:         "saved",
	EventRefreshFailed: "refresh failed",
	EventLoginRequired: "login required",
}

// String returns the kind's name.
func (k EventKind) String() string {
	if s, ok := kindText[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event describes something that happened to the tokens of Key. It holds
// no secret.
type Event struct {
	Kind   EventKind
	Key    string
	Time   time.Time // when it happened, by Config.Now
	Expiry time.Time // the current access token's expiry, zero when unknown or none
	Err    error     // why, for EventSaveFailed, EventRefreshFailed and EventLoginRequired
}
