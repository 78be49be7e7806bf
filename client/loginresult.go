package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// ErrNoRefreshToken: a login succeeded, but the provider issued no refresh
// token although offline access was requested, so the account must log
// in again once the access token expires. It is never returned by a
// login, which succeeded; [LoginResult].NoRefreshToken matches it.
var ErrNoRefreshToken = errors.New("client: the provider issued no refresh token")

// LoginResult describes an account's last successful login in this
// process; see [Account.LastLogin].
type LoginResult struct {
	Grant        string    // "authorization_code", "device_code" or "password"
	Time         time.Time // when it completed (the record's AuthTime)
	Expiry       time.Time // the access token's expiry, zero when unknown
	Scope        string    // the scope the provider said it granted, "" when it did not say
	RefreshToken bool      // a refresh token was issued
	// NoRefreshToken is nil when a refresh token was issued or none was
	// asked for (Config.NoOfflineAccess). Otherwise it matches
	// [ErrNoRefreshToken] and its message names the usual causes for the
	// provider at hand; the same text is logged at Warn.
	NoRefreshToken error
}

// LastLogin returns the result of the account's last successful login in
// this process (Login, Exchange, LoginDevice or LoginPassword), and false
// when there was none. Logins of one account do not overlap, so right
// after a login returns nil, LastLogin describes it:
//
//	if err := a.Login(ctx, opts); err != nil { ... }
//	if r, _ := a.LastLogin(); r.NoRefreshToken != nil { warn the user }
func (a *Account) LastLogin() (LoginResult, bool) {
	a.usedMu.Lock()
	defer a.usedMu.Unlock()
	if a.last == nil {
		return LoginResult{}, false
	}
	return *a.last, true
}

// recordLogin sets the LastLogin result of a login that saved t, and
// warns when offline access was asked but no refresh token came.
func (a *Account) recordLogin(grant string, t *storage.Token) {
	r := &LoginResult{Grant: grant, Time: t.AuthTime, Expiry: t.Expiry, Scope: t.Scope, RefreshToken: t.RefreshToken != ""}
	if !r.RefreshToken && !a.c.cfg.NoOfflineAccess {
		r.NoRefreshToken = fmt.Errorf("%w: %s", ErrNoRefreshToken, noRefreshHint(a.c.cfg.Issuer, a.c.ep.Token, t.Scope))
		a.c.log.Warn("client: logged in, but the provider issued no refresh token: the account must log in again when the access token expires",
			slog.String("key", a.key), slog.String("causes", r.NoRefreshToken.Error()))
	}
	a.usedMu.Lock()
	a.last = r
	a.usedMu.Unlock()
}

// noRefreshHint names the usual causes of a missing refresh token for the
// provider at issuer (or, without one, the token endpoint), from its host
// name, and whether the granted scope lacks offline_access.
func noRefreshHint(issuer, tokenURL, scope string) string {
	where := issuer
	if where == "" {
		where = tokenURL
	}
	u, _ := url.Parse(where)
	host, path := "", ""
	if u != nil {
		host, path = strings.ToLower(u.Hostname()), u.Path
	}
	var hint string
	switch {
	case host == "accounts.google.com":
		hint = "Google issues a refresh token only with access_type=offline, and after the first consent only with prompt=consent (both are sent unless Config.NoProviderDefaults or AuthParams override them)"
	case strings.HasSuffix(host, ".auth0.com"):
		hint = `Auth0 needs "Allow Offline Access" on the API (audience) and the Refresh Token grant enabled on the application`
	case strings.HasSuffix(host, ".okta.com") || strings.HasSuffix(host, ".oktapreview.com"):
		hint = "Okta needs the Refresh Token grant type enabled on the app and allowed by the authorization server's access policy rule"
	case host == "login.microsoftonline.com" || strings.HasSuffix(host, ".ciamlogin.com"):
		hint = "Entra needs the offline_access permission consented (an admin may have to grant it; set Config.PromptConsent to ask the user again)"
	case strings.Contains(path, "/realms/"):
		hint = `Keycloak issues none when the client's "Use refresh tokens" is off, and offline tokens only with the offline_access role`
	case strings.Contains(host, "appid"):
		hint = "IBM App ID issues refresh tokens only when they are enabled in its token configuration"
	case strings.Contains(host, "dex"):
		hint = "Dex issues none when the connector cannot refresh or the client may not use offline_access"
	default:
		hint = "the usual causes: prompt=consent missing (strict OpenID Connect providers such as node-oidc-provider ignore offline_access without it; set Config.PromptConsent), the client's refresh_token grant disabled at the provider, or offline_access not granted"
	}
	if scope != "" && !strings.Contains(" "+scope+" ", " offline_access ") && host != "accounts.google.com" {
		hint = "the granted scope lacks offline_access; " + hint
	}
	return hint
}
