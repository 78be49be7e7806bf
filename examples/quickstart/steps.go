package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// login is step 1: the authorization code flow with PKCE through a
// loopback listener, then a look at what was stored.
func (d *demo) login(ctx context.Context, acct *client.Account) error {
	scopes := "openid offline_access " + strings.Join(d.opts.scopes, " ")
	if d.opts.noOffline {
		scopes = "openid " + strings.Join(d.opts.scopes, " ")
	}
	d.say.line("\n1. Log in: authorization code flow with PKCE (S256), scopes %q", strings.TrimSpace(scopes))
	if d.op != nil {
		d.say.line("   a headless browser opens the authorization URL and signs in as %s", oidctest.DefaultUsername)
	} else {
		d.say.line("   your browser opens the authorization URL: sign in there")
	}
	err := acct.Login(ctx, client.LoginOptions{
		OpenBrowser: d.opener, // nil: the system browser
		Output:      d.output,
		Port:        d.opts.port,
		Timeout:     d.opts.loginTimeout,
	})
	if err != nil {
		return err
	}
	who := "(no ID token)"
	if id, err := acct.IDToken(ctx); err == nil {
		who = id.Subject
	} else if !errors.Is(err, client.ErrNoIDToken) {
		return err
	}
	rec, err := acct.TokenSource().Current(ctx)
	if err != nil {
		return err
	}
	d.seeExpiry(rec.Expiry)
	d.say.line("   ✓ logged in as %s; the code was exchanged for tokens (shown as SHA-256 fingerprints, never the tokens):", who)
	d.say.line("     access %s, refresh %s, ID %s", fp(rec.AccessToken), fp(rec.RefreshToken), fp(rec.IDToken))
	d.say.line("   the access token is valid for %s; all three are saved encrypted (AES-256-GCM) in %s", until(rec.Expiry), d.dir)
	if rec.RefreshToken == "" {
		return errors.New("the provider issued no refresh token: check that offline_access (or its equivalent) is allowed for this client")
	}
	return nil
}

// callAPI calls the protected API through the account's http.Client,
// which adds "Authorization: Bearer" and refreshes a rejected token once.
func (d *demo) callAPI(ctx context.Context, acct *client.Account, title string) error {
	if title != "" {
		d.say.line("%s", title)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.opts.api, nil)
	if err != nil {
		return err
	}
	resp, err := acct.HTTPClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Sub string `json:"sub"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) // best effort: only for the narration
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", redact(d.opts.api), resp.Status)
	}
	who := ""
	if body.Sub != "" {
		who = " (the API sees sub " + body.Sub + ")"
	}
	d.say.line("   GET %s → %s%s", redact(d.opts.api), resp.Status, who)
	return nil
}

// expire is step 3: wait until the first access token has expired (with
// the in-process provider, a few seconds), watching the background
// refresh; a provider whose tokens live longer than -max-wait gets a
// refresh at once, the one a 401 from an API would cause.
func (d *demo) expire(ctx context.Context, acct *client.Account) error {
	src := acct.TokenSource()
	first, err := src.Current(ctx)
	if err != nil {
		return err
	}
	left := time.Until(first.Expiry)
	forced := first.Expiry.IsZero() || left > d.opts.maxWait
	if forced {
		d.say.line("\n3. The access token is valid for %s: rather than wait, refresh it now, as a 401 from an API would", until(first.Expiry))
		tok, err := src.TokenContext(ctx)
		if err != nil {
			return err
		}
		if _, err := src.RefreshRejected(ctx, tok); err != nil {
			return err
		}
	} else {
		d.say.line("\n3. Let the access token expire (in %s): tokenkeeper refreshes it in the background before then", round(left))
		if err := d.waitPast(ctx, first.Expiry); err != nil {
			return err
		}
	}
	now, err := src.Current(ctx)
	if err != nil {
		return err
	}
	if now.RefreshToken != first.RefreshToken {
		d.say.line("   refresh token %s → %s: rotated, and the file now holds record version %d", fp(first.RefreshToken), fp(now.RefreshToken), now.Version)
	} else {
		d.say.line("   refresh token %s kept: this provider does not rotate refresh tokens", fp(now.RefreshToken))
	}
	if forced {
		d.say.line("   the first access token %s was replaced by %s", fp(first.AccessToken), fp(now.AccessToken))
	} else {
		d.say.line("   the first access token %s has expired; the current one is %s", fp(first.AccessToken), fp(now.AccessToken))
	}
	return d.callAPI(ctx, acct, "")
}

// waitPast waits until expiry has passed and at least one refresh was made.
func (d *demo) waitPast(ctx context.Context, expiry time.Time) error {
	deadline := time.NewTimer(time.Until(expiry) + 30*time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(expiry.Add(100*time.Millisecond)) || d.refreshes.Load() == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errors.New("no refresh within 30 s of the access token's expiry")
		case <-tick.C:
		}
	}
	return nil
}

// restart is step 4: a new Client on the same file store finds the tokens.
func (d *demo) restart(ctx context.Context, acct *client.Account) error {
	d.say.line("\n4. Start again, as the next run of the program would: a new store and Client on the same encrypted file")
	rec, err := acct.TokenSource().Current(ctx)
	if err != nil {
		return fmt.Errorf("the tokens were not found in the file: %w", err)
	}
	d.seeExpiry(rec.Expiry)
	who := "the user"
	if id, err := acct.IDToken(ctx); err == nil {
		who = id.Subject
	}
	d.say.line("   found the tokens of %s in the file (record version %d, logged in %s ago): no login needed",
		who, rec.Version, round(time.Since(rec.AuthTime)))
	if err := d.callAPI(ctx, acct, ""); err != nil {
		return err
	}
	if d.op != nil {
		d.say.line("   the provider has seen %d login (authorization code redemption) in all", d.op.TokenRequests("authorization_code"))
	}
	return nil
}

// logout is step 5: revoke at the provider and delete locally, then show
// that the old refresh token is dead and the app must log in again.
func (d *demo) logout(ctx context.Context, c *client.Client, acct *client.Account) error {
	d.say.line("\n5. Log out")
	src := acct.TokenSource()
	old, err := src.Current(ctx)
	if err != nil {
		return err
	}
	if err := acct.Logout(ctx); err != nil {
		return err // ErrNotRevoked: deleted locally, but the provider did not confirm
	}
	ep := c.Endpoints()
	if ep.Revocation == "" {
		d.say.line("   ✓ tokens deleted from the file; this provider has no revocation endpoint, so they stay valid there until they expire")
	} else {
		d.say.line("   ✓ tokens revoked at the provider (RFC 7009) and deleted from the file")
		if err := d.checkRevoked(ctx, ep.Token, old.RefreshToken); err != nil {
			return err
		}
	}
	_, err = src.TokenContext(ctx)
	var lre *tokensource.LoginRequiredError
	if !errors.As(err, &lre) {
		return fmt.Errorf("after logout the token source answered %v, want tokensource.ErrLoginRequired", err)
	}
	d.say.line("   the app now gets tokensource.ErrLoginRequired (%s): its cue to run the login again", lre.Reason)
	return nil
}

// checkRevoked redeems the revoked refresh token directly at the token
// endpoint: the provider must refuse it.
func (d *demo) checkRevoked(ctx context.Context, tokenURL, refresh string) error {
	conf := &oauth2.Config{
		ClientID:     d.cfg.ClientID,
		ClientSecret: d.cfg.ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: d.cfg.AuthStyle},
	}
	_, err := tokensource.Exchange(ctx, nil, conf, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	var te *tokensource.Error
	switch {
	case err == nil:
		return errors.New("the provider still accepts the revoked refresh token")
	case errors.As(err, &te) && te.Code != "":
		d.say.line("   the provider now refuses the old refresh token %s: %s", fp(refresh), te.Code)
		return nil
	default:
		return fmt.Errorf("checking the revoked refresh token: %w", err)
	}
}

// until describes how long until t.
func until(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return round(time.Until(t)).String()
}

// round rounds d for display.
func round(d time.Duration) time.Duration {
	if d > time.Minute || d < -time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// redact drops a URL's query and fragment, which may carry secrets.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
