package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// AuthRequestMaxAge is how long an [AuthRequest] may be exchanged after it
// was made.
const AuthRequestMaxAge = 10 * time.Minute

// AuthRequest is one pending authorization code login of a web app
// (RFC 6749 §4.1 with PKCE, RFC 7636): the URL to send the user's browser
// to, and what the server must keep, in the user's session, to check and
// exchange the callback. It is made by [Account.AuthCodeURL] and used
// once, by [Account.Exchange], whatever the outcome: after a failed
// exchange the user starts a new login.
//
// State, Nonce, Verifier and DPoPKey are secrets (URL holds State and
// Nonce too):
// keep the AuthRequest server-side (or encrypted), never in a plain cookie
// or a URL. To store it in a session, use MarshalBinary and
// UnmarshalBinary (encoding/gob uses them), which keep every field.
// String, Format, GoString, LogValue and MarshalJSON never show the
// secrets, so that an AuthRequest logged or printed, alone or inside a
// struct, slice or map, gives nothing away; a JSON-encoded AuthRequest
// therefore cannot be exchanged (its state is "[REDACTED]").
type AuthRequest struct {
	URL         string    `json:"url"`                // the authorization URL: redirect the browser here
	RedirectURI string    `json:"redirect_uri"`       // where the provider sends the browser back
	State       string    `json:"state"`              // secret: compared with the callback's state
	Nonce       string    `json:"nonce"`              // secret: compared with the ID token's nonce ("" without an issuer)
	Verifier    string    `json:"verifier"`           // secret: the PKCE code verifier
	DPoPKey     string    `json:"dpop_key,omitempty"` // secret: the DPoP private key the tokens get bound to (tokensource.DPoPKey.Encode; its thumbprint was sent as dpop_jkt); "" without Config.DPoP
	Created     time.Time `json:"created"`            // when it was made, by Config.Now
}

// String describes r without its secrets; the URL is shown without its
// query. String, GoString, Format and LogValue have value receivers, so
// that an AuthRequest value (e.g. a field of a session struct) is redacted
// too; fmt prints a nil *AuthRequest as <nil>.
func (r AuthRequest) String() string {
	dpop := ""
	if r.DPoPKey != "" {
		dpop = " DPoPKey:[REDACTED]"
	}
	return fmt.Sprintf("client.AuthRequest{URL:%q RedirectURI:%q State:[REDACTED] Nonce:[REDACTED] Verifier:[REDACTED]%s Created:%s}",
		redactURL(r.URL), redactURL(r.RedirectURI), dpop, r.Created.UTC().Format(time.RFC3339))
}

// GoString is String: %#v never reveals a secret either.
func (r AuthRequest) GoString() string { return r.String() }

// Format implements fmt.Formatter: every verb prints String.
func (r AuthRequest) Format(f fmt.State, verb rune) { fmt.Fprint(f, r.String()) }

// LogValue implements slog.LogValuer without the secrets.
func (r AuthRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// redacted is what MarshalJSON writes in place of each secret.
const redacted = "[REDACTED]"

// MarshalJSON implements json.Marshaler without the secrets: the URLs
// lose their query, State, Nonce, Verifier and a DPoPKey read
// "[REDACTED]". slog's JSON handler uses it for an AuthRequest nested in a
// logged value.
func (r AuthRequest) MarshalJSON() ([]byte, error) {
	w := authRequestWire{URL: redactURL(r.URL), RedirectURI: redactURL(r.RedirectURI),
		State: redacted, Nonce: redacted, Verifier: redacted, Created: r.Created}
	if r.DPoPKey != "" {
		w.DPoPKey = redacted
	}
	return json.Marshal(w)
}

// authRequestWire is AuthRequest without its methods: its JSON encoding
// has every field.
type authRequestWire AuthRequest

// MarshalBinary implements encoding.BinaryMarshaler with every field,
// secrets included (as JSON), for session stores; encoding/gob uses it.
func (r AuthRequest) MarshalBinary() ([]byte, error) { return json.Marshal(authRequestWire(r)) }

// UnmarshalBinary implements encoding.BinaryUnmarshaler: it reads what
// MarshalBinary wrote.
func (r *AuthRequest) UnmarshalBinary(b []byte) error {
	return json.Unmarshal(b, (*authRequestWire)(r))
}

// AuthOption is an extra parameter of one authorization request; see
// [AuthParam].
type AuthOption interface {
	setParam(url.Values)
}

type authParam struct{ key, value string }

func (p authParam) setParam(v url.Values) { v.Set(p.key, p.value) }

// AuthParam adds the parameter key=value to one authorization request
// (e.g. "login_hint", "prompt", "acr_values"), over Config.AuthParams.
// The parameters the client sets itself (state, nonce, PKCE, redirect_uri,
// client_id, response_type, scope, dpop_jkt) are refused by AuthCodeURL.
func AuthParam(key, value string) AuthOption { return authParam{key, value} }

// AuthCodeURL starts a web-app login: it returns the authorization
// request to keep in the user's session and whose URL to redirect the
// browser to. redirectURI is the app's callback, registered at the
// provider; it must be https, or http to a loopback address.
//
// Every request has a fresh state, nonce and PKCE verifier (S256) and asks
// for Config's login scopes. With Config.DPoP it also has a fresh DPoP key,
// whose thumbprint it sends as dpop_jkt (RFC 9449 §10): Exchange binds
// the tokens to it.
func (a *Account) AuthCodeURL(redirectURI string, opts ...AuthOption) (*AuthRequest, error) {
	extra := url.Values{}
	for _, o := range opts {
		if o != nil {
			o.setParam(extra)
		}
	}
	params := make(map[string]string, len(extra))
	for k := range extra {
		params[k] = extra.Get(k)
	}
	if err := checkParams(params); err != nil {
		return nil, fmt.Errorf("client: AuthCodeURL: %w", err)
	}
	return a.newAuthRequest(redirectURI, extra)
}

// Exchange completes a web-app login with the query parameters the
// provider sent to the redirect URI (r.URL.Query() in the callback
// handler) and the AuthRequest kept in the session. It checks, in order:
//
//   - the request's age ([ErrAuthRequestExpired] after AuthRequestMaxAge);
//   - the state, in constant time ([ErrStateMismatch] when missing,
//     repeated or different: a forged or misrouted callback);
//   - that the request was not exchanged before in this process
//     ([ErrAuthRequestUsed]: a replayed callback). Delete the AuthRequest
//     from the session as well: the record of used requests is per
//     process;
//   - the iss parameter, RFC 9207 ([ErrIssuerMismatch]: a mix-up attack);
//   - an error response ([*CallbackError], e.g. access_denied);
//
// then exchanges the code with the PKCE verifier and redirect URI (and,
// with a DPoPKey, a DPoP proof signed by it: the tokens must come back
// bound to it, or [tokensource.ErrDPoPDowngrade]), verifies the ID token (signature, iss, aud, azp, exp, nonce, at_hash)
// and saves the tokens with AuthTime set to now.
func (a *Account) Exchange(ctx context.Context, req *AuthRequest, callback url.Values) error {
	if req == nil {
		return errors.New("client: Exchange: nil AuthRequest")
	}
	if a.service {
		return fmt.Errorf("%w: a service account does not log in", ErrUnsupported)
	}
	if age := a.c.now().Sub(req.Created); req.Created.IsZero() || age > AuthRequestMaxAge {
		return ErrAuthRequestExpired
	}
	if err := checkState(req.State, callback); err != nil {
		return err
	}
	if !a.markUsed(req) {
		return ErrAuthRequestUsed
	}
	code, err := a.c.checkResponse(callback)
	if err != nil {
		return err
	}
	return a.redeem(ctx, req, code)
}
