package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// Sentinel errors. Test for them with errors.Is; the error returned also
// carries its cause (errors.As finds a *tokensource.Error,
// *oidc.TokenExpiredError and the like in it).
var (
	// ErrStateMismatch: the authorization response's state is missing or
	// is not the one sent (CSRF, or a response to another request).
	ErrStateMismatch = errors.New("client: state mismatch")
	// ErrAuthRequestUsed: the [AuthRequest] was already exchanged (a
	// replayed callback).
	ErrAuthRequestUsed = errors.New("client: authorization request already used")
	// ErrAuthRequestExpired: the [AuthRequest] is older than
	// [AuthRequestMaxAge].
	ErrAuthRequestExpired = errors.New("client: authorization request expired")
	// ErrIssuerMismatch: an issuer is not the configured one: the
	// discovery document's issuer, an authorization response's iss
	// parameter (RFC 9207, a mix-up attack), or an ID token's iss claim.
	ErrIssuerMismatch = errors.New("client: issuer mismatch")
	// ErrNonceMismatch: the ID token's nonce is not the one sent with the
	// authorization request.
	ErrNonceMismatch = errors.New("client: ID token nonce mismatch")
	// ErrAudienceMismatch: the ID token is not for this client: its aud
	// lacks the client ID or names an audience that is not in
	// Config.TrustedAudiences, it has several audiences and no azp, or its
	// azp names another client.
	ErrAudienceMismatch = errors.New("client: ID token audience mismatch")
	// ErrSubjectMismatch: a subject differs from the ID token's: a
	// refreshed ID token's (OIDC Core §12.2) or the userinfo response's
	// (OIDC Core §5.3.2).
	ErrSubjectMismatch = errors.New("client: subject mismatch")
	// ErrIDTokenExpired: the ID token's exp has passed. The error also
	// holds go-oidc's *oidc.TokenExpiredError.
	ErrIDTokenExpired = errors.New("client: ID token expired")
	// ErrInvalidIDToken: the ID token is malformed, its signature does not
	// verify with the provider's keys, it is signed with an algorithm that
	// is not allowed (none, HS256, …), or its at_hash does not match.
	ErrInvalidIDToken = errors.New("client: invalid ID token")
	// ErrIDTokenIssuedAt: the ID token has no iat, was issued more than
	// IDTokenClockSkew in the future, or, when received, is older than
	// Config.IDTokenMaxAge (OpenID Connect Core §3.1.3.7). It also matches
	// ErrInvalidIDToken.
	ErrIDTokenIssuedAt = fmt.Errorf("%w: iat", ErrInvalidIDToken)
	// ErrUnknownKeyID: no key of the provider's JWKS has the ID token's
	// kid, even after a refetch, or the JWKS was refetched less than
	// KeyRefetchInterval ago for another unknown kid. It also matches
	// ErrInvalidIDToken.
	ErrUnknownKeyID = fmt.Errorf("%w: unknown kid", ErrInvalidIDToken)
	// ErrMissingKeyID: the ID token has no kid and the provider's JWKS has
	// several keys usable for its algorithm: which one signs is
	// ambiguous. It also matches ErrInvalidIDToken.
	ErrMissingKeyID = fmt.Errorf("%w: no kid", ErrInvalidIDToken)
	// ErrAuthTimeMismatch: a refreshed ID token's auth_time is not the
	// original's, or is missing although the original had one (OpenID
	// Connect Core §12.2): the refresh did not continue the same
	// authentication.
	ErrAuthTimeMismatch = errors.New("client: refreshed ID token auth_time mismatch")
	// ErrPKCEUnsupported: the provider's discovery document lists
	// code_challenge_methods_supported without S256. The client never
	// falls back to the plain method, so interactive logins fail.
	ErrPKCEUnsupported = errors.New("client: the provider does not support PKCE with S256")
	// ErrResponseTooLarge: a response of the provider (the discovery
	// document) is larger than the client reads (1 MiB).
	ErrResponseTooLarge = errors.New("client: response too large")
	// ErrBadDeviceResponse: the device authorization response has a
	// verification URI that is neither https nor http to a loopback host
	// (javascript:, data:, plain http), a user code with control or markup
	// characters, or an interval out of range (see MaxDeviceInterval). It
	// also matches tokensource.ErrMalformedResponse.
	ErrBadDeviceResponse = fmt.Errorf("client: unsafe device authorization response: %w", tokensource.ErrMalformedResponse)
	// ErrKeysUnavailable: the provider's JWKS could not be fetched, so an
	// ID token's signature could not be checked.
	ErrKeysUnavailable = errors.New("client: provider keys unavailable")
	// ErrNoIDToken: there is no ID token: the account has none, or a
	// provider with an Issuer answered an OpenID Connect authorization
	// code exchange without one.
	ErrNoIDToken = errors.New("client: no ID token")
	// ErrLoginInProgress: a login on the same account is already running
	// in this process. Logins do not queue: the second caller gets this
	// error at once.
	ErrLoginInProgress = errors.New("client: a login is already in progress for this account")
	// ErrDeviceCodeExpired: the device code expired before the user
	// approved the login (RFC 8628 expired_token, or its expires_in
	// passed).
	ErrDeviceCodeExpired = errors.New("client: device code expired")
	// ErrAccessDenied: the user or the provider denied the authorization
	// (access_denied).
	ErrAccessDenied = errors.New("client: access denied")
	// ErrNotRevoked: Logout deleted the tokens locally but the provider
	// did not confirm their revocation (RFC 7009); they may stay valid at
	// the provider until they expire.
	ErrNotRevoked = errors.New("client: logged out locally, but the provider did not confirm the revocation")
	// ErrUnsupported: the provider has no endpoint for the operation (for
	// example no device authorization endpoint), or the account is a
	// service account, which does not log in.
	ErrUnsupported = errors.New("client: not supported")
	// ErrClosed: the [Client] was closed.
	ErrClosed = errors.New("client: closed")
)

// CallbackError is an error response of the authorization endpoint
// (RFC 6749 §4.1.2.1), delivered to the redirect URI, e.g. access_denied
// when the user declined. Description and URI have control characters and
// markup removed. errors.Is(err, ErrAccessDenied) holds for access_denied.
type CallbackError struct {
	Code        string // the error parameter, e.g. "access_denied", "login_required"
	Description string // error_description, "" if none
	URI         string // error_uri, "" if none
}

// Error returns "client: authorization failed: <code>: <description>".
func (e *CallbackError) Error() string {
	msg := "client: authorization failed: " + e.Code
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// Is reports whether target is ErrAccessDenied and the code access_denied.
func (e *CallbackError) Is(target error) bool {
	return target == ErrAccessDenied && e.Code == "access_denied"
}

// EndpointError is a failed request to a provider endpoint other than the
// token endpoint (whose failures are *tokensource.Error): discovery, device
// authorization, revocation, userinfo.
type EndpointError struct {
	Endpoint    string // "discovery", "device authorization", "revocation", "userinfo"
	StatusCode  int    // 0 when no response arrived
	Code        string // RFC 6749 §5.2 error code, "" when none was sent
	Description string // its error_description, sanitised
	Err         error  // the network or decoding error, nil when the server answered
}

// Error names the endpoint, the error code and description, the cause and
// the HTTP status.
func (e EndpointError) Error() string {
	return oauthwire.ErrorString("client: "+e.Endpoint+" endpoint", e.Code, e.Description, e.Err, e.StatusCode)
}

// Unwrap returns the underlying network or decoding error.
func (e *EndpointError) Unwrap() error { return e.Err }

// Format implements fmt.Formatter: every verb prints Error, so that no
// form of an EndpointError, value or pointer, alone or nested, dumps its
// cause's fields (a *tokensource.Error's Body or Header).
func (e EndpointError) Format(f fmt.State, verb rune) { fmt.Fprint(f, e.Error()) }

// MarshalJSON implements json.Marshaler with the endpoint, status, code,
// description and the error string: slog's JSON handler uses it for an
// EndpointError nested in a logged value, and the cause's fields are not
// dumped.
func (e EndpointError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Endpoint    string `json:"endpoint"`
		StatusCode  int    `json:"status,omitempty"`
		Code        string `json:"code,omitempty"`
		Description string `json:"description,omitempty"`
		Error       string `json:"error"`
	}{e.Endpoint, e.StatusCode, e.Code, e.Description, e.Error()})
}

// Temporary reports whether the request may succeed later: no response
// arrived, or the server answered 408, 429 or 5xx.
func (e *EndpointError) Temporary() bool {
	return e.StatusCode == 0 || e.StatusCode == 408 || e.StatusCode == 429 || e.StatusCode >= 500
}

// kindError is a sentinel (what happened, for errors.Is) with its cause
// (why, for errors.As and the message).
type kindError struct {
	kind  error
	cause error
}

// withKind returns an error that matches kind and wraps cause. A nil
// cause gives kind itself.
func withKind(kind, cause error) error {
	if cause == nil {
		return kind
	}
	return &kindError{kind: kind, cause: cause}
}

// kindf is withKind with a formatted cause.
func kindf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, cause: fmt.Errorf(format, args...)}
}

func (e *kindError) Error() string   { return e.kind.Error() + ": " + e.cause.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.cause} }

// sanitized returns err with its message stripped of control, formatting
// and markup characters (oauthwire.Sanitize), for errors that quote what a
// server sent; errors.Is and errors.As still see err.
func sanitized(err error) error {
	msg := err.Error()
	if clean := oauthwire.Sanitize(msg, 500); clean != msg {
		return &sanitizedError{msg: clean, err: err}
	}
	return err
}

type sanitizedError struct {
	msg string
	err error
}

func (e *sanitizedError) Error() string { return e.msg }
func (e *sanitizedError) Unwrap() error { return e.err }
