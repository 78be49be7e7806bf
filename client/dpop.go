package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/internal/wwwauth"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// errNoDPoPKey: Config.DPoP is set but the AuthRequest has no DPoP key (it
// was made before DPoP was turned on, or altered in the session).
var errNoDPoPKey = errors.New("client: the authorization request has no DPoP key although Config.DPoP is set; start a new login")

// newDPoPKey returns a fresh DPoP key for one login with Config.DPoP's
// algorithm, or nil when DPoP is off.
func (c *Client) newDPoPKey() (*tokensource.DPoPKey, error) {
	if c.cfg.DPoP == "" {
		return nil, nil
	}
	k, err := tokensource.NewDPoPKey(c.cfg.DPoP)
	if err != nil {
		return nil, fmt.Errorf("client: making the DPoP key: %w", err)
	}
	return k, nil
}

// requestKey returns the DPoP key of an authorization request: nil for a
// Bearer login. A request without a key is refused when Config.DPoP is
// set: its tokens would not be bound.
func (c *Client) requestKey(req *AuthRequest) (*tokensource.DPoPKey, error) {
	if req.DPoPKey == "" {
		if c.cfg.DPoP != "" {
			return nil, errNoDPoPKey
		}
		return nil, nil
	}
	k, err := tokensource.ParseDPoPKey(req.DPoPKey)
	if err != nil {
		return nil, fmt.Errorf("client: the authorization request's DPoP key: %w", err)
	}
	return k, nil
}

// dpopProof sets req's DPoP header (RFC 9449 §4) to a fresh proof by key
// for req's method and URL, with ath for accessToken when not "". It
// returns the proof, to keep it out of errors. Its iat is the wall clock,
// not Config.Now: the server checks it against its own.
func dpopProof(req *http.Request, key *tokensource.DPoPKey, accessToken string) (string, error) {
	proof, err := key.Proof(req.Method, req.URL, accessToken, time.Now())
	if err != nil {
		return "", fmt.Errorf("client: making the DPoP proof: %w", err)
	}
	req.Header.Set("DPoP", proof)
	return proof, nil
}

// noteNonce remembers the DPoP-Nonce header of resp, if any, for u's
// origin (RFC 9449 §8, §9), and reports whether the response asks for a
// retry with it: a 400 whose error is use_dpop_nonce (an authorization
// server, §8) or a 401 whose DPoP challenge says error="use_dpop_nonce" (a
// resource server, §9), with a nonce; either status with either form of
// the error is taken, as servers vary.
func noteNonce(key *tokensource.DPoPKey, u *url.URL, status int, h http.Header, body []byte) bool {
	nonce := h.Get("DPoP-Nonce")
	if key == nil || nonce == "" {
		return false
	}
	key.SetNonce(u, nonce)
	if status != http.StatusBadRequest && status != http.StatusUnauthorized {
		return false
	}
	for _, ch := range wwwauth.Parse(h.Values("WWW-Authenticate")) {
		if strings.EqualFold(ch.Scheme, "DPoP") && ch.Param("error") == "use_dpop_nonce" {
			return true
		}
	}
	_, er, _ := oauthwire.Parse(status, h.Get("Content-Type"), body)
	return er != nil && er.Code == "use_dpop_nonce"
}

// proofSink collects the DPoP proofs of the requests sent with a context
// that carries it (withProofSink), so that an error quoting what a server
// received can be scrubbed of them: the proofs are made inside the
// account's transport.Transport, out of the caller's sight. Safe for
// concurrent use.
type proofSink struct {
	mu     sync.Mutex
	proofs []string
}

type proofSinkKey struct{}

// withProofSink returns ctx carrying a new proofSink.
func withProofSink(ctx context.Context) (context.Context, *proofSink) {
	s := &proofSink{}
	return context.WithValue(ctx, proofSinkKey{}, s), s
}

// sent returns the proofs collected so far.
func (s *proofSink) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.proofs...)
}

// sinkTransport is the Base of an account's userinfo transport: it sends
// each request with base (nil: http.DefaultTransport) after recording its
// DPoP proof in the proofSink of the request's context, if any.
type sinkTransport struct{ base http.RoundTripper }

func (t sinkTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s, ok := r.Context().Value(proofSinkKey{}).(*proofSink); ok {
		if p := r.Header.Get("DPoP"); p != "" {
			s.mu.Lock()
			s.proofs = append(s.proofs, p)
			s.mu.Unlock()
		}
	}
	if t.base == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	return t.base.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of base, if it can.
func (t sinkTransport) CloseIdleConnections() {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
