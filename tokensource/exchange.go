package tokensource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// maxErrorBody is how much of an error response Error.Body keeps.
const maxErrorBody = 1 << 10

var errRedirect = errors.New("token endpoint answered with a redirect, which is not followed")

// Exchange sends one token request (RFC 6749 §3.2) with form to c's token
// endpoint, authenticating the client as c.Endpoint.AuthStyle says, and
// returns what the endpoint issued as a [storage.Token] (Version and
// AuthTime are left zero; lifetimes count from when the request was sent).
// It is what [Source] uses to refresh, and what package client uses for the
// authorization code, device, password and client credentials grants.
//
// hc nil means a client with a 30 s timeout; redirects are never followed.
// Every failure is an [*Error]. Exchange does not retry. It is
// [ExchangeWith] with only an HTTP client.
func Exchange(ctx context.Context, hc *http.Client, c *oauth2.Config, form url.Values) (*storage.Token, error) {
	return ExchangeWith(ctx, c, form, ExchangeOptions{HTTPClient: hc})
}

// ExchangeOptions are the optional parameters of [ExchangeWith]. The zero
// value is the default client and the client authentication of the
// oauth2.Config.
type ExchangeOptions struct {
	// HTTPClient sends the request. nil: a client with a 30 s timeout.
	// Redirects are never followed.
	HTTPClient *http.Client
	// ClientAuth, if not nil, authenticates the client with a fresh
	// private_key_jwt assertion (see [ClientAssertion]) instead of the
	// oauth2.Config's ClientSecret, which is then not sent. Its default
	// audience is the token endpoint URL.
	ClientAuth *ClientAssertion
	// Now returns the current time, for the assertion, the DPoP proof and
	// the lifetimes. nil: time.Now.
	Now func() time.Time
	// DPoP, if not nil, binds the tokens to this key (RFC 9449): the
	// request carries a proof made with it; an answer "use_dpop_nonce"
	// (400) with a DPoP-Nonce header is retried once, with a new proof
	// holding the nonce and a new client assertion; every DPoP-Nonce the
	// endpoint sends is remembered by the key; and an answer whose
	// token_type is not DPoP is refused with an error matching
	// [ErrDPoPDowngrade]. The record returned holds the key (DPoPKey) and
	// token_type DPoP. nil: Bearer tokens, no proof.
	DPoP *DPoPKey
}

// ExchangeWith is [Exchange] with options: it sends one token request
// with form to c's token endpoint and returns what the endpoint issued.
// Every failure is an [*Error]; a client assertion that cannot be made
// fails before any request is sent.
func ExchangeWith(ctx context.Context, c *oauth2.Config, form url.Values, o ExchangeOptions) (*storage.Token, error) {
	if c == nil {
		return nil, errors.New("tokensource: Exchange: nil oauth2.Config")
	}
	if err := checkEndpoint(c.Endpoint.TokenURL); err != nil {
		return nil, fmt.Errorf("tokensource: token endpoint: %w", err)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	return exchange(ctx, noRedirects(o.HTTPClient), c, o.ClientAuth, o.DPoP, form, now())
}

// exchange sends the token request, and once more when a DPoP server asks
// for a nonce it has just sent (RFC 9449 §8): never more than twice.
func exchange(ctx context.Context, hc *http.Client, c *oauth2.Config, auth *ClientAssertion, key *DPoPKey, form url.Values, now time.Time) (*storage.Token, error) {
	t, err := exchangeOnce(ctx, hc, c, auth, key, form, now)
	var e *Error
	if key != nil && errors.As(err, &e) && e.Code == "use_dpop_nonce" && e.Header.Get("DPoP-Nonce") != "" {
		t, err = exchangeOnce(ctx, hc, c, auth, key, form, now)
	}
	return t, err
}

func exchangeOnce(ctx context.Context, hc *http.Client, c *oauth2.Config, auth *ClientAssertion, key *DPoPKey, form url.Values, now time.Time) (*storage.Token, error) {
	req, sent, err := newTokenRequest(ctx, c, auth, form, now)
	if err != nil {
		return nil, err
	}
	secrets := requestSecrets(c, sent)
	if key != nil {
		proof, err := key.Proof(http.MethodPost, req.URL, "", now)
		if err != nil {
			return nil, &Error{Err: err}
		}
		req.Header.Set("DPoP", proof)
		secrets = append(secrets, proof)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &Error{Err: oauthwire.ScrubError(err, secrets...), netFail: true}
	}
	defer resp.Body.Close()
	if n := resp.Header.Get("DPoP-Nonce"); key != nil && n != "" {
		key.SetNonce(req.URL, n)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, oauthwire.MaxBody+1))
	if err != nil {
		return nil, &Error{StatusCode: resp.StatusCode, Header: scrubHeader(resp.Header, secrets), Err: oauthwire.ScrubError(err, secrets...), netFail: true}
	}
	// Secrets are scrubbed from what an error keeps, after decoding: a
	// scrubbed body may no longer parse, and a success may rightly hold
	// the refresh token that was sent (a provider that does not rotate).
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		secrets = append(secrets, oauthwire.Secrets(body)...)
		return nil, responseError(resp, []byte(oauthwire.Scrub(string(body), secrets...)), nil, errRedirect, secrets)
	}
	t, er, err := oauthwire.Parse(resp.StatusCode, resp.Header.Get("Content-Type"), body, secrets...)
	if t == nil {
		// What the answer carries is as secret as what the request did.
		secrets = append(secrets, oauthwire.Secrets(body)...)
		e := responseError(resp, []byte(oauthwire.Scrub(string(body), secrets...)), er, err, secrets)
		if er == nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
			var life int64
			e.rotated, life = oauthwire.Rotated(resp.Header.Get("Content-Type"), body)
			if life > 0 {
				e.rotatedExpiry = now.Round(0).Add(time.Duration(life) * time.Second)
			}
		}
		return nil, e
	}
	rec := record(t, now)
	switch {
	case key != nil && t.TokenType != DPoPTokenType:
		return nil, refused(resp, rec, secrets, fmt.Errorf("%w (token_type %q)", ErrDPoPDowngrade, t.TokenType))
	case key == nil && t.TokenType == DPoPTokenType:
		return nil, refused(resp, rec, secrets, fmt.Errorf("%w: DPoP-bound tokens issued to a request without a DPoP proof", ErrMalformedResponse))
	case key != nil:
		rec.DPoPKey = key.Encode()
	}
	return rec, nil
}

// refused is the error for an answer that issued rec, tokens of a type
// the request did not ask for: they are not used, except the rotated
// refresh token, which the Source keeps (the one it sent may be dead).
func refused(resp *http.Response, rec *storage.Token, secrets []string, cause error) *Error {
	secrets = append(secrets, rec.AccessToken, rec.RefreshToken, rec.IDToken)
	return &Error{
		StatusCode:    resp.StatusCode,
		Header:        scrubHeader(resp.Header, secrets),
		Err:           cause,
		rotated:       rec.RefreshToken,
		rotatedExpiry: rec.RefreshExpiry,
	}
}

// newTokenRequest builds the token request and returns it with the form it
// sends. With auth the client authenticates with a fresh assertion and its
// secret is not sent.
func newTokenRequest(ctx context.Context, c *oauth2.Config, auth *ClientAssertion, form url.Values, now time.Time) (*http.Request, url.Values, error) {
	v := make(url.Values, len(form)+3)
	for k, vs := range form {
		v[k] = vs
	}
	basic := auth == nil && c.ClientSecret != "" && c.Endpoint.AuthStyle != oauth2.AuthStyleInParams
	switch {
	case auth != nil:
		if err := auth.AuthenticateForm(v, c.ClientID, c.Endpoint.TokenURL, now); err != nil {
			return nil, nil, &Error{Err: err}
		}
	case !basic:
		if c.ClientID != "" {
			v.Set("client_id", c.ClientID)
		}
		if c.ClientSecret != "" {
			v.Set("client_secret", c.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint.TokenURL, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("tokensource: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(c.ClientSecret))
	}
	return req, v, nil
}

// requestSecrets lists what a token request carries that must never be
// echoed back into an error: the client secret (also as HTTP Basic
// credentials), the client assertion and every grant secret. form is what
// was sent.
func requestSecrets(c *oauth2.Config, form url.Values) []string {
	s := []string{c.ClientSecret, oauthwire.BasicCredentials(c.ClientID, c.ClientSecret)}
	for _, k := range []string{"refresh_token", "code", "code_verifier", "password", "device_code", "client_assertion", "subject_token"} {
		s = append(s, form.Get(k))
	}
	return s
}

func responseError(resp *http.Response, body []byte, er *oauthwire.ErrorResponse, cause error, secrets []string) *Error {
	e := &Error{
		StatusCode: resp.StatusCode,
		Header:     scrubHeader(resp.Header, secrets),
		Body:       bytes.Clone(body[:min(len(body), maxErrorBody)]),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Err:        cause,
	}
	if er != nil {
		e.Code, e.Description, e.URI = er.Code, er.Description, er.URI
	}
	return e
}

// scrubHeader returns a copy of h with the secrets removed from every
// value, for endpoints that echo the request into their headers.
func scrubHeader(h http.Header, secrets []string) http.Header {
	c := h.Clone()
	for _, vs := range c {
		for i, v := range vs {
			vs[i] = oauthwire.Scrub(v, secrets...)
		}
	}
	return c
}

// retryAfter parses Retry-After (RFC 9110 §10.2.3): delay-seconds or an
// HTTP date. Unparseable or past values give 0.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if n <= 0 || n > oauthwire.MaxLifetime {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// record turns a parsed response into a storage record. When expires_in is
// absent and the access token is a JWT, its exp claim (unverified: used
// only to schedule the refresh) gives the expiry.
func record(t *oauthwire.Token, now time.Time) *storage.Token {
	r := &storage.Token{
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		RefreshToken: t.RefreshToken,
		IDToken:      t.IDToken,
		Scope:        t.Scope,
	}
	wall := now.Round(0)
	if t.ExpiresIn > 0 {
		r.Expiry = wall.Add(time.Duration(t.ExpiresIn) * time.Second)
	} else {
		r.Expiry = jwtExpiry(t.AccessToken, wall)
	}
	if t.RefreshExpiresIn > 0 {
		r.RefreshExpiry = wall.Add(time.Duration(t.RefreshExpiresIn) * time.Second)
	}
	return r
}

// jwtExpiry returns the exp claim of a JWT access token, or zero when the
// token is not a JWT or its exp is missing, past, or absurd.
func jwtExpiry(tok string, now time.Time) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	exp, err := claims.Exp.Int64()
	if err != nil {
		return time.Time{}
	}
	t := time.Unix(exp, 0)
	if !t.After(now) || t.Sub(now) > oauthwire.MaxLifetime*time.Second {
		return time.Time{}
	}
	return t
}
