package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
)

// postForm POSTs form to endpoint with the client's authentication (as at
// the token endpoint) and returns the status and the body (at most 1 MiB).
// Redirects are not followed.
func (c *Client) postForm(ctx context.Context, endpoint string, form url.Values) (int, []byte, error) {
	v := make(url.Values, len(form)+2)
	for k, vs := range form {
		v[k] = vs
	}
	basic := c.cfg.ClientSecret != "" && c.cfg.AuthStyle != oauth2.AuthStyleInParams
	if !basic {
		v.Set("client_id", c.cfg.ClientID)
		if c.cfg.ClientSecret != "" {
			v.Set("client_secret", c.cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	secrets := c.formSecrets(form)
	resp, err := c.post.Do(req)
	if err != nil {
		return 0, nil, oauthwire.ScrubError(err, secrets...)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, oauthwire.MaxBody))
	if err != nil {
		return resp.StatusCode, nil, oauthwire.ScrubError(err, secrets...)
	}
	return resp.StatusCode, body, nil
}

// formSecrets lists what postForm sends that must never be echoed back
// into an error: the client secret, also as HTTP Basic credentials, and
// form's token.
func (c *Client) formSecrets(form url.Values) []string {
	return []string{c.cfg.ClientSecret, oauthwire.BasicCredentials(c.cfg.ClientID, c.cfg.ClientSecret), form.Get("token")}
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
