package client

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// IDToken holds the verified claims of an ID token (OpenID Connect Core
// §2). It does not hold the token itself.
type IDToken struct {
	Issuer   string    // iss
	Subject  string    // sub: the user's stable identifier at the provider
	Audience []string  // aud
	Expiry   time.Time // exp
	IssuedAt time.Time // iat
	AuthTime time.Time // auth_time, zero when absent

	claims []byte // the verified payload
	nonce  string
}

// Claims unmarshals the token's claims (its JSON payload) into v, for the
// claims the struct does not have (email, name, groups, …).
func (t *IDToken) Claims(v any) error {
	if t.claims == nil {
		return errors.New("client: IDToken has no claims")
	}
	return json.Unmarshal(t.claims, v)
}

// String describes the token by issuer, subject, audience and expiry.
// String, GoString, Format and LogValue have value receivers, so that no
// form of an IDToken shows its nonce; fmt prints a nil *IDToken as <nil>.
func (t IDToken) String() string {
	return fmt.Sprintf("client.IDToken{Issuer:%q Subject:%q Audience:%q Expiry:%s}", t.Issuer, t.Subject, t.Audience, t.Expiry.UTC().Format(time.RFC3339))
}

// GoString is String: %#v never shows the nonce or the raw claims.
func (t IDToken) GoString() string { return t.String() }

// Format implements fmt.Formatter: every verb prints String.
func (t IDToken) Format(f fmt.State, verb rune) { fmt.Fprint(f, t.String()) }

// LogValue implements slog.LogValuer with String.
func (t IDToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// defaultSigningAlgs are the ID token algorithms accepted by default.
var defaultSigningAlgs = []string{oidc.RS256}

// idVerifier verifies ID tokens with go-oidc and turns its failures into
// the package's typed errors.
type idVerifier struct {
	issuer, clientID string
	withExpiry       *oidc.IDTokenVerifier // checks signature, alg, iss, aud, exp, nbf
	noExpiry         *oidc.IDTokenVerifier // the same without exp and nbf
}

// newIDVerifier returns a verifier for cfg.Issuer whose keys come from
// jwksURL, fetched with hc's transport.
func newIDVerifier(cfg Config, jwksURL string, hc *http.Client) *idVerifier {
	jwks := &http.Client{Transport: &keysTransport{base: hc.Transport}, Timeout: hc.Timeout}
	keys := &keySet{remote: oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), jwks), jwksURL)}
	algs := cfg.IDTokenSigningAlgs
	if len(algs) == 0 {
		algs = defaultSigningAlgs
	}
	oc := oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: algs, Now: cfg.Now}
	lax := oc
	lax.SkipExpiryCheck = true
	return &idVerifier{
		issuer:     cfg.Issuer,
		clientID:   cfg.ClientID,
		withExpiry: oidc.NewVerifier(cfg.Issuer, keys, &oc),
		noExpiry:   oidc.NewVerifier(cfg.Issuer, keys, &lax),
	}
}

// checks are the verifications beyond signature, iss and aud.
type checks struct {
	nonce       string // the nonce sent; "" when none was (no check)
	accessToken string // checked against at_hash when the token has one; "": no check
	expiry      bool   // check exp (and nbf)
}

// verify verifies raw: signature by kid with the provider's JWKS and an
// allowed algorithm, iss, aud, azp, and what ch asks for.
func (v *idVerifier) verify(ctx context.Context, raw string, ch checks) (*IDToken, error) {
	vr := v.noExpiry
	if ch.expiry {
		vr = v.withExpiry
	}
	var tr verifyTrace
	tok, err := vr.Verify(context.WithValue(ctx, traceKey{}, &tr), raw)
	if err != nil {
		return nil, v.classify(err, &tr)
	}
	var extra struct {
		AZP      string  `json:"azp"`
		AuthTime float64 `json:"auth_time"`
	}
	if err := tok.Claims(&extra); err != nil {
		return nil, withKind(ErrInvalidIDToken, err)
	}
	if len(tok.Audience) > 1 && extra.AZP == "" {
		return nil, kindf(ErrAudienceMismatch, "several audiences %q and no azp", tok.Audience)
	}
	if extra.AZP != "" && extra.AZP != v.clientID {
		return nil, kindf(ErrAudienceMismatch, "azp %q is not the client ID", extra.AZP)
	}
	if ch.nonce != "" && subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(ch.nonce)) != 1 {
		return nil, kindf(ErrNonceMismatch, "the ID token's nonce is not the one sent")
	}
	if tok.AccessTokenHash != "" && ch.accessToken != "" {
		if err := tok.VerifyAccessToken(ch.accessToken); err != nil {
			return nil, withKind(ErrInvalidIDToken, err)
		}
	}
	t := &IDToken{Issuer: tok.Issuer, Subject: tok.Subject, Audience: tok.Audience, Expiry: tok.Expiry, IssuedAt: tok.IssuedAt, nonce: tok.Nonce}
	if extra.AuthTime > 0 {
		t.AuthTime = time.Unix(int64(extra.AuthTime), 0)
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, withKind(ErrInvalidIDToken, err)
	}
	t.claims = payload
	return t, nil
}

// classify turns a go-oidc verification failure into a typed error. When
// the signature verified (tr.payload is set) the failed check is found
// again on the verified claims; go-oidc's own error stays the cause.
func (v *idVerifier) classify(err error, tr *verifyTrace) error {
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return withKind(ErrIDTokenExpired, err)
	}
	if tr.payload == nil {
		var ke *keysFetchError
		if errors.As(tr.err, &ke) {
			return withKind(ErrKeysUnavailable, ke)
		}
		return withKind(ErrInvalidIDToken, err)
	}
	c, perr := parseClaims(tr.payload)
	switch {
	case perr != nil:
		return withKind(ErrInvalidIDToken, err)
	case c.Issuer != v.issuer:
		return withKind(ErrIssuerMismatch, err)
	case !slices.Contains(c.Audience, v.clientID):
		return withKind(ErrAudienceMismatch, err)
	}
	return withKind(ErrInvalidIDToken, err)
}

// basicClaims are the claims compared between ID tokens.
type basicClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	Nonce    string   `json:"nonce"`
}

// audience is the aud claim: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = l
	return nil
}

func parseClaims(payload []byte) (*basicClaims, error) {
	var c basicClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("ID token claims: %w", err)
	}
	return &c, nil
}

// IDToken returns the verified claims of the account's current ID token:
// its signature, iss, aud and azp are checked again (the JWKS may be
// fetched), its expiry is not: ID tokens are short-lived, and exp was
// checked when the token was received. IDToken does not refresh.
//
// It fails with [tokensource.ErrLoginRequired] when the account has no
// tokens, [ErrNoIDToken] when it has no ID token, and [ErrUnsupported]
// for a Client without an Issuer.
func (a *Account) IDToken(ctx context.Context) (*IDToken, error) {
	if a.c.ids == nil {
		return nil, fmt.Errorf("%w: ID tokens need Config.Issuer", ErrUnsupported)
	}
	rec, err := a.src.Current(ctx)
	if err != nil {
		return nil, err
	}
	if rec.IDToken == "" {
		return nil, ErrNoIDToken
	}
	return a.c.ids.verify(ctx, rec.IDToken, checks{})
}
