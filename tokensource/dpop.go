package tokensource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// DPoPTokenType is the token_type of DPoP-bound tokens (RFC 9449 §5).
const DPoPTokenType = "DPoP"

// DefaultDPoPAlgorithm is the algorithm of keys made by [NewDPoPKey] when
// none is named: ECDSA on P-256, the algorithm every DPoP server supports.
const DefaultDPoPAlgorithm = "ES256"

// ErrDPoPDowngrade is matched (errors.Is) by the error of a token request
// that carried a DPoP proof and was answered with tokens of another type:
// such tokens are refused, since they would be usable by anyone who holds
// them. A refresh token rotated by that answer is kept all the same.
var ErrDPoPDowngrade = errors.New("tokensource: the token endpoint answered a DPoP request with tokens that are not DPoP-bound")

// Limits on what a server may make a DPoPKey remember.
const (
	maxNonce        = 512 // bytes of one DPoP-Nonce; longer ones are ignored
	maxNonceOrigins = 64  // origins whose nonces are kept; beyond, one is dropped
)

// DPoPKey is the key pair that binds an account's tokens to this client
// with DPoP ([RFC 9449]), together with the nonces the servers asked it
// to put in its proofs, remembered per origin.
//
// The key is made once per login by [NewDPoPKey] and kept with the tokens
// (Encode, into [storage.Token].DPoPKey) for as long as they live: a
// DPoP-bound refresh token is useless without it. A DPoPKey is safe for
// concurrent use. Printed (String, every fmt verb, slog, JSON) it shows
// its algorithm and thumbprint, never the private key. The zero DPoPKey
// is not usable.
//
// [RFC 9449]: https://www.rfc-editor.org/rfc/rfc9449
type DPoPKey struct {
	s *dpopState // shared by copies; a printed DPoPKey value shows its address only
}

// dpopState is a DPoPKey's key and memory.
type dpopState struct {
	alg    jose.SignatureAlgorithm
	enc    string      // Encode's result
	jkt    string      // Thumbprint's result
	signer jose.Signer // typ dpop+jwt, jwk embedded; safe for concurrent use

	ath atomic.Pointer[athMemo] // the last access token's hash

	mu     sync.Mutex        // guards nonces
	nonces map[string]string // origin → the newest DPoP-Nonce it sent
}

// athMemo remembers the ath claim of one access token: a transport sends
// the same token many times.
type athMemo struct{ token, ath string }

// NewDPoPKey makes a new key for alg: "ES256" (ECDSA P-256, the default
// when alg is ""), "RS256" (RSA 2048) or "EdDSA" (Ed25519). Another alg
// gives an error matching [ErrUnsupportedKey].
func NewDPoPKey(alg string) (*DPoPKey, error) {
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case "", "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("tokensource: DPoP algorithm %q is not ES256, RS256 or EdDSA: %w", alg, ErrUnsupportedKey)
	}
	if err != nil {
		return nil, fmt.Errorf("tokensource: new DPoP key: %w", err)
	}
	return newDPoPKey(key)
}

// ParseDPoPKey returns the key that [DPoPKey.Encode] encoded. Its errors
// match [ErrMalformedKey] or [ErrUnsupportedKey] and hold none of the key.
func ParseDPoPKey(encoded string) (*DPoPKey, error) {
	der, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP key: not base64url: %w", ErrMalformedKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP key: not a PKCS #8 private key: %w", ErrMalformedKey)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("tokensource: DPoP key: %T: %w", k, ErrUnsupportedKey)
	}
	return newDPoPKey(key)
}

// newDPoPKey wraps key, checking that it is one NewDPoPKey would make.
func newDPoPKey(key crypto.Signer) (*DPoPKey, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("tokensource: DPoP key: ECDSA on %s, not P-256: %w", k.Curve.Params().Name, ErrUnsupportedKey)
		}
		alg = jose.ES256
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("tokensource: DPoP key: RSA with %d bits, fewer than 2048: %w", k.N.BitLen(), ErrUnsupportedKey)
		}
		alg = jose.RS256
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	default:
		return nil, fmt.Errorf("tokensource: DPoP key: %T: %w", key, ErrUnsupportedKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP key: %w", ErrMalformedKey)
	}
	jkt, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP key: thumbprint: %w", err)
	}
	// The public key goes into every proof's header. Marshalled here once
	// rather than by go-jose for every proof (EmbedJWK): a proof costs
	// little more than its signature.
	jwk, err := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP key: %w", err)
	}
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", json.RawMessage(jwk))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("tokensource: DPoP key: %w", err)
	}
	return &DPoPKey{&dpopState{
		alg:    alg,
		enc:    base64.RawURLEncoding.EncodeToString(der),
		jkt:    base64.RawURLEncoding.EncodeToString(jkt),
		signer: signer,
	}}, nil
}

// Encode returns the private key in the form [storage.Token].DPoPKey
// keeps and [ParseDPoPKey] reads: its PKCS #8 DER, base64url. The result
// is a secret; it must go to a store and nowhere else.
func (k *DPoPKey) Encode() string { return k.s.enc }

// Algorithm returns the JWS algorithm of the proofs: ES256, RS256 or EdDSA.
func (k *DPoPKey) Algorithm() string { return string(k.s.alg) }

// Thumbprint returns the key's JWK SHA-256 thumbprint ([RFC 7638]),
// base64url: the value of dpop_jkt on an authorization request and of
// the cnf.jkt claim of the tokens bound to the key.
//
// [RFC 7638]: https://www.rfc-editor.org/rfc/rfc7638
func (k *DPoPKey) Thumbprint() string { return k.s.jkt }

// dpopClaims is the payload of a proof (RFC 9449 §4.2).
type dpopClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Proof returns a DPoP proof for a request with method to u, issued at
// now: a JWT of type dpop+jwt whose header carries the public key and
// whose claims are a random jti, htm, htu (u without its query and
// fragment), iat, ath (the hash of accessToken) when accessToken is not
// empty, as on requests to resource servers, and the nonce remembered for
// u's origin, if any. A proof is a credential for one request: send it
// in the request's DPoP header and nowhere else.
func (k *DPoPKey) Proof(method string, u *url.URL, accessToken string, now time.Time) (string, error) {
	if u == nil || u.Host == "" || u.Scheme == "" {
		return "", errors.New("tokensource: DPoP proof: the request URL is not absolute")
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("tokensource: DPoP proof: jti: %w", err)
	}
	c := dpopClaims{
		JTI:   base64.RawURLEncoding.EncodeToString(jti[:]),
		HTM:   method,
		HTU:   htu(u),
		IAT:   now.Unix(),
		Nonce: k.Nonce(u),
	}
	if accessToken != "" {
		c.ATH = k.accessTokenHash(accessToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("tokensource: DPoP proof: %w", err)
	}
	jws, err := k.s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("tokensource: DPoP proof: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// accessTokenHash returns the ath claim for tok: base64url(SHA-256(tok)).
func (k *DPoPKey) accessTokenHash(tok string) string {
	if m := k.s.ath.Load(); m != nil && m.token == tok {
		return m.ath
	}
	sum := sha256.Sum256([]byte(tok))
	ath := base64.RawURLEncoding.EncodeToString(sum[:])
	k.s.ath.Store(&athMemo{token: tok, ath: ath})
	return ath
}

// htu is the htu claim for u: its scheme, host and path.
func htu(u *url.URL) string {
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.ToLower(u.Scheme) + "://" + u.Host + path
}

// SetNonce remembers nonce, the value of a DPoP-Nonce header that u's
// origin sent, for the proofs of later requests to that origin. An empty,
// overlong (over 512 bytes) or malformed nonce (RFC 9449 §8.1: printable
// ASCII without space, '"' and '\') is ignored. Nonces of at most 64
// origins are kept.
func (k *DPoPKey) SetNonce(u *url.URL, nonce string) {
	if u == nil || !validNonce(nonce) {
		return
	}
	o, st := origin(u), k.s
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.nonces == nil {
		st.nonces = make(map[string]string)
	}
	if _, ok := st.nonces[o]; !ok && len(st.nonces) >= maxNonceOrigins {
		for drop := range st.nonces {
			delete(st.nonces, drop)
			break
		}
	}
	st.nonces[o] = nonce
}

// Nonce returns the nonce remembered for u's origin, "" when none.
func (k *DPoPKey) Nonce(u *url.URL) string {
	if u == nil {
		return ""
	}
	o, st := origin(u), k.s
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.nonces[o]
}

func validNonce(n string) bool {
	if n == "" || len(n) > maxNonce {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// origin is u's scheme and host, in lower case, without a default port.
func origin(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	switch {
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host
}

// String describes k by its algorithm and thumbprint; the private key is
// never shown. String, Format, LogValue and MarshalJSON have value
// receivers so that a DPoPKey value is redacted too; the zero DPoPKey
// prints as "tokensource.DPoPKey{}" (fmt prints a nil *DPoPKey as <nil>).
func (k DPoPKey) String() string {
	if k.s == nil {
		return "tokensource.DPoPKey{}"
	}
	return fmt.Sprintf("tokensource.DPoPKey{Algorithm:%s Thumbprint:%s}", k.s.alg, k.s.jkt)
}

// Format implements fmt.Formatter: every verb prints String.
func (k DPoPKey) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }

// LogValue implements slog.LogValuer without the private key.
func (k DPoPKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON writes String as a JSON string, without the private key.
func (k DPoPKey) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }
