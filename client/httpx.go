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
// fresh assertion.
func (c *Client) exchange(ctx context.Context, form url.Values) (*storage.Token, error) {
	return tokensource.ExchangeWith(ctx, &c.oauth, form, tokensource.ExchangeOptions{HTTPClient: c.hc, ClientAuth: c.auth})
}

// postForm POSTs form to endpoint with the client's authentication (as at
// the token endpoint) and returns the status, the body (at most 1 MiB) and
// what the request carried that must never be echoed into an error (see
// formSecrets). Redirects are not followed.
func (c *Client) postForm(ctx context.Context, endpoint string, form url.Values) (int, []byte, []string, error) {
	v := make(url.Values, len(form)+3)
	for k, vs := range form {
		v[k] = vs
	}
	basic := c.auth == nil && c.cfg.ClientSecret != "" && c.cfg.AuthStyle != oauth2.AuthStyleInParams
	switch {
	case c.auth != nil:
		if err := c.auth.AuthenticateForm(v, c.cfg.ClientID, endpoint, time.Now()); err != nil {
			return 0, nil, nil, err
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
		return 0, nil, secrets, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	resp, err := c.post.Do(req)
	if err != nil {
		return 0, nil, secrets, oauthwire.ScrubError(err, secrets...)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oauthwire.MaxBody))
	if err != nil {
		return resp.StatusCode, nil, secrets, oauthwire.ScrubError(err, secrets...)
	}
	return resp.StatusCode, body, secrets, nil
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
