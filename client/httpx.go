package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// exchange sends one token request with form (see [tokensource.ExchangeWith]),
// authenticating the client with its secret or, with Config.ClientAuth, a
// fresh assertion. With key (a DPoP login) the request carries a proof by
// key, a use_dpop_nonce answer is retried once with the nonce, and the
// tokens must come back bound to key (else an error matching
// tokensource.ErrDPoPDowngrade); the record holds the key.
func (c *Client) exchange(ctx context.Context, form url.Values, key *tokensource.DPoPKey) (*storage.Token, error) {
	return tokensource.ExchangeWith(ctx, &c.oauth, form, tokensource.ExchangeOptions{HTTPClient: c.hc, ClientAuth: c.auth, DPoP: key})
}

// postForm POSTs form to endpoint with the client's authentication (as at
// the token endpoint) and returns the status, the body (at most 1 MiB) and
// what the request carried that must never be echoed into an error (see
// formSecrets). Redirects are not followed. With key the request carries a
// DPoP proof (RFC 9449 §4, without ath): the DPoP-Nonce the server sends is
// remembered, and an answer asking for it (use_dpop_nonce) is retried
// once, with a fresh proof and a fresh client assertion.
func (c *Client) postForm(ctx context.Context, endpoint string, form url.Values, key *tokensource.DPoPKey) (int, []byte, []string, error) {
	status, body, h, secrets, err := c.postOnce(ctx, endpoint, form, key)
	if err == nil && key != nil && noteNonce(key, c.urlOf(endpoint), status, h, body) {
		var more []string
		status, body, h, more, err = c.postOnce(ctx, endpoint, form, key)
		secrets = append(secrets, more...)
		if err == nil {
			noteNonce(key, c.urlOf(endpoint), status, h, body)
		}
	}
	return status, body, secrets, err
}

// urlOf parses an endpoint URL, which validate and discovery checked.
func (c *Client) urlOf(endpoint string) *url.URL {
	u, err := url.Parse(endpoint)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// postOnce sends one request of postForm and returns, besides its
// results, the response's header.
func (c *Client) postOnce(ctx context.Context, endpoint string, form url.Values, key *tokensource.DPoPKey) (int, []byte, http.Header, []string, error) {
	v := make(url.Values, len(form)+3)
	for k, vs := range form {
		v[k] = vs
	}
	basic := c.auth == nil && c.cfg.ClientSecret != "" && c.cfg.AuthStyle != oauth2.AuthStyleInParams
	switch {
	case c.auth != nil:
		if err := c.auth.AuthenticateForm(v, c.cfg.ClientID, endpoint, time.Now()); err != nil {
			return 0, nil, nil, nil, err
		}
	case !basic:
		v.Set("client_id", c.cfg.ClientID)
		if c.cfg.ClientSecret != "" {
			v.Set("client_secret", c.cfg.ClientSecret)
		}
	}
	secrets := c.formSecrets(v)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, nil, nil, secrets, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	if key != nil {
		proof, err := dpopProof(req, key, "")
		if err != nil {
			return 0, nil, nil, secrets, err
		}
		secrets = append(secrets, proof)
	}
	resp, err := c.post.Do(req)
	if err != nil {
		return 0, nil, nil, secrets, oauthwire.ScrubError(err, secrets...)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oauthwire.MaxBody))
	if err != nil {
		return resp.StatusCode, nil, nil, secrets, oauthwire.ScrubError(err, secrets...)
	}
	return resp.StatusCode, body, resp.Header, secrets, nil
}

// formSecrets lists what postForm sends, as form, that must never be
// echoed back into an error: the client secret, also as HTTP Basic
// credentials, the client assertion and the token.
func (c *Client) formSecrets(form url.Values) []string {
	return []string{c.cfg.ClientSecret, oauthwire.BasicCredentials(c.cfg.ClientID, c.cfg.ClientSecret), form.Get("client_assertion"), form.Get("token")}
}

// endpointError describes a non-success answer of a provider endpoint,
// with its RFC 6749 §5.2 error when the body carries one. secrets (what
// the request carried) are removed from the description, for servers that
// echo the request.
func endpointError(endpoint string, status int, body []byte, secrets ...string) *EndpointError {
	e := &EndpointError{Endpoint: endpoint, StatusCode: status}
	if _, er, _ := oauthwire.Parse(status, "application/json", body, secrets...); er != nil {
		e.Code, e.Description = er.Code, er.Description
	}
	return e
}
