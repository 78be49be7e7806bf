package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// EndSessionRequest is an RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0) made by [Account.LogoutWith]: the URL of the provider's
// end_session_endpoint to send the browser to, and the state to check
// when the provider sends it back to PostLogoutRedirectURI.
//
// State is a secret (URL holds it, and the ID token as id_token_hint):
// keep the request server-side, in the user's session (MarshalBinary and
// UnmarshalBinary keep every field). String, Format, GoString, LogValue
// and MarshalJSON never show them.
type EndSessionRequest struct {
	URL                   string    `json:"url"`
	PostLogoutRedirectURI string    `json:"post_logout_redirect_uri"`
	State                 string    `json:"state"` // secret
	Created               time.Time `json:"created"`
}

// endSession builds the end_session_endpoint request for rec (its ID token
// as id_token_hint, when it has one) and opens it when asked.
func (a *Account) endSession(ctx context.Context, rec *storage.Token, opts LogoutOptions, r *LogoutResult) error {
	s, err := newSecrets()
	if err != nil {
		return err
	}
	u, err := url.Parse(a.c.ep.EndSession)
	if err != nil {
		return fmt.Errorf("client: the end_session_endpoint is not a valid URL")
	}
	q := u.Query()
	q.Set("client_id", a.c.cfg.ClientID)
	q.Set("state", s.state)
	if rec != nil && rec.IDToken != "" {
		q.Set("id_token_hint", rec.IDToken)
	}
	if opts.PostLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", opts.PostLogoutRedirectURI)
	}
	u.RawQuery = q.Encode()
	r.EndSession = &EndSessionRequest{URL: u.String(), PostLogoutRedirectURI: opts.PostLogoutRedirectURI, State: s.state, Created: a.c.now().Round(0)}
	if opts.OpenBrowser == nil {
		return nil
	}
	if err := opts.OpenBrowser(ctx, r.EndSession.URL); err != nil {
		secrets := []string{s.state}
		if rec != nil {
			secrets = append(secrets, rec.IDToken)
		}
		return fmt.Errorf("client: logout: opening the end-session URL: %w", oauthwire.ScrubError(err, secrets...))
	}
	r.Opened = true
	a.c.log.Info("client: opened the provider's end-session page", slog.String("key", a.key))
	return nil
}

// Check checks the query the provider sent to PostLogoutRedirectURI
// (r.URL.Query() in the handler): its state must be the request's,
// compared in constant time ([ErrStateMismatch] when missing, repeated or
// different: a forged logout callback). Providers send state back only
// with a post_logout_redirect_uri.
func (r *EndSessionRequest) Check(callback url.Values) error {
	if r == nil {
		return fmt.Errorf("%w: no end-session request", ErrStateMismatch)
	}
	return checkState(r.State, callback)
}

// String describes r without its secrets: the URLs lose their query.
func (r EndSessionRequest) String() string {
	return fmt.Sprintf("client.EndSessionRequest{URL:%q PostLogoutRedirectURI:%q State:[REDACTED] Created:%s}",
		redactURL(r.URL), redactURL(r.PostLogoutRedirectURI), r.Created.UTC().Format(time.RFC3339))
}

// GoString is String.
func (r EndSessionRequest) GoString() string { return r.String() }

// Format implements fmt.Formatter: every verb prints String.
func (r EndSessionRequest) Format(f fmt.State, verb rune) { fmt.Fprint(f, r.String()) }

// LogValue implements slog.LogValuer without the secrets.
func (r EndSessionRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// MarshalJSON implements json.Marshaler without the secrets.
func (r EndSessionRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(endSessionWire{URL: redactURL(r.URL), PostLogoutRedirectURI: redactURL(r.PostLogoutRedirectURI), State: redacted, Created: r.Created})
}

type endSessionWire EndSessionRequest

// MarshalBinary implements encoding.BinaryMarshaler with every field,
// secrets included, for session stores.
func (r EndSessionRequest) MarshalBinary() ([]byte, error) { return json.Marshal(endSessionWire(r)) }

// UnmarshalBinary reads what MarshalBinary wrote.
func (r *EndSessionRequest) UnmarshalBinary(b []byte) error {
	return json.Unmarshal(b, (*endSessionWire)(r))
}

// String describes r by its outcome.
func (r LogoutResult) String() string {
	s := "client.LogoutResult{Revocation:" + r.Revocation.String()
	if r.Err != nil {
		s += " Err:" + r.Err.Error()
	}
	if r.EndSession != nil {
		s += " EndSession:" + r.EndSession.String()
	}
	return s + fmt.Sprintf(" Opened:%t}", r.Opened)
}

// Format implements fmt.Formatter: every verb prints String.
func (r LogoutResult) Format(f fmt.State, verb rune) { fmt.Fprint(f, r.String()) }

// LogValue implements slog.LogValuer with String.
func (r LogoutResult) LogValue() slog.Value { return slog.StringValue(r.String()) }
