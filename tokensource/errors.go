package tokensource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// ErrLoginRequired matches, with errors.Is, every error that means the
// account must log in again interactively. The error is a
// [*LoginRequiredError]; use errors.As to learn the [Reason].
var ErrLoginRequired = errors.New("tokensource: login required")

// ErrMalformedResponse is wrapped by the Err of an [*Error] whose response
// was not a usable token response: not JSON, no access_token, an unknown
// token_type, an out-of-range expires_in, duplicate members, a body over
// 1 MiB, and the like.
var ErrMalformedResponse = oauthwire.ErrMalformed

// ErrInvalidClient matches, with errors.Is, an [*Error] in which the
// token endpoint refused the client itself (invalid_client or
// unauthorized_client): its credentials or its registration are wrong.
// A new login would not help, so it is not [ErrLoginRequired]; it is not
// temporary either, and the Source asks again only on its back-off
// schedule.
var ErrInvalidClient = errors.New("tokensource: the token endpoint refused the client")

// ErrClosed is returned by a [Source] that needs to refresh after Close.
var ErrClosed = errors.New("tokensource: source closed")

// StoreError is a failure of the account's [storage.Store]: its lock, a
// read, a write or a delete. Err is the store's error (stores keep secrets
// out of their errors).
type StoreError struct {
	Op  string // "lock", "load", "save" or "delete"
	Key string // the account's key
	Err error
}

func (e StoreError) Error() string { return fmt.Sprintf("tokensource: %s %q: %v", e.Op, e.Key, e.Err) }

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed: true for a
// store that could not be reached, locked in time or written, false when
// the record cannot be used as it is (a wrong key, a corrupt or rolled-back
// record, insecure permissions, a record too big), which needs someone to
// act.
func (e *StoreError) Temporary() bool {
	for _, permanent := range []error{storage.ErrWrongKey, storage.ErrCorrupt, storage.ErrUnsupportedVersion, storage.ErrInsecurePermissions, storage.ErrRolledBack, storage.ErrTooBig} {
		if errors.Is(e.Err, permanent) {
			return false
		}
	}
	return true
}

// Reason says why an account must log in again.
type Reason int

const (
	// ReasonNoToken: the store holds no token for the account.
	ReasonNoToken Reason = iota + 1
	// ReasonNoRefreshToken: the access token expired and there is no
	// refresh token (offline_access was not granted).
	ReasonNoRefreshToken
	// ReasonRejected: the provider rejected the refresh token (revoked,
	// expired, consent withdrawn, policy changed, reuse detected). Err is
	// the provider's [*Error].
	ReasonRejected
	// ReasonRefreshExpired: the refresh token's expiry, as the provider
	// announced it, has passed.
	ReasonRefreshExpired
	// ReasonSessionExpired: Config.MaxSessionAge has passed since the
	// last interactive login.
	ReasonSessionExpired
	// ReasonLoggedOut: the account was removed with Source.Forget, or its
	// record was deleted from the store by another process.
	ReasonLoggedOut
	// ReasonCheckFailed: Config.CheckRefresh refused a refresh's tokens.
	// Err is its error.
	ReasonCheckFailed
)

var reasonText = map[Reason]string{
	ReasonNoToken:        "no stored token",
	ReasonNoRefreshToken: "access token expired and there is no refresh token",
	ReasonRejected:       "the provider rejected the refresh token",
	ReasonRefreshExpired: "the refresh token has expired",
	ReasonSessionExpired: "the maximum session age has passed",
	ReasonLoggedOut:      "logged out",
	ReasonCheckFailed:    "the refreshed tokens failed a check",
}

// String returns a short English description of r.
func (r Reason) String() string {
	if s, ok := reasonText[r]; ok {
		return s
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// LoginRequiredError is returned when the account must log in again.
// errors.Is(err, ErrLoginRequired) is true for it.
type LoginRequiredError struct {
	Reason Reason
	Err    error // the provider's *Error for ReasonRejected, CheckRefresh's error for ReasonCheckFailed, else nil
}

func (e LoginRequiredError) Error() string {
	if e.Err != nil {
		return "tokensource: login required: " + e.Reason.String() + ": " + e.Err.Error()
	}
	return "tokensource: login required: " + e.Reason.String()
}

// MarshalJSON writes the error string and the reason, so that a
// LoginRequiredError nested in a value logged by slog's JSON handler
// shows nothing its error string does not.
func (e LoginRequiredError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}{e.Error(), e.Reason.String()})
}

// Temporary reports false: logging in again is not something a retry
// does, whatever error a LoginRequiredError wraps (a CheckRefresh that
// failed on the network, say). It stops errors.As from finding a
// temporary error deeper in the chain.
func (e LoginRequiredError) Temporary() bool { return false }

// Is reports whether target is [ErrLoginRequired].
func (e *LoginRequiredError) Is(target error) bool { return target == ErrLoginRequired }

// Unwrap returns the provider's error, if any.
func (e *LoginRequiredError) Unwrap() error { return e.Err }

// Error is a failed token request: the token endpoint answered with an
// RFC 6749 §5.2 error, with an unusable response, or could not be reached.
//
// No field holds a token or a client secret: secrets the request carried
// are removed from Description and Body.
type Error struct {
	// Code, Description and URI are the RFC 6749 §5.2 error, "" when the
	// response carried none. Description has control characters and
	// markup removed.
	Code, Description, URI string
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Header is the response's header, nil when no response arrived.
	Header http.Header
	// Body is the start (at most 1 KiB) of the response body. It is not
	// part of the error string.
	Body []byte
	// RetryAfter is the delay the server asked for with Retry-After,
	// 0 when it asked for none.
	RetryAfter time.Duration
	// Err is the underlying cause: a network or timeout error, or a
	// malformed-response error wrapping [ErrMalformedResponse]. nil when
	// the server sent an error code.
	Err error

	netFail bool // the request or the response body failed in transit

	// A successful answer refused for another reason (e.g. a malformed
	// expires_in) may still have rotated the refresh token: the new one
	// and its expiry, kept only to be saved. "" when none.
	rotated       string
	rotatedExpiry time.Time
}

func (e Error) Error() string {
	return oauthwire.ErrorString("tokensource: token endpoint", e.Code, e.Description, e.Err, e.StatusCode)
}

// Format implements fmt.Formatter: every verb prints the error string,
// so neither the Header nor the Body is dumped by accident, for an Error
// value or pointer alike.
func (e Error) Format(f fmt.State, verb rune) { fmt.Fprint(f, e.Error()) }

// MarshalJSON writes the error string, code and status only, so that an
// Error nested in another value logged by slog's JSON handler shows no
// Header or Body.
func (e Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Error      string `json:"error"`
		Code       string `json:"code,omitempty"`
		StatusCode int    `json:"status,omitempty"`
	}{e.Error(), e.Code, e.StatusCode})
}

// As lets errors.As find an *[oauth2.RetrieveError], as code written for
// x/oauth2 expects of a failed token request: with errors.As(err, &re),
// re carries the endpoint's code, description, URI, status, (scrubbed)
// header and the start of the (scrubbed) body. It is a copy: changing it
// changes nothing here. An Error with no HTTP answer (a network failure)
// has no RetrieveError.
func (e *Error) As(target any) bool {
	p, ok := target.(**oauth2.RetrieveError)
	if !ok || e.StatusCode == 0 {
		return false
	}
	*p = &oauth2.RetrieveError{
		Response:         &http.Response{StatusCode: e.StatusCode, Status: fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode)), Header: e.Header.Clone()},
		Body:             bytes.Clone(e.Body),
		ErrorCode:        e.Code,
		ErrorDescription: e.Description,
		ErrorURI:         e.URI,
	}
	return true
}

// Is reports whether target is [ErrInvalidClient] and the endpoint
// refused the client.
func (e *Error) Is(target error) bool {
	return target == ErrInvalidClient && !e.Temporary() && (e.Code == "invalid_client" || e.Code == "unauthorized_client")
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the same request may succeed later: the
// request or the response failed in transit (refused, reset, timed out,
// TLS failure), or the server answered 408, 429 or any 5xx, whatever error
// code it sent, or sent the error codes temporarily_unavailable,
// server_error or use_dpop_nonce (a DPoP server that wants a newer nonce
// than the one it was sent, RFC 9449 §8).
func (e *Error) Temporary() bool {
	switch {
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500:
		return true
	case e.Code == "temporarily_unavailable", e.Code == "server_error":
		return true
	case e.Code == "use_dpop_nonce":
		// The server rotated its DPoP nonce again before the retry with
		// the one it had sent: the next attempt carries the newest.
		return true
	}
	return e.netFail
}

// loginRequired reports whether the answer means the refresh token will
// never work again: invalid_grant (RFC 6749 §5.2), and, on a refresh-token
// grant, invalid_request, which some providers (Dex) send for a spent or
// unknown refresh token and which can never succeed on retry either. A
// temporary answer (any 5xx, 408, 429) never does, whatever its code.
func (e *Error) loginRequired(g Grant) bool {
	if e.Temporary() {
		return false
	}
	return e.Code == "invalid_grant" || e.Code == "invalid_request" && g == GrantRefreshToken
}
