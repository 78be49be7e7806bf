package tokensource

import (
	"math"
	"strings"
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
	// With err: the highest Version the Source had seen, its dead record's
	// included. A stored record above it is a new login, or a peer's.
	deadVersion uint64
}

// usable reports whether e's token is fresh at now and is not rejected.
func (e *entry) usable(now time.Time, rejected string) bool {
	return e.tok != nil && e.fresh(now) && e.tok.AccessToken != rejected
}

// version is the Version of e's record, or for an entry without one the
// highest Version its Source had seen. A nil entry has version 0.
func (e *entry) version() uint64 {
	switch {
	case e == nil:
		return 0
	case e.rec != nil:
		return e.rec.Version
	}
	return e.deadVersion
}

// isDead reports whether rec is no newer than what made e a dead entry:
// the dead record itself, or an older one (which carries a refresh token
// that was redeemed before the dead one). A record at a higher Version
// was saved since, by a new login (whose Version comes from the clock) or
// a peer's refresh, even if it carries the same refresh token, as
// providers that do not rotate issue it.
func (e *entry) isDead(rec *storage.Token) bool {
	return rec.Version <= e.deadVersion
}

// olderThan reports whether stored should replace e: e has no record
// (none loaded yet, or a login is required and stored is not the dead
// record), or stored has a higher Version, or the same Version with other
// tokens (the store, which every peer reads, is the tie-breaker). A
// Source never adopts a lower Version.
func (e *entry) olderThan(stored *storage.Token) bool {
	switch {
	case e == nil || e.rec == nil:
		return true
	case stored.Version != e.rec.Version:
		return stored.Version > e.rec.Version
	}
	return !sameTokens(stored, e.rec)
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
// (negative: no early refresh), sessionEnd the end of the session
// allowed by Config.MaxSessionAge (zero: none), and jitter returns a
// random duration below its argument.
func newEntry(rec *storage.Token, now time.Time, lead time.Duration, sessionEnd time.Time, jitter func(time.Duration) time.Duration) *entry {
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
	lead += jitter(lead / 4) // spread replicas' refreshes
	lead = max(lead, skew)
	e.expireAt = now.Add(remaining - skew)
	e.staleAt = now.Add(remaining - lead)
	e.expireWall = end.Add(-skew).UnixNano()
	e.staleWall = end.Add(-lead).UnixNano()
	return e
}

// deadEntry is the state after a login became required: no token, err
// returned to every caller until a new token is stored. dead is the
// record whose refresh token died (nil when none) and seen the highest
// Version the Source had seen.
func deadEntry(err error, dead *storage.Token, seen uint64) *entry {
	e := &entry{err: err, deadVersion: seen}
	if dead != nil {
		e.deadVersion = max(seen, dead.Version)
	}
	return e
}

// oauthToken is the token handed to callers. It carries no refresh token:
// callers of a Source never need it, and every copy is one more place it
// could leak from. The ID token and scope are available with Extra.
func oauthToken(rec *storage.Token) *oauth2.Token {
	typ := "Bearer"
	if strings.EqualFold(rec.TokenType, DPoPTokenType) {
		typ = DPoPTokenType // sent as "Authorization: DPoP" with a proof
	}
	t := &oauth2.Token{AccessToken: rec.AccessToken, TokenType: typ, Expiry: rec.Expiry}
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
