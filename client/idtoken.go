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

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
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

	// The rest is held by a func: fmt prints a func as an address, so even
	// an IDToken in an unexported field of a printed struct (where fmt
	// calls no method and follows pointers) shows no nonce.
	priv func() *idTokenPriv
}

// idTokenPriv is what an IDToken keeps that is not for printing.
type idTokenPriv struct {
	claims   []byte // the verified payload
	nonce    string
	azp      string
	authTime *float64 // auth_time as sent, nil when absent
}

// Claims unmarshals the token's claims (its JSON payload) into v, for the
// claims the struct does not have (email, name, groups, …).
func (t *IDToken) Claims(v any) error {
	if t.priv == nil || t.priv().claims == nil {
		return errors.New("client: IDToken has no claims")
	}
	return json.Unmarshal(t.priv().claims, v)
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

// IDTokenClockSkew is how far in the future an ID token's iat may be: the
// clocks of the provider and of this program may disagree by that much.
// It is the allowance go-oidc gives nbf.
const IDTokenClockSkew = 5 * time.Minute

// idVerifier verifies ID tokens with go-oidc and turns its failures into
// the package's typed errors.
type idVerifier struct {
	issuer, clientID string
	trusted          []string         // audiences allowed besides clientID
	maxAge           time.Duration    // Config.IDTokenMaxAge; 0: no limit
	now              func() time.Time // Config.Now or time.Now
	keys             *keySet
	withExpiry       *oidc.IDTokenVerifier // checks signature, alg, iss, aud, exp, nbf
	noExpiry         *oidc.IDTokenVerifier // the same without exp and nbf
}

// newIDVerifier returns a verifier for cfg.Issuer whose keys come from
// jwksURL, fetched with hc.
func newIDVerifier(cfg Config, jwksURL string, hc *http.Client) *idVerifier {
	algs := cfg.IDTokenSigningAlgs
	if len(algs) == 0 {
		algs = defaultSigningAlgs
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	keys := newKeySet(jwksURL, hc, algs, now)
	oc := oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: algs, Now: cfg.Now}
	lax := oc
	lax.SkipExpiryCheck = true
	return &idVerifier{
		issuer:     cfg.Issuer,
		clientID:   cfg.ClientID,
		trusted:    cfg.TrustedAudiences,
		maxAge:     cfg.IDTokenMaxAge,
		now:        now,
		keys:       keys,
		withExpiry: oidc.NewVerifier(cfg.Issuer, keys, &oc),
		noExpiry:   oidc.NewVerifier(cfg.Issuer, keys, &lax),
	}
}

// checks are the verifications beyond signature, iss and aud.
type checks struct {
	nonce       string // the nonce sent; "" when none was (no check)
	accessToken string // checked against at_hash when the token has one; "": no check
	expiry      bool   // check exp (and nbf) and Config.IDTokenMaxAge: a token just received
}

// extraClaims are the claims go-oidc does not check.
type extraClaims struct {
	AZP      string   `json:"azp"`
	AuthTime *float64 `json:"auth_time"` // nil when absent
	IAT      *float64 `json:"iat"`       // nil when absent
}

// verify verifies raw: signature by kid with the provider's JWKS and an
// allowed algorithm, iss, aud, azp, iat, and what ch asks for.
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
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, withKind(ErrInvalidIDToken, err)
	}
	if err := checkClaimNames(payload, idTokenClaims); err != nil {
		return nil, withKind(ErrInvalidIDToken, err)
	}
	var extra extraClaims
	if err := tok.Claims(&extra); err != nil {
		return nil, withKind(ErrInvalidIDToken, err)
	}
	if err := v.checkAudience(tok.Audience, extra.AZP); err != nil {
		return nil, err
	}
	if err := v.checkIssuedAt(extra.IAT, ch.expiry); err != nil {
		return nil, err
	}
	if ch.nonce != "" && subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(ch.nonce)) != 1 {
		return nil, kindf(ErrNonceMismatch, "the ID token's nonce is not the one sent")
	}
	if tok.AccessTokenHash != "" && ch.accessToken != "" {
		if err := tok.VerifyAccessToken(ch.accessToken); err != nil {
			return nil, withKind(ErrInvalidIDToken, err)
		}
	}
	t := &IDToken{Issuer: tok.Issuer, Subject: tok.Subject, Audience: tok.Audience, Expiry: tok.Expiry, IssuedAt: tok.IssuedAt}
	priv := &idTokenPriv{nonce: tok.Nonce, azp: extra.AZP, authTime: extra.AuthTime}
	t.priv = func() *idTokenPriv { return priv }
	if at := extra.AuthTime; at != nil && *at > 0 && *at < maxUnixSeconds {
		t.AuthTime = time.Unix(int64(*at), 0)
	}
	priv.claims = payload
	return t, nil
}

// maxUnixSeconds bounds the times read from claims (year 9999), so that
// converting them cannot overflow.
const maxUnixSeconds = 253402300799

// checkAudience checks what go-oidc does not (it only checks that aud
// contains the client ID): every other audience must be one of
// Config.TrustedAudiences, several audiences need an azp, and an azp must
// be the client ID (OpenID Connect Core §3.1.3.7 steps 3 to 5).
func (v *idVerifier) checkAudience(aud []string, azp string) error {
	for _, a := range aud {
		if a != v.clientID && !slices.Contains(v.trusted, a) {
			return kindf(ErrAudienceMismatch, "audience %q is not trusted (Config.TrustedAudiences)", oauthwire.Sanitize(a, 100))
		}
	}
	if len(aud) > 1 && azp == "" {
		return kindf(ErrAudienceMismatch, "%d audiences and no azp", len(aud))
	}
	if azp != "" && azp != v.clientID {
		return kindf(ErrAudienceMismatch, "azp %q is not the client ID", oauthwire.Sanitize(azp, 100))
	}
	return nil
}

// checkIssuedAt refuses an ID token without iat or issued more than
// IDTokenClockSkew in the future and, for a token just received (fresh),
// one older than Config.IDTokenMaxAge (OpenID Connect Core §3.1.3.7 step
// 10). The comparisons are made in float seconds: no claim can overflow.
func (v *idVerifier) checkIssuedAt(iat *float64, fresh bool) error {
	if iat == nil {
		return kindf(ErrIDTokenIssuedAt, "the ID token has no iat")
	}
	now := float64(v.now().UnixNano()) / 1e9
	switch {
	case *iat > now+IDTokenClockSkew.Seconds():
		return kindf(ErrIDTokenIssuedAt, "the ID token was issued %s in the future", secondsString(*iat-now))
	case fresh && v.maxAge > 0 && now-*iat > v.maxAge.Seconds():
		return kindf(ErrIDTokenIssuedAt, "the ID token was issued %s ago, more than IDTokenMaxAge %s", secondsString(now-*iat), v.maxAge)
	}
	return nil
}

// secondsString prints a number of seconds as a duration, capped so that
// the conversion cannot overflow.
func secondsString(s float64) string {
	if s > 1e9 {
		return "more than 30 years"
	}
	return (time.Duration(s) * time.Second).String()
}

// classify turns a go-oidc verification failure into a typed error. When
// the signature verified (tr.payload is set) the failed check is found
// again on the verified claims; go-oidc's own error stays the cause.
func (v *idVerifier) classify(err error, tr *verifyTrace) error {
	err = sanitized(err) // go-oidc quotes claims and JSON syntax errors
	var expired *oidc.TokenExpiredError
	if errors.As(err, &expired) {
		return withKind(ErrIDTokenExpired, err)
	}
	if tr.payload == nil {
		var ke *keysFetchError
		if errors.As(tr.err, &ke) {
			return withKind(ErrKeysUnavailable, ke)
		}
		if errors.Is(tr.err, ErrInvalidIDToken) { // a typed key error: ErrUnknownKeyID, ErrMissingKeyID
			return tr.err
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
	AZP      string   `json:"azp"`
	AuthTime *float64 `json:"auth_time"` // nil when absent
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
