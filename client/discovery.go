package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// maxDiscoveryBody caps the discovery document: a longer one is refused
// with ErrResponseTooLarge, after reading one byte more than the cap.
const maxDiscoveryBody = 1 << 20

// discoveryDoc is what the client reads of a discovery document (OpenID
// Connect Discovery 1.0 §3).
type discoveryDoc struct {
	Issuer               string   `json:"issuer"`
	Auth                 string   `json:"authorization_endpoint"`
	Token                string   `json:"token_endpoint"`
	DeviceAuth           string   `json:"device_authorization_endpoint"`
	Revocation           string   `json:"revocation_endpoint"`
	UserInfo             string   `json:"userinfo_endpoint"`
	JWKS                 string   `json:"jwks_uri"`
	EndSession           string   `json:"end_session_endpoint"`
	IssParameter         bool     `json:"authorization_response_iss_parameter_supported"`
	CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
	DPoPAlgs             []string `json:"dpop_signing_alg_values_supported"` // RFC 9449 §5.1
}

// discover fetches and checks the provider's discovery document, then
// sets up the endpoints and the ID token verifier.
func (c *Client) discover(ctx context.Context) error {
	body, age, err := fetchDiscovery(ctx, c.get, c.cfg.Issuer)
	if err != nil {
		return err
	}
	doc, err := parseDiscovery(body, c.cfg.Issuer)
	if err != nil {
		return err
	}
	c.useDiscovery(doc)
	c.cacheDiscovery(ctx, doc, age)
	return nil
}

// useDiscovery sets up the endpoints and the ID token verifier from a
// checked document. JWK sets the verifier fetches are cached.
func (c *Client) useDiscovery(doc *discoveryDoc) {
	c.ep = doc.endpoints().override(c.cfg.Endpoints)
	c.issParam = doc.IssParameter
	c.noS256 = len(doc.CodeChallengeMethods) > 0 && !slices.Contains(doc.CodeChallengeMethods, "S256")
	if c.cfg.DPoP != "" && !slices.Contains(doc.DPoPAlgs, c.cfg.DPoP) {
		// Not an error: a provider may support DPoP without saying so. One
		// that does not answers with Bearer tokens, which logins refuse.
		c.log.Warn("client: Config.DPoP: the provider's discovery document does not list the algorithm in dpop_signing_alg_values_supported",
			slog.String("dpop", c.cfg.DPoP), slog.Any("supported", doc.DPoPAlgs))
	}
	c.ids = newIDVerifier(c.cfg, c.ep.JWKS, c.hc)
	c.ids.keys.onFetch = func(ctx context.Context, body []byte) { c.cache.save(ctx, nil, time.Time{}, 0, body) }
}

// fetchDiscovery GETs issuer's discovery document with hc and returns its
// body and how long it may be cached (see maxAge). Errors are *EndpointErrors; a body over maxDiscoveryBody is refused
// (ErrResponseTooLarge) without reading the rest, and what an error answer
// says is sanitised before it is put in the error.
func fetchDiscovery(ctx context.Context, hc *http.Client, issuer string) ([]byte, time.Duration, error) {
	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, 0, &EndpointError{Endpoint: "discovery", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, &EndpointError{Endpoint: "discovery", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	switch {
	case err != nil:
		return nil, 0, &EndpointError{Endpoint: "discovery", StatusCode: resp.StatusCode, Err: err}
	case len(body) > maxDiscoveryBody:
		return nil, 0, &EndpointError{Endpoint: "discovery", StatusCode: resp.StatusCode,
			Err: fmt.Errorf("%w: the document is larger than %d bytes", ErrResponseTooLarge, maxDiscoveryBody)}
	case resp.StatusCode != http.StatusOK:
		e := endpointError("discovery", resp.StatusCode, body)
		if e.Code == "" && len(body) > 0 {
			e.Err = fmt.Errorf("the answer is: %s", oauthwire.Sanitize(string(body), 200))
		}
		return nil, 0, e
	}
	return body, maxAge(resp.Header), nil
}

// parseDiscovery decodes a discovery document and checks it: its issuer
// must be issuer exactly (OpenID Connect Discovery §4.3,
// [ErrIssuerMismatch]), every endpoint must be https (or http to a
// loopback host), and it must have a token endpoint and a jwks_uri.
func parseDiscovery(body []byte, issuer string) (*discoveryDoc, error) {
	var doc discoveryDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, &EndpointError{Endpoint: "discovery", StatusCode: http.StatusOK, Err: fmt.Errorf("%w: decoding the document: %s", tokensource.ErrMalformedResponse, oauthwire.Sanitize(err.Error(), 200))}
	}
	if doc.Issuer != issuer {
		got := oauthwire.Sanitize(doc.Issuer, 200)
		return nil, withKind(ErrIssuerMismatch, fmt.Errorf("discovery: %w", &oidc.IssuerMismatchError{Provided: issuer, Discovered: got}))
	}
	if err := doc.endpoints().check(); err != nil {
		return nil, fmt.Errorf("client: discovery document: endpoint %w", err)
	}
	if doc.Token == "" {
		return nil, errors.New("client: the discovery document has no token_endpoint")
	}
	if doc.JWKS == "" {
		return nil, errors.New("client: the discovery document has no jwks_uri")
	}
	return &doc, nil
}

func (d *discoveryDoc) endpoints() Endpoints {
	return Endpoints{Auth: d.Auth, Token: d.Token, DeviceAuth: d.DeviceAuth, Revocation: d.Revocation, UserInfo: d.UserInfo, JWKS: d.JWKS, EndSession: d.EndSession}
}

// sameOriginRedirect is the CheckRedirect of discovery and JWKS requests:
// a redirect must keep the original request's scheme and host (so https
// never becomes http and no other host is asked); then next, when not
// nil, decides, else net/http's default limit of 10 redirects applies.
func sameOriginRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		orig := via[0].URL
		if req.URL.Scheme != orig.Scheme || !strings.EqualFold(req.URL.Host, orig.Host) {
			return fmt.Errorf("client: refusing a redirect from %s to %s", origin(orig), origin(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("client: stopped after 10 redirects")
		}
		return nil
	}
}

// origin is u's scheme and host, for messages.
func origin(u *url.URL) string {
	return u.Scheme + "://" + oauthwire.Sanitize(u.Host, 100)
}
