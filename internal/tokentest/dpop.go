package tokentest

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// DPoPChecker verifies DPoP proofs (RFC 9449 §4.3) as a server does, with
// go-jose and none of the client's code, and remembers every jti it
// accepted: a replayed proof is refused. It is safe for concurrent use;
// set its fields before the first Check.
type DPoPChecker struct {
	// Nonce, when not empty, must be the proof's nonce claim.
	Nonce string
	// Now returns the current time. nil: time.Now.
	Now func() time.Time

	mu   sync.Mutex
	jtis map[string]bool
}

// DPoPProof is what a verified proof says.
type DPoPProof struct {
	Thumbprint string // the key's JWK SHA-256 thumbprint, base64url
	Alg        string
	JTI        string
	Nonce      string
	ATH        string
}

// Check verifies the single DPoP header of r, a request received by a
// server at url (scheme, host and path; the proof's htu must equal it),
// and when accessToken is not empty also the ath claim and the
// "Authorization: DPoP" header.
func (c *DPoPChecker) Check(r *http.Request, url, accessToken string) (*DPoPProof, error) {
	hs := r.Header.Values("DPoP")
	if len(hs) != 1 {
		return nil, fmt.Errorf("%d DPoP headers, want 1", len(hs))
	}
	if accessToken != "" && r.Header.Get("Authorization") != "DPoP "+accessToken {
		return nil, errors.New(`the Authorization header is not "DPoP <access token>"`)
	}
	p, err := c.verify(hs[0], r.Method, url)
	if err != nil {
		return nil, err
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if want := base64.RawURLEncoding.EncodeToString(sum[:]); p.ATH != want {
			return nil, fmt.Errorf("ath %q, want %q", p.ATH, want)
		}
	} else if p.ATH != "" {
		return nil, errors.New("ath on a proof without an access token")
	}
	return p, nil
}

func (c *DPoPChecker) verify(raw, method, url string) (*DPoPProof, error) {
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA}
	jws, err := jose.ParseSigned(raw, algs)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, fmt.Errorf("typ %q, want dpop+jwt", typ)
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return nil, errors.New("no public jwk in the header")
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	var cl struct {
		JTI, HTM, HTU, ATH, Nonce string
		IAT                       *int64
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	switch {
	case cl.JTI == "" || len(cl.JTI) < 16:
		return nil, fmt.Errorf("jti %q is missing or short", cl.JTI)
	case cl.HTM != method:
		return nil, fmt.Errorf("htm %q, want %q", cl.HTM, method)
	case cl.HTU != url:
		return nil, fmt.Errorf("htu %q, want %q", cl.HTU, url)
	case cl.IAT == nil || time.Unix(*cl.IAT, 0).Sub(now()).Abs() > time.Minute:
		return nil, errors.New("iat is missing or more than a minute off")
	case c.Nonce != "" && cl.Nonce != c.Nonce:
		return nil, fmt.Errorf("nonce %q, want %q", cl.Nonce, c.Nonce)
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.jtis[cl.JTI] {
		return nil, fmt.Errorf("jti %q replayed", cl.JTI)
	}
	if c.jtis == nil {
		c.jtis = make(map[string]bool)
	}
	c.jtis[cl.JTI] = true
	return &DPoPProof{Thumbprint: base64.RawURLEncoding.EncodeToString(tp), Alg: h.Algorithm, JTI: cl.JTI, Nonce: cl.Nonce, ATH: cl.ATH}, nil
}
