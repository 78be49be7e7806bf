package client_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// redeemAt sends one refresh_token grant with rt to the OP, as a second
// process holding an old copy would.
func redeemAt(t *testing.T, p *oidctest.Provider, clientID, rt string) error {
	t.Helper()
	_, err := tokensource.Exchange(t.Context(), nil, &oauth2.Config{ClientID: clientID,
		Endpoint: oauth2.Endpoint{TokenURL: p.Endpoints().Token, AuthStyle: oauth2.AuthStyleInParams}},
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	return err
}

func wantInvalidGrant(t *testing.T, err error) {
	t.Helper()
	var te *tokensource.Error
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Fatalf("got %v, want invalid_grant", err)
	}
}

// TestRefreshRotationRealOP refreshes through the account's Source: the
// refresh token rotates, the refreshed ID token passes the §12.2 check,
// and the old refresh token is then refused by the OP.
func TestRefreshRotationRealOP(t *testing.T) {
	p := startOP(t, oidctest.Options{})
	a := account(t, newClient(t, nativeConfig(p, nil)))
	login(t, p, a)
	before, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	after, err := forceRefresh(t, a)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if after.RefreshToken == before.RefreshToken || after.AccessToken == before.AccessToken {
		t.Fatal("the refresh did not rotate the tokens")
	}
	if after.IDToken == before.IDToken {
		t.Error("the OP's refreshed ID token was not kept")
	}
	if !after.AuthTime.Equal(before.AuthTime) {
		t.Errorf("AuthTime changed on refresh: %v → %v", before.AuthTime, after.AuthTime)
	}
	wantInvalidGrant(t, redeemAt(t, p, p.NativeClient(), before.RefreshToken))
	if id, err := a.IDToken(t.Context()); err != nil || id.Subject != oidctest.DefaultUsername {
		t.Fatalf("IDToken after refresh: %v, %v", id, err)
	}
	resp, err := a.HTTPClient().Get(p.Endpoints().Resource)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("resource with the refreshed token: got %d", resp.StatusCode)
	}
}

// TestRevokedAtProvider: once the OP revokes the user's tokens, the next
// refresh asks for a login, with the provider's reason kept.
func TestRevokedAtProvider(t *testing.T) {
	p := startOP(t, oidctest.Options{})
	a := account(t, newClient(t, nativeConfig(p, nil)))
	login(t, p, a)
	p.RevokeUser(oidctest.DefaultUsername)
	_, err := forceRefresh(t, a)
	var lr *tokensource.LoginRequiredError
	if !errors.As(err, &lr) || lr.Reason != tokensource.ReasonRejected {
		t.Fatalf("got %v, want LoginRequired (rejected)", err)
	}
	login(t, p, a) // and a new login works
}

func TestClientCredentialsRealOP(t *testing.T) {
	p := startOP(t, oidctest.Options{})
	id, secret := p.ServiceClient()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		c := newClient(t, client.Config{Issuer: p.Issuer(), ClientID: id, ClientSecret: secret, AuthStyle: style})
		sa, err := c.ServiceAccount("")
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := c.ServiceAccount(""); again != sa {
			t.Error("ServiceAccount returned another *Account for the same key")
		}
		n := p.TokenRequests("client_credentials")
		for range 3 {
			resp, err := sa.HTTPClient().Get(p.Endpoints().Resource)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("resource: got %d", resp.StatusCode)
			}
		}
		if got := p.TokenRequests("client_credentials") - n; got != 1 {
			t.Errorf("client_credentials requests for 3 calls: got %d, want 1", got)
		}
		// Quirk: the OP cannot authenticate its client_credentials client at
		// the revocation endpoint (invalid_client), so the revocation is not
		// confirmed; the token is gone locally all the same.
		err = sa.Logout(t.Context())
		var ee *client.EndpointError
		if !errors.Is(err, client.ErrNotRevoked) || !errors.As(err, &ee) || ee.Code != "invalid_client" {
			t.Errorf("Logout of the service account: got %v, want ErrNotRevoked (invalid_client)", err)
		}
		if rec, err := sa.TokenSource().Current(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
			t.Errorf("record after Logout: got %v, %v; want none", rec, err)
		}
	}
	_, err := newClient(t, client.Config{Issuer: p.Issuer(), ClientID: id}).ServiceAccount("")
	if err == nil {
		t.Error("a service account without a secret was accepted")
	}
}

func TestPasswordGrant(t *testing.T) {
	t.Run("real OP without the grant", func(t *testing.T) {
		p := startOP(t, oidctest.Options{})
		a := account(t, newClient(t, nativeConfig(p, nil)))
		err := a.LoginPassword(t.Context(), oidctest.DefaultUsername, oidctest.DefaultPassword)
		var te *tokensource.Error
		if !errors.As(err, &te) || te.Code != "unsupported_grant_type" {
			t.Fatalf("got %v, want unsupported_grant_type", err)
		}
	})
	// zitadel has no password grant; oidctest emulates it in front of the OP
	// and issues the OP's own tokens.
	t.Run("emulated on the real OP", func(t *testing.T) {
		p := startOP(t, oidctest.Options{PasswordGrant: true})
		a := account(t, newClient(t, nativeConfig(p, nil)))
		const wrong = "wrong-password-value"
		err := a.LoginPassword(t.Context(), oidctest.DefaultUsername, wrong)
		wantInvalidGrant(t, err)
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("error %q contains the password", err)
		}
		if err := a.LoginPassword(t.Context(), oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
			t.Fatalf("LoginPassword: %v", err)
		}
		rec, err := a.TokenSource().Current(t.Context())
		if err != nil || rec.RefreshToken == "" || rec.AuthTime.IsZero() {
			t.Fatalf("record: %v, %v", rec, err)
		}
		if id, err := a.IDToken(t.Context()); err != nil || id.Subject != oidctest.DefaultUsername {
			t.Fatalf("IDToken: %v, %v", id, err)
		}
		if _, err := forceRefresh(t, a); err != nil {
			t.Fatalf("refresh after the password login: %v", err)
		}
	})
}

// TestMultiAccount logs two users into two accounts of one client.
func TestMultiAccount(t *testing.T) {
	p := startOP(t, oidctest.Options{})
	if err := p.AddUser(oidctest.User{Username: "alice", Password: "alice-pw", Email: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	store := storage.NewMemory()
	c := newClient(t, nativeConfig(p, store))
	def := account(t, c)
	if again := account(t, c); again != def {
		t.Error("Account(\"\") returned another *Account")
	}
	alice, err := c.Account("alice")
	if err != nil {
		t.Fatal(err)
	}
	login(t, p, def)
	opts := loginOptions(p)
	opts.OpenBrowser = p.Browser("alice", "alice-pw")
	opts.AuthParams = map[string]string{"login_hint": "alice"}
	if err := alice.Login(t.Context(), opts); err != nil {
		t.Fatalf("alice's login: %v", err)
	}
	for want, acc := range map[string]*client.Account{oidctest.DefaultUsername: def, "alice": alice} {
		info, err := acc.UserInfo(t.Context())
		if err != nil || info.Subject != want {
			t.Errorf("UserInfo of %s: got %v, %v", want, info, err)
		}
	}
	if err := alice.Logout(t.Context()); err != nil {
		t.Fatalf("alice's Logout: %v", err)
	}
	if _, err := def.TokenSource().TokenContext(t.Context()); err != nil {
		t.Errorf("the default account after alice logged out: %v", err)
	}
	if _, err := store.Load(t.Context(), "alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("alice's record after Logout: got %v, want ErrNotFound", err)
	}
}
