package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrNotFound is returned, possibly wrapped, by [Store.Load] when the store
// holds no record for the key. Test for it with errors.Is.
var ErrNotFound = errors.New("storage: token not found")

// Token is the record a [Store] persists for one account.
//
// Token holds secrets: its String, GoString, Format, LogValue and
// MarshalJSON methods redact the access, refresh and ID tokens, so
// printing a Token or a *Token with any fmt verb, logging it with
// log/slog (alone or inside a struct, slice or map, with the text or the
// JSON handler) or encoding it with encoding/json never reveals them.
// Consequently Token has no JSON form that keeps its tokens: a store that
// serialises records copies the fields into a type of its own, as [File]
// does. One case is out of Token's reach: fmt cannot call methods on an
// unexported field of another struct, so a Token value in such a field is
// printed field by field; hold a *Token there (printed as an address) or
// give that struct a String method.
type Token struct {
	AccessToken  string
	TokenType    string // as the token endpoint sent it, e.g. "Bearer"
	RefreshToken string
	IDToken      string // the newest ID token, or "" when none was issued
	Scope        string // the granted scope, space separated, "" when unknown

	Expiry        time.Time // when AccessToken expires; zero when unknown
	RefreshExpiry time.Time // when RefreshToken expires; zero when unknown
	AuthTime      time.Time // when the user last logged in interactively; zero when unknown

	// DPoPKey is the private key the tokens are bound to with DPoP
	// (RFC 9449), in the encoding package tokensource gives it
	// (DPoPKey.Encode: the key's PKCS #8 DER, base64url), or "" when the tokens are
	// Bearer tokens. It is as secret as the refresh token, which is useless
	// without it: every store keeps it where it keeps the refresh token,
	// and no printed form of a Token shows it.
	DPoPKey string

	// Version orders the records of one key: package tokensource sets it
	// to one more than the newest version it has seen on every save, so a
	// higher Version is always the newer record.
	Version uint64
}

// Clone returns a copy of t. Token has no reference fields, so the copy
// shares nothing with t. Clone of nil is nil.
func (t *Token) Clone() *Token {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// String describes t without revealing any token.
//
// String, GoString, Format and LogValue have value receivers so that a
// Token value (a dereferenced *Token, a field or map element of another
// type) is redacted too, not only a *Token. fmt prints a nil *Token as
// <nil>; log/slog reports it as a LogValue panic, without secrets.
func (t Token) String() string {
	return fmt.Sprintf("storage.Token{AccessToken:%s TokenType:%q RefreshToken:%s IDToken:%s Scope:%q Expiry:%s RefreshExpiry:%s AuthTime:%s DPoPKey:%s Version:%d}",
		redacted(t.AccessToken), t.TokenType, redacted(t.RefreshToken), redacted(t.IDToken), t.Scope,
		formatTime(t.Expiry), formatTime(t.RefreshExpiry), formatTime(t.AuthTime), redacted(t.DPoPKey), t.Version)
}

// GoString is String: %#v never reveals a token either.
func (t Token) GoString() string { return t.String() }

// Format implements fmt.Formatter so that every verb, %x and %q included,
// prints the redacted form.
func (t Token) Format(f fmt.State, verb rune) {
	fmt.Fprint(f, t.String())
}

// LogValue implements slog.LogValuer with the redacted fields.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", redacted(t.AccessToken)),
		slog.String("token_type", t.TokenType),
		slog.String("refresh_token", redacted(t.RefreshToken)),
		slog.String("id_token", redacted(t.IDToken)),
		slog.String("scope", t.Scope),
		slog.Time("expiry", t.Expiry),
		slog.Time("refresh_expiry", t.RefreshExpiry),
		slog.Time("auth_time", t.AuthTime),
		slog.String("dpop_key", redacted(t.DPoPKey)),
		slog.Uint64("version", t.Version),
	)
}

// MarshalJSON implements json.Marshaler with the redacted fields, named as
// in LogValue, so that slog's JSON handler never reveals a token nested in
// another value. It cannot fail.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AccessToken   string    `json:"access_token"`
		TokenType     string    `json:"token_type"`
		RefreshToken  string    `json:"refresh_token"`
		IDToken       string    `json:"id_token"`
		Scope         string    `json:"scope"`
		Expiry        time.Time `json:"expiry"`
		RefreshExpiry time.Time `json:"refresh_expiry"`
		AuthTime      time.Time `json:"auth_time"`
		DPoPKey       string    `json:"dpop_key,omitempty"`
		Version       uint64    `json:"version"`
	}{redactedJSON(t.AccessToken), t.TokenType, redactedJSON(t.RefreshToken), redactedJSON(t.IDToken), t.Scope,
		t.Expiry, t.RefreshExpiry, t.AuthTime, redactedJSON(t.DPoPKey), t.Version})
}

// redactedJSON is redacted for a JSON string: empty stays empty.
func redactedJSON(s string) string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return t.UTC().Format(time.RFC3339)
}

// Store persists one [Token] record per account key.
//
// Implementations must be safe for concurrent use by multiple goroutines.
// They must not retain or modify the *Token passed to Save, and the *Token
// returned by Load must not alias any state the store keeps: callers may
// modify it. Every method honours ctx for any I/O it does.
type Store interface {
	// Load returns the record saved under key. If there is none it returns
	// an error for which errors.Is(err, ErrNotFound) is true. Any other
	// error means the record could not be read; it must not be taken as
	// "no record", since a caller that then logs in again would overwrite
	// a refresh token it could still use.
	Load(ctx context.Context, key string) (*Token, error)

	// Save replaces the whole record under key with t. When Save returns
	// nil the record is durable to the degree the store promises; when it
	// returns an error the previous record must still be loadable.
	//
	// Save is fenced by [Token.Version]: when the store holds a record for
	// key whose Version is at or above t.Version, Save leaves it as it is
	// and returns an error matching [ErrStale]; the caller should Load the
	// stored record and adopt it. A t with Version 0 is unversioned and is
	// never refused for this reason; after Delete any Version is accepted.
	// The check and the write are one step for the goroutines of one
	// process; processes that share a store make them one step by holding
	// the store's [Locker] lock for the key around Load and Save, as
	// package tokensource does.
	Save(ctx context.Context, key string, t *Token) error

	// Delete removes the record under key. Deleting an absent key is not
	// an error.
	Delete(ctx context.Context, key string) error
}

// Locker is implemented by stores that can serialise the refreshes of one
// account, across processes where the store is shared between processes.
//
// Lock blocks until it holds the lock for key or ctx is done, in which case
// it returns an error wrapping ctx.Err(). The returned unlock function
// releases the lock; it must be called exactly once. A lock held by a
// process that dies must be released by the operating system or expire:
// it must never be left held forever.
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func() error, err error)
}
