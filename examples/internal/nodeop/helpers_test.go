package nodeop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// answer is an HTTP response with its body decoded as JSON (when it is).
type answer struct {
	status int
	header http.Header
	json   map[string]any
}

func (a answer) str(name string) string { s, _ := a.json[name].(string); return s }

// String shows a's error, never its tokens.
func (a answer) String() string {
	return fmt.Sprintf("error %q (%s)", a.str("error"), a.str("error_description"))
}

// send makes one request and decodes the JSON answer.
func send(t *testing.T, method, target string, form url.Values, header http.Header) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(raw, &a.json) // not every answer is JSON
	return a
}

// prover makes DPoP proofs (RFC 9449 §4.2) with go-jose, independently of
// the SDK, and remembers the server's nonce.
type prover struct {
	key   crypto.Signer
	alg   jose.SignatureAlgorithm
	nonce string
}

func newProver(t *testing.T) *prover {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &prover{key: k, alg: jose.ES256}
}

// proof returns a proof for method and u; ath is set when accessToken is
// not empty.
func (p *prover) proof(t *testing.T, method, u, accessToken string) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: p.alg, Key: p.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"htm": method,
		"htu": u,
		"iat": time.Now().Unix(),
	}
	if p.nonce != "" {
		claims["nonce"] = p.nonce
	}
	if accessToken != "" {
		h := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(h[:])
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sendDPoP sends a request with a proof from p and, when the server asks
// for a nonce (400 or 401 use_dpop_nonce with DPoP-Nonce), once more with
// it. The first answer is returned too. form is called for each request:
// node-oidc-provider spends a client assertion even on a use_dpop_nonce
// answer, so a retry needs a fresh one.
func (p *prover) sendDPoP(t *testing.T, method, target string, form func() url.Values, accessToken string) (first, last answer) {
	t.Helper()
	if form == nil {
		form = func() url.Values { return nil }
	}
	for i := range 2 {
		h := http.Header{"Dpop": {p.proof(t, method, target, accessToken)}}
		if accessToken != "" {
			h.Set("Authorization", "DPoP "+accessToken)
		}
		a := send(t, method, target, form(), h)
		if n := a.header.Get("DPoP-Nonce"); n != "" {
			p.nonce = n
		}
		if i == 0 {
			first = a
		}
		last = a
		if !useNonce(a) {
			break
		}
	}
	return first, last
}

// useNonce reports whether a is a use_dpop_nonce error (RFC 9449 §8, §9).
func useNonce(a answer) bool {
	return a.str("error") == "use_dpop_nonce" ||
		strings.Contains(a.header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`)
}

// login runs an authorization code request for clientID as alice, with
// prompt=consent so that offline_access yields a refresh token, and returns
// the code and the PKCE verifier.
func login(t *testing.T, s *Server, clientID string, extra ...oauth2.AuthCodeOption) (code, verifier string) {
	t.Helper()
	cfg := s.OAuth2Config(clientID, "openid", "offline_access", "profile")
	cfg.RedirectURL = "http://127.0.0.1:49152/callback"
	verifier = oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")}, extra...)
	redirect, err := s.Login(context.Background(), cfg.AuthCodeURL("st4te", opts...), "alice", true)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("state") != "st4te" || q.Get("code") == "" || q.Get("iss") != s.Issuer() {
		t.Fatalf("redirect: state %q, iss %q, code set %v, error %q", q.Get("state"), q.Get("iss"), q.Get("code") != "", q.Get("error"))
	}
	return q.Get("code"), verifier
}

// codeForm is the token request form of an authorization code.
func codeForm(clientID, code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {clientID},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {"http://127.0.0.1:49152/callback"},
	}
}

// oauthS256 returns the PKCE options of an authorization URL.
func oauthS256() []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}
}

// fixed returns a form func that gives f every time.
func fixed(f url.Values) func() url.Values { return func() url.Values { return f } }
