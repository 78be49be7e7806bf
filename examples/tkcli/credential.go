package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"golang.org/x/oauth2"
)

// A credential is what the credential helpers (kubectl, git-credential,
// docker-credential) hand to the tool that runs them: a token and when it
// expires. It holds a secret: only the helper's protocol field may show
// Secret.
type credential struct {
	Secret string
	Expiry time.Time // zero when the provider announced none
}

// String hides the secret, so a credential printed by mistake shows none.
func (c credential) String() string {
	return "credential(expires " + c.Expiry.Format(time.RFC3339) + ")"
}

// credentialRequest says which credential a helper wants.
type credentialRequest struct {
	// IDToken asks for the ID token instead of the access token.
	IDToken bool
	// Interactive allows a login (browser, or the device flow with
	// --device) when the account has none that can be renewed; false
	// returns the *tokensource.LoginRequiredError instead.
	Interactive bool
}

// credentialFunc returns a credential; a.credential in tkcli, a fake in the
// protocol tests.
type credentialFunc func(ctx context.Context, req credentialRequest) (credential, error)

// credentialFor returns the credential source for cfg.
func (a *app) credentialFor(cfg *config) credentialFunc {
	return func(ctx context.Context, req credentialRequest) (credential, error) {
		return a.credential(ctx, cfg, req)
	}
}

// credential opens the account and returns a token valid for at least
// cfg.minValid (capped by effectiveMinValid). With a valid token in the
// store it makes no network request.
func (a *app) credential(ctx context.Context, cfg *config, req credentialRequest) (credential, error) {
	s, err := a.open(ctx, cfg)
	if err != nil {
		return credential{}, err
	}
	defer s.c.Close()
	tok, err := freshToken(ctx, s.acct.TokenSource(), cfg.minValid)
	if errors.Is(err, tokensource.ErrLoginRequired) && req.Interactive {
		fmt.Fprintf(a.stderr, "%s: %s; logging in to %s\n", progName, loginReason(err), cfg.issuer)
		if cfg.device {
			err = a.loginDevice(ctx, s.acct)
		} else {
			err = s.acct.Login(ctx, a.loginOptions(cfg))
		}
		if err != nil {
			return credential{}, err
		}
		tok, err = freshToken(ctx, s.acct.TokenSource(), cfg.minValid)
	}
	if err != nil {
		return credential{}, err
	}
	if !req.IDToken {
		return credential{Secret: tok.AccessToken, Expiry: tok.Expiry}, nil
	}
	return a.idCredential(ctx, s.acct.TokenSource(), cfg.minValid)
}

// idCredential returns the stored ID token, refreshing first when it
// expires within minValid (capped as for access tokens).
func (a *app) idCredential(ctx context.Context, src *tokensource.Source, minValid time.Duration) (credential, error) {
	rec, err := src.Current(ctx)
	if err != nil {
		return credential{}, err
	}
	if rec.IDToken == "" {
		return credential{}, errNoIDToken
	}
	iat, exp := jwtTimes(rec.IDToken)
	if !exp.IsZero() && time.Until(exp) < effectiveMinValid(minValid, iat, exp) {
		current, err := src.TokenContext(ctx)
		if err != nil {
			return credential{}, err
		}
		if _, err := src.RefreshRejected(ctx, current); err != nil {
			return credential{}, err
		}
		if rec, err = src.Current(ctx); err != nil {
			return credential{}, err
		}
		_, exp = jwtTimes(rec.IDToken)
	}
	return credential{Secret: rec.IDToken, Expiry: exp}, nil
}

// errNoIDToken is returned by --id-token when the provider issued none.
var errNoIDToken = errors.New("the account has no ID token (is the provider an OpenID Provider?)")

// freshToken returns src's access token, replaced first when it expires
// within minValid, capped by effectiveMinValid.
func freshToken(ctx context.Context, src *tokensource.Source, minValid time.Duration) (*oauth2.Token, error) {
	tok, err := src.TokenContext(ctx)
	if err != nil {
		return nil, err
	}
	if tok.Expiry.IsZero() {
		return tok, nil
	}
	iat, _ := jwtTimes(tok.AccessToken)
	if iat.IsZero() {
		// An opaque access token: the ID token of the same response,
		// if it is the newest, tells when it was issued.
		if rec, err := src.Current(ctx); err == nil {
			if idIat, _ := jwtTimes(rec.IDToken); idIat.Before(tok.Expiry) {
				iat = idIat
			}
		}
	}
	if time.Until(tok.Expiry) < effectiveMinValid(minValid, iat, tok.Expiry) {
		// Too close to expiry for a tool that is about to use it:
		// replace it now rather than hand it out.
		return src.RefreshRejected(ctx, tok)
	}
	return tok, nil
}

// effectiveMinValid caps minValid at half the token's lifetime (exp - iat),
// so a token that lives less than minValid is not refreshed on every call.
// With an unknown issue time it returns minValid.
func effectiveMinValid(minValid time.Duration, iat, exp time.Time) time.Duration {
	if iat.IsZero() || exp.IsZero() || !exp.After(iat) {
		return minValid
	}
	return min(minValid, exp.Sub(iat)/2)
}

// jwtTimes reads the iat and exp claims of a JWT without verifying it: the
// token is one this program stored, and the times only decide when to
// refresh. It returns zero times for a token that is not a JWT.
func jwtTimes(tok string) (iat, exp time.Time) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return
	}
	var c struct {
		Iat json.Number `json:"iat"`
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return
	}
	return unixTime(c.Iat), unixTime(c.Exp)
}

func unixTime(n json.Number) time.Time {
	f, err := n.Float64()
	if err != nil || f <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}

// loginReason says in a few words why a login is needed.
func loginReason(err error) string {
	msg, _ := explain(err)
	msg, _, _ = strings.Cut(msg, " — ")
	return msg
}
