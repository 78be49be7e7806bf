package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
)

// newAuthRequest builds an authorization request (RFC 6749 §4.1.1) with
// PKCE S256 (RFC 7636), a fresh state, verifier and (with an issuer)
// nonce, the login scopes, the parameters that ask for a refresh token
// (Config.PromptConsent, provider defaults), Config.AuthParams and then
// extra. With Config.DPoP it makes the login's DPoP key and sends its
// thumbprint as dpop_jkt (RFC 9449 §10), binding the code to the key.
func (a *Account) newAuthRequest(redirectURI string, extra url.Values) (*AuthRequest, error) {
	c := a.c
	if a.service {
		return nil, fmt.Errorf("%w: a service account does not log in", ErrUnsupported)
	}
	if c.ep.Auth == "" {
		return nil, fmt.Errorf("%w: the provider has no authorization endpoint", ErrUnsupported)
	}
	if c.noS256 {
		return nil, kindf(ErrPKCEUnsupported, "its code_challenge_methods_supported lacks S256; the plain method is never used")
	}
	if err := checkURL(redirectURI); err != nil {
		return nil, fmt.Errorf("client: redirect URI: %w", err)
	}
	s, err := newSecrets()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(c.ep.Auth)
	if err != nil {
		return nil, errors.New("client: the authorization endpoint is not a valid URL")
	}
	q := u.Query()
	for k, vs := range c.cfg.offlineParams() {
		q[k] = vs
	}
	for k, v := range c.cfg.AuthParams {
		q.Set(k, v)
	}
	for k, vs := range extra {
		q[k] = vs
	}
	q.Set("response_type", "code")
	q.Set("client_id", c.cfg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", strings.Join(c.oauth.Scopes, " "))
	q.Set("state", s.state)
	q.Set("code_challenge", s256Challenge(s.verifier))
	q.Set("code_challenge_method", "S256")
	req := &AuthRequest{RedirectURI: redirectURI, State: s.state, Verifier: s.verifier, Created: c.now().Round(0)}
	if key, err := c.newDPoPKey(); err != nil {
		return nil, err
	} else if key != nil {
		q.Set("dpop_jkt", key.Thumbprint())
		req.DPoPKey = key.Encode()
	}
	if c.ids != nil {
		q.Set("nonce", s.nonce)
		req.Nonce = s.nonce
	}
	u.RawQuery = q.Encode()
	req.URL = u.String()
	return req, nil
}

// checkState checks the authorization response's state against the one
// sent, in constant time. A repeated state is refused: parameters must
// not be repeated (RFC 6749 §3.1), and which one counts is ambiguous.
func checkState(sent string, q url.Values) error {
	states := q["state"]
	switch {
	case len(states) == 0 || states[0] == "":
		return kindf(ErrStateMismatch, "the authorization response has no state")
	case len(states) > 1:
		return kindf(ErrStateMismatch, "the authorization response has %d states", len(states))
	case sent == "" || subtle.ConstantTimeCompare([]byte(states[0]), []byte(sent)) != 1:
		return kindf(ErrStateMismatch, "the authorization response's state is not the one sent")
	}
	return nil
}

// checkResponse checks a state-checked authorization response and returns
// its code: the iss parameter (RFC 9207) must name the issuer when sent,
// and must be sent when discovery says the provider sends it; an error
// response becomes a *CallbackError. iss, error and code must not be
// repeated (RFC 6749 §3.1).
func (c *Client) checkResponse(q url.Values) (string, error) {
	if c.cfg.Issuer != "" {
		iss, sent := q["iss"]
		switch {
		case sent && (len(iss) != 1 || iss[0] != c.cfg.Issuer):
			// The received value is not echoed: it is the sender's to
			// choose, and may carry the login's state or nonce.
			return "", kindf(ErrIssuerMismatch, "the authorization response comes from another issuer than %q", c.cfg.Issuer)
		case !sent && c.issParam:
			return "", kindf(ErrIssuerMismatch, "the authorization response has no iss parameter, which the provider always sends")
		}
	}
	if len(q["error"]) > 1 {
		return "", errors.New("client: the authorization response has several error parameters")
	}
	if code := q.Get("error"); code != "" {
		return "", &CallbackError{
			Code:        oauthwire.Sanitize(code, 100),
			Description: oauthwire.Sanitize(q.Get("error_description"), 300),
			URI:         oauthwire.Sanitize(q.Get("error_uri"), 300),
		}
	}
	codes := q["code"]
	switch {
	case len(codes) > 1:
		return "", errors.New("client: the authorization response has several codes")
	case len(codes) == 0 || codes[0] == "":
		return "", errors.New("client: the authorization response has neither a code nor an error")
	}
	return codes[0], nil
}

// redeem exchanges the authorization code of req (RFC 6749 §4.1.3) with
// its PKCE verifier and redirect URI (and a DPoP proof by its key),
// verifies the ID token against the nonce sent and saves the tokens.
func (a *Account) redeem(ctx context.Context, req *AuthRequest, code string) error {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {req.RedirectURI},
		"code_verifier": {req.Verifier},
	}
	key, err := a.c.requestKey(req)
	if err != nil {
		return err
	}
	t, err := a.c.exchange(ctx, form, key)
	if err != nil {
		return fmt.Errorf("client: exchanging the authorization code: %w", err)
	}
	return a.finishLogin(ctx, "authorization_code", t, req.Nonce, a.c.ids != nil)
}

// markUsed records that the request with state was exchanged and reports
// whether it was the first time. Records older than AuthRequestMaxAge are
// dropped: such requests are refused anyway.
func (a *Account) markUsed(req *AuthRequest) bool {
	sum := sha256.Sum256([]byte(req.State))
	id := string(sum[:])
	now := a.c.now()
	a.usedMu.Lock()
	defer a.usedMu.Unlock()
	for k, created := range a.used {
		if now.Sub(created) > AuthRequestMaxAge {
			delete(a.used, k)
		}
	}
	if _, dup := a.used[id]; dup {
		return false
	}
	a.used[id] = req.Created
	return true
}
