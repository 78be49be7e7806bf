package tokensource

import (
	"math"
	"math/rand/v2"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// maxSkew is the most a token is taken to expire before its announced
// expiry, for clock skew and request latency (as x/oauth2's expiryDelta).
const maxSkew = 10 * time.Second

// never is how far ahead a token without expiry goes stale: a century.
const never = 100 * 365 * 24 * time.Hour

// entry is one published state of a Source: the token callers get and
// when it goes stale and expires. An entry is never modified once
// published; a new state is a new entry.
//
// Times are kept twice: staleAt and expireAt carry the monotonic clock
// reading of the moment the entry was made, so wall-clock jumps do not
// move them; staleWall and expireWall are wall-clock Unix nanoseconds, so
// that a process that was suspended (the monotonic clock stops during
// suspend on Linux) still sees its token expire on time. A token is fresh
// or valid only if both clocks say so.
type entry struct {
	tok *oauth2.Token  // what callers get; nil when there is no usable token
	rec *storage.Token // the record tok came from; nil when none

	staleAt, expireAt     time.Time
	staleWall, expireWall int64
	noExpiry              bool // the provider gave no expiry: stale and expire "never"

	unsaved bool  // rec is newer than what the store holds: a save failed
	err     error // with tok == nil: the sticky error (a login is required)
	deadRT  string
}

// fresh reports whether the token needs no refresh at now. (TokenContext
// repeats this test inline: keep the two alike.)
func (e *entry) fresh(now time.Time) bool {
	return now.Before(e.staleAt) && now.UnixNano() < e.staleWall
}

// valid reports whether the token may still be handed out at now.
func (e *entry) valid(now time.Time) bool {
	return now.Before(e.expireAt) && now.UnixNano() < e.expireWall
}

// newEntry makes the entry for rec at now. lead is Config.RefreshBefore
// (negative: no early refresh) and sessionEnd the end of the session
// allowed by Config.MaxSessionAge (zero: none).
func newEntry(rec *storage.Token, now time.Time, lead time.Duration, sessionEnd time.Time) *entry {
	e := &entry{rec: rec, tok: oauthToken(rec)}
	end := rec.Expiry
	if !sessionEnd.IsZero() && (end.IsZero() || sessionEnd.Before(end)) {
		end = sessionEnd
	}
	if end.IsZero() {
		e.noExpiry = true
		e.staleAt, e.expireAt = now.Add(never), now.Add(never)
		e.staleWall, e.expireWall = math.MaxInt64, math.MaxInt64
		return e
	}
	remaining := end.Sub(now.Round(0)) // by the wall clock: end came from it
	skew := min(maxSkew, max(remaining/10, 0))
	if lead < 0 {
		lead = 0
	}
	lead = min(lead, max(remaining/2, 0))
	if lead > 4 {
		lead += rand.N(lead / 4) // spread replicas' refreshes
	}
	lead = max(lead, skew)
	e.expireAt = now.Add(remaining - skew)
	e.staleAt = now.Add(remaining - lead)
	e.expireWall = end.Add(-skew).UnixNano()
	e.staleWall = end.Add(-lead).UnixNano()
	return e
}

// deadEntry is the state after a login became required: no token, err
// returned to every caller until a new token is stored.
func deadEntry(err error, deadRT string) *entry {
	return &entry{err: err, deadRT: deadRT}
}

// oauthToken is the token handed to callers. It carries no refresh token:
// callers of a Source never need it, and every copy is one more place it
// could leak from. The ID token and scope are available with Extra.
func oauthToken(rec *storage.Token) *oauth2.Token {
	t := &oauth2.Token{AccessToken: rec.AccessToken, TokenType: "Bearer", Expiry: rec.Expiry}
	extra := map[string]any{}
	if rec.IDToken != "" {
		extra["id_token"] = rec.IDToken
	}
	if rec.Scope != "" {
		extra["scope"] = rec.Scope
	}
	if len(extra) > 0 {
		t = t.WithExtra(extra)
	}
	return t
}
