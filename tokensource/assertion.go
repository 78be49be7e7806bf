package tokensource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ClientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long a client assertion made by
// [ClientAssertion] is valid: its exp is its iat plus AssertionLifetime.
const AssertionLifetime = 60 * time.Second

// ClientAssertion authenticates a confidential client with a private key
// instead of a client secret: private_key_jwt (OpenID Connect Core §9,
// RFC 7523 §2.2). Every request gets a fresh signed JWT whose iss and sub
// are the client ID, with aud, iat, an exp [AssertionLifetime] later and a
// random jti; it is sent as client_assertion with client_id and
// client_assertion_type, and neither a client secret nor HTTP Basic
// credentials are sent.
//
// Only Signer is required. A ClientAssertion is safe for concurrent use
// as long as Signer is, and must not be changed once in use. Printed
// (String, every fmt verb, slog, JSON) it shows its algorithm, key ID and
// audience, never the key.
type ClientAssertion struct {
	// Signer signs the assertions: an *rsa.PrivateKey, *ecdsa.PrivateKey,
	// ed25519.PrivateKey, or any crypto.Signer with such a public key (an
	// HSM or a cloud KMS key). Required.
	Signer crypto.Signer
	// Algorithm is the JWS algorithm: RS256, PS256 (and their 384/512
	// forms) for an RSA key, ES256, ES384 or ES512 for an ECDSA key on
	// P-256, P-384 or P-521, EdDSA for an Ed25519 key. "": RS256 for RSA,
	// the curve's for ECDSA, EdDSA for Ed25519.
	Algorithm string
	// KeyID is the assertion's kid header: the key's ID in the JWK set
	// registered with the provider. "": no kid (some providers then try
	// every registered key; most want one).
	KeyID string
	// Audience is the assertion's aud. "": the issuer when the caller knows
	// it (package client, with Config.Issuer), else the token endpoint URL.
	// Providers that want the token endpoint URL even when there is an
	// issuer (Microsoft Entra ID) need it set.
	Audience string
}

// algorithm returns the JWS algorithm for a, checked against its key.
func (a *ClientAssertion) algorithm() (jose.SignatureAlgorithm, error) {
	if a == nil || a.Signer == nil {
		return "", errors.New("tokensource: ClientAssertion.Signer is nil")
	}
	pub := a.Signer.Public()
	allowed := keyAlgorithms(pub)
	if len(allowed) == 0 {
		return "", fmt.Errorf("tokensource: ClientAssertion: unsupported key type %T: %w", pub, ErrUnsupportedKey)
	}
	if a.Algorithm == "" {
		return allowed[0], nil
	}
	alg := jose.SignatureAlgorithm(a.Algorithm)
	if !slices.Contains(allowed, alg) {
		return "", fmt.Errorf("tokensource: ClientAssertion: algorithm %q does not fit a %T key", a.Algorithm, pub)
	}
	return alg, nil
}

// keyAlgorithms lists the algorithms pub can verify, the default first.
func keyAlgorithms(pub crypto.PublicKey) []jose.SignatureAlgorithm {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.RS384, jose.PS384, jose.RS512, jose.PS512}
	case ed25519.PublicKey:
		return []jose.SignatureAlgorithm{jose.EdDSA}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []jose.SignatureAlgorithm{jose.ES256}
		case elliptic.P384():
			return []jose.SignatureAlgorithm{jose.ES384}
		case elliptic.P521():
			return []jose.SignatureAlgorithm{jose.ES512}
		}
	}
	return nil
}

func (a *ClientAssertion) validate() error {
	_, err := a.algorithm()
	return err
}

// Alg returns the JWS algorithm a signs with: Algorithm, or the default
// for its key. It fails when Signer is nil, its key is of an unsupported
// type (the error wraps [ErrUnsupportedKey]), or Algorithm does not fit
// the key: use it to check a ClientAssertion before use.
func (a *ClientAssertion) Alg() (string, error) {
	alg, err := a.algorithm()
	return string(alg), err
}

// Sign returns a new client assertion for clientID: a JWT signed with
// a.Signer whose iss and sub are clientID, whose aud is a.Audience or,
// when that is empty, audience, issued at now and valid for
// [AssertionLifetime], with a random 128-bit jti. The result is a bearer
// credential: it must be sent only to the provider and never logged.
func (a *ClientAssertion) Sign(clientID, audience string, now time.Time) (string, error) {
	alg, err := a.algorithm()
	if err != nil {
		return "", err
	}
	if clientID == "" {
		return "", errors.New("tokensource: client assertion: no client ID")
	}
	if a.Audience != "" {
		audience = a.Audience
	}
	if audience == "" {
		return "", errors.New("tokensource: client assertion: no audience")
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("tokensource: client assertion: jti: %w", err)
	}
	key := jose.JSONWebKey{Key: cryptosigner.Opaque(a.Signer), KeyID: a.KeyID}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("tokensource: client assertion: %w", err)
	}
	iat := now.Round(0).Truncate(time.Second)
	claims := jwt.Claims{
		Issuer:   clientID,
		Subject:  clientID,
		Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(iat),
		Expiry:   jwt.NewNumericDate(iat.Add(AssertionLifetime)),
		ID:       base64.RawURLEncoding.EncodeToString(jti),
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("tokensource: client assertion: sign: %w", err)
	}
	return s, nil
}

// AuthenticateForm sets in form the client authentication of a request
// to one of the provider's endpoints (token, revocation, device
// authorization): client_id, client_assertion_type and a fresh
// client_assertion for clientID, whose aud is a.Audience or, when that is
// empty, audience. Any client_secret in form is removed.
func (a *ClientAssertion) AuthenticateForm(form url.Values, clientID, audience string, now time.Time) error {
	s, err := a.Sign(clientID, audience, now)
	if err != nil {
		return err
	}
	form.Del("client_secret")
	form.Set("client_id", clientID)
	form.Set("client_assertion_type", ClientAssertionType)
	form.Set("client_assertion", s)
	return nil
}

// String describes a by its algorithm, key ID and audience; the key is
// never shown.
func (a ClientAssertion) String() string {
	alg := a.Algorithm
	if alg == "" {
		if x, err := a.algorithm(); err == nil {
			alg = string(x)
		}
	}
	return fmt.Sprintf("tokensource.ClientAssertion{Algorithm:%q KeyID:%q Audience:%q Signer:%s}", alg, a.KeyID, a.Audience, signerKind(a.Signer))
}

// signerKind names the kind of key s holds, without any of it.
func signerKind(s crypto.Signer) string {
	if s == nil {
		return "nil"
	}
	switch s.Public().(type) {
	case *rsa.PublicKey:
		return "[RSA key]"
	case *ecdsa.PublicKey:
		return "[ECDSA key]"
	case ed25519.PublicKey:
		return "[Ed25519 key]"
	}
	return "[key]"
}

// Format implements fmt.Formatter: every verb prints String, so the key
// never reaches output.
func (a ClientAssertion) Format(f fmt.State, verb rune) { fmt.Fprint(f, a.String()) }

// LogValue implements slog.LogValuer without the key.
func (a ClientAssertion) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalJSON writes String as a JSON string, without the key.
func (a ClientAssertion) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }
