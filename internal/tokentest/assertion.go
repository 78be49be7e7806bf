package tokentest

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AssertionChecker verifies the private_key_jwt client authentication
// (RFC 7523 §2.2, OpenID Connect Core §9) of requests, as a provider does,
// and remembers every jti it accepted: a repeated one is refused. It is
// safe for concurrent use.
type AssertionChecker struct {
	Key      crypto.PublicKey // verifies the signature
	Alg      string           // the only algorithm accepted
	KeyID    string           // the kid the header must carry
	ClientID string           // iss, sub and client_id
	Audience string           // must be in aud
	// Now returns the current time. nil: time.Now.
	Now func() time.Time

	mu   sync.Mutex
	jtis map[string]bool // every jti accepted
}

// Check verifies r's client authentication; r's form must be parsed
// (r.ParseForm). It refuses a request with a client_secret or an
// Authorization header beside the assertion.
func (c *AssertionChecker) Check(r *http.Request) error {
	if r.Header.Get("Authorization") != "" {
		return errors.New("Authorization header sent with a client assertion")
	}
	if r.PostForm.Has("client_secret") {
		return errors.New("client_secret sent with a client assertion")
	}
	if got := r.PostForm.Get("client_assertion_type"); got != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return fmt.Errorf("client_assertion_type %q", got)
	}
	if got := r.PostForm.Get("client_id"); got != c.ClientID {
		return fmt.Errorf("client_id %q, want %q", got, c.ClientID)
	}
	if n := len(r.PostForm["client_assertion"]); n != 1 {
		return fmt.Errorf("%d client assertions, want 1", n)
	}
	return c.verify(r.PostForm.Get("client_assertion"))
}

func (c *AssertionChecker) verify(raw string) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(c.Alg)})
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	h := tok.Headers[0]
	if h.KeyID != c.KeyID {
		return fmt.Errorf("kid %q, want %q", h.KeyID, c.KeyID)
	}
	if typ := h.ExtraHeaders[jose.HeaderType]; typ != "JWT" {
		return fmt.Errorf("typ %v, want JWT", typ)
	}
	var cl jwt.Claims
	if err := tok.Claims(c.Key, &cl); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	exp := jwt.Expected{Issuer: c.ClientID, Subject: c.ClientID, AnyAudience: jwt.Audience{c.Audience}, Time: now}
	if err := cl.ValidateWithLeeway(exp, 5*time.Second); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if cl.IssuedAt == nil || cl.Expiry == nil {
		return errors.New("no iat or exp")
	}
	if life := cl.Expiry.Time().Sub(cl.IssuedAt.Time()); life <= 0 || life > time.Minute {
		return fmt.Errorf("lifetime %v, want (0, 60s]", life)
	}
	if b, err := base64.RawURLEncoding.DecodeString(cl.ID); err != nil || len(b) < 16 {
		return fmt.Errorf("jti %q is not 128 random bits", cl.ID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jtis[cl.ID] {
		return fmt.Errorf("jti %q replayed", cl.ID)
	}
	if c.jtis == nil {
		c.jtis = make(map[string]bool)
	}
	c.jtis[cl.ID] = true
	return nil
}

// Accepted returns how many assertions were accepted.
func (c *AssertionChecker) Accepted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.jtis)
}
