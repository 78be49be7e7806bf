package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// session is the provider, store and account a command works with.
type session struct {
	c      *client.Client
	acct   *client.Account
	where  string // where the tokens are stored
	notice string // why they are not where the user asked, if so
}

// open discovers the provider, opens the store and returns the account.
// The caller closes s.c.
func (a *app) open(ctx context.Context, cfg *config) (*session, error) {
	ccfg := client.Config{
		Issuer:          cfg.issuer,
		ClientID:        cfg.clientID,
		ClientSecret:    cfg.clientSecret,
		Scopes:          cfg.scopes,
		NoOfflineAccess: cfg.noOffline,
		AuthParams:      cfg.authParams,
		HTTPClient:      a.httpClient,
	}
	if err := cfg.applyAuth(&ccfg); err != nil {
		return nil, err
	}
	// The account key is the Client's DefaultKey, "client-id@issuer",
	// which the store needs before the Client exists: compute it the
	// same way.
	key := cfg.clientID + "@" + cfg.issuer
	if cfg.account != "" {
		key = cfg.account
	}
	st, where, notice, err := a.openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ccfg.Store = st
	c, err := client.New(ctx, ccfg)
	if err != nil {
		return nil, err
	}
	acct, err := c.Account(key)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &session{c: c, acct: acct, where: where, notice: notice}, nil
}

func (a *app) login(ctx context.Context, cfg *config) error {
	s, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.c.Close()
	if s.notice != "" {
		fmt.Fprintln(a.stderr, s.notice)
	}
	if cfg.device {
		err = a.loginDevice(ctx, s.acct)
	} else {
		err = s.acct.Login(ctx, a.loginOptions(cfg))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "✓ Logged in to %s as %s\n  Tokens are stored in %s\n", cfg.issuer, who(ctx, s.acct), s.where)
	return nil
}

// loginOptions configures the browser login: the system browser (or the
// app's opener), or, with --no-browser, an opener that only prints the URL.
func (a *app) loginOptions(cfg *config) client.LoginOptions {
	opts := client.LoginOptions{Output: a.stderr, Port: cfg.port, OpenBrowser: a.openBrowser}
	if cfg.noBrowser {
		opts.Output = io.Discard
		opts.OpenBrowser = func(_ context.Context, u string) error {
			fmt.Fprintf(a.stderr, "Open this URL in a browser on this machine to log in:\n\n    %s\n\nWaiting for the browser to come back… (on another machine, use %s login --device)\n", u, progName)
			return nil
		}
	}
	return opts
}

// loginDevice runs the device flow with a wait indicator.
func (a *app) loginDevice(ctx context.Context, acct *client.Account) error {
	stop := func() {}
	err := acct.LoginDevice(ctx, func(dc client.DeviceCode) {
		fmt.Fprintf(a.stderr, "! First copy your one-time code: %s\n", dc.UserCode)
		if dc.VerificationURIComplete != "" {
			fmt.Fprintf(a.stderr, "  Then open %s\n  (or open %s and enter the code)\n", dc.VerificationURIComplete, dc.VerificationURI)
		} else {
			fmt.Fprintf(a.stderr, "  Then open %s and enter it.\n", dc.VerificationURI)
		}
		stop = startWaiting(a.stderr, isTerminal(a.stderr), dc.ExpiresAt, 100*time.Millisecond)
	})
	stop()
	return err
}

// status prints who is logged in and the state of the tokens, without a
// network request. It fails with an *unrenewableError (exit code 4) when
// the next command would need a login: the access token expired and there
// is no refresh token, or the refresh token expired.
func (a *app) status(ctx context.Context, cfg *config) error {
	s, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.c.Close()
	rec, err := s.acct.TokenSource().Current(ctx) // never refreshes
	if err != nil {
		return err
	}
	w := a.stdout
	now := time.Now()
	fmt.Fprintf(w, "Logged in to %s as %s\n", cfg.issuer, who(ctx, s.acct))
	fmt.Fprintf(w, "  Client:         %s\n", cfg.clientID)
	if cfg.account != "" {
		fmt.Fprintf(w, "  Account:        %s\n", cfg.account)
	}
	accessExpired := !rec.Expiry.IsZero() && !rec.Expiry.After(now)
	switch left := rec.Expiry.Sub(now); {
	case rec.Expiry.IsZero():
		fmt.Fprintf(w, "  Access token:   no expiry announced\n")
	case left > 0:
		fmt.Fprintf(w, "  Access token:   valid for %s (until %s)\n", short(left), clock(rec.Expiry))
	case rec.RefreshToken != "":
		fmt.Fprintf(w, "  Access token:   expired %s ago; the next command refreshes it\n", short(-left))
	default:
		fmt.Fprintf(w, "  Access token:   expired %s ago\n", short(-left))
	}
	fmt.Fprintf(w, "  Refresh token:  %s\n", refreshState(rec.RefreshToken != "", rec.RefreshExpiry, now))
	if !rec.AuthTime.IsZero() {
		fmt.Fprintf(w, "  Session age:    %s (logged in at %s%s)\n", short(now.Sub(rec.AuthTime)), clock(rec.AuthTime), refreshedNote(rec, now))
	}
	if rec.Scope != "" {
		fmt.Fprintf(w, "  Scopes:         %s\n", rec.Scope)
	}
	fmt.Fprintf(w, "  Stored in:      %s\n", s.where)
	if s.notice != "" {
		fmt.Fprintf(w, "  (no OS keyring is available here)\n")
	}
	switch refreshExpired := !rec.RefreshExpiry.IsZero() && !rec.RefreshExpiry.After(now); {
	case rec.RefreshToken != "" && refreshExpired:
		return &unrenewableError{why: "the refresh token expired"}
	case rec.RefreshToken == "" && accessExpired:
		return &unrenewableError{why: "the access token expired and there is no refresh token"}
	}
	return nil
}

// refreshedNote says that the tokens were refreshed since the login, when
// the access token (or, for an opaque one, the ID token) was issued more
// than a second after it, and nothing when that is not known.
func refreshedNote(rec *storage.Token, now time.Time) string {
	issued, _ := jwtTimes(rec.AccessToken)
	if issued.IsZero() {
		issued, _ = jwtTimes(rec.IDToken)
	}
	if issued.After(rec.AuthTime.Add(time.Second)) && !issued.After(now.Add(time.Minute)) {
		return "; refreshed since without a login"
	}
	return ""
}

// unrenewableError is status's answer for a session that needs a login:
// exit code 4, as for a command that needs one.
type unrenewableError struct{ why string }

func (e *unrenewableError) Error() string {
	return "your login has expired and cannot be renewed (" + e.why + ")"
}

// refreshState describes the refresh token.
func refreshState(have bool, expiry, now time.Time) string {
	switch {
	case !have:
		return "none: log in again when the access token expires (was offline_access granted?)"
	case expiry.IsZero():
		return "present; the provider announced no expiry for it"
	case expiry.After(now):
		return fmt.Sprintf("present; expires in %s (%s) unless refreshed before", short(expiry.Sub(now)), clock(expiry))
	default:
		return "expired: run `" + progName + " login`"
	}
}

// token prints an access token valid for at least cfg.minValid, capped at
// half the token's lifetime (or fresh from the provider), and nothing else,
// for scripts.
func (a *app) token(ctx context.Context, cfg *config) error {
	s, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.c.Close()
	tok, err := freshToken(ctx, s.acct.TokenSource(), cfg.minValid)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.stdout, tok.AccessToken)
	return err
}

// get sends GET URL with the access token and copies the body to stdout.
func (a *app) get(ctx context.Context, cfg *config) error {
	u, err := url.Parse(cfg.args[0])
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return usageError("get: want an http(s) URL, got " + redact(cfg.args[0]))
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return usageError("get: refusing to send the access token in clear text to " + u.Host + ": use https")
	}
	s, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.c.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := s.acct.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(a.stdout, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", redact(u.String()), resp.Status)
	}
	return nil
}

func (a *app) logout(ctx context.Context, cfg *config) error {
	s, err := a.open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.c.Close()
	if _, err := s.acct.TokenSource().Current(ctx); errors.Is(err, tokensource.ErrLoginRequired) {
		fmt.Fprintln(a.stderr, "You are not logged in.")
		return nil
	}
	if err := s.acct.Logout(ctx); err != nil {
		return err
	}
	if s.c.Endpoints().Revocation == "" {
		fmt.Fprintf(a.stderr, "✓ Logged out: tokens deleted from %s.\n  The provider has no revocation endpoint: they stay valid there until they expire.\n", s.where)
	} else {
		fmt.Fprintf(a.stderr, "✓ Logged out: tokens revoked at %s and deleted from %s\n", cfg.issuer, s.where)
	}
	return nil
}

// who names the logged-in user from the ID token's claims.
func who(ctx context.Context, acct *client.Account) string {
	id, err := acct.IDToken(ctx)
	if err != nil {
		return "(unknown user)"
	}
	var c struct {
		Name  string `json:"preferred_username"`
		Email string `json:"email"`
	}
	id.Claims(&c)
	name := id.Subject
	if c.Name != "" {
		name = c.Name
	}
	if c.Email != "" && c.Email != name {
		name += " (" + c.Email + ")"
	}
	return name
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redact drops a URL's user info, query and fragment, which may carry
// secrets.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// short formats a duration for people.
func short(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return d.Truncate(time.Minute).String()
	default:
		return d.Truncate(time.Second).String()
	}
}

func clock(t time.Time) string {
	return strings.TrimSpace(t.Local().Format("2006-01-02 15:04:05 MST"))
}
