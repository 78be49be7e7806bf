package dpop_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/nodeop"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestNativeDPoP runs the public DPoP client of node-oidc-provider, which
// wants a server nonce in every proof, through the SDK, with an encrypted
// file store and with a memory store: loopback login → DPoP-bound tokens;
// userinfo; a refresh through the Source (proof, nonce retry, rotated
// refresh token persisted); a restart (a new Client over the same store)
// that loads the key, whose refresh token still works; the refresh token
// presented without a proof or with another key refused by the server;
// logout revoking the tokens; and no key, token or proof in the logs,
// errors or printed values.
func TestNativeDPoP(t *testing.T) {
	e := newEnv(t, nodeop.Options{})
	stores := []struct {
		name string
		open func(t *testing.T) func() storage.Store // returns "open the store again", as a restarted process does
	}{
		{"encrypted file", func(t *testing.T) func() storage.Store {
			dir, key := filepath.Join(t.TempDir(), "tokens"), newFileKey(t)
			return func() storage.Store { return fileStore(t, dir, key) }
		}},
		{"memory", func(t *testing.T) func() storage.Store {
			m := storage.NewMemory()
			return func() storage.Store { return m }
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) { e.nativeRun(t, st.open(t)) })
	}
}

func (e *env) nativeRun(t *testing.T, open func() storage.Store) {
	ctx := t.Context()
	store := open()
	c1 := newClient(t, e.config(nodeop.NativeDPoPClientID, "ES256", store))
	a := account(t, c1)
	e.login(t, a)
	first := current(t, a)
	key := a.TokenSource().DPoPKey()
	if key == nil || key.Encode() != first.DPoPKey {
		t.Fatal("the Source does not hold the login's key")
	}
	info, err := a.UserInfo(ctx)
	if err != nil || info.Subject != "alice" {
		t.Fatalf("UserInfo: %v, %v; want alice", info, err)
	}
	tokenPath, _ := url.Parse(e.srv.Endpoints().Token)
	userinfoPath, _ := url.Parse(e.srv.Endpoints().Userinfo)
	if e.wire.refused(tokenPath.Path) == 0 || e.wire.refused(userinfoPath.Path) == 0 {
		t.Error("the provider asked for no nonce at the token endpoint or at userinfo: the nonce retries went untested")
	}

	second := refresh(t, a)
	saved, err := open().Load(ctx, a.Key())
	switch {
	case err != nil:
		t.Fatal(err)
	case second.RefreshToken == first.RefreshToken:
		t.Fatal("the refresh token did not rotate")
	case saved.RefreshToken != second.RefreshToken || saved.DPoPKey != first.DPoPKey:
		t.Fatal("the store does not hold the rotated refresh token with the login's key")
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart: a new Client over the store opened again.
	c2 := newClient(t, e.config(nodeop.NativeDPoPClientID, "ES256", open()))
	b := account(t, c2)
	tok, err := b.TokenSource().TokenContext(ctx)
	if err != nil || tok.Type() != "DPoP" || tok.AccessToken != second.AccessToken {
		t.Fatalf("after the restart: %v; want the stored DPoP access token", err)
	}
	if k := b.TokenSource().DPoPKey(); k == nil || k.Thumbprint() != key.Thumbprint() {
		t.Fatal("after the restart the Source does not hold the login's key")
	}
	third := refresh(t, b)
	if third.RefreshToken == second.RefreshToken || third.DPoPKey != first.DPoPKey {
		t.Fatal("after the restart: the refresh did not rotate the refresh token, or lost the key")
	}
	resp, err := b.HTTPClient().Get(e.srv.Endpoints().Userinfo)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo through Account.HTTPClient after the restart: got %d, want 200", resp.StatusCode)
	}

	// The bound refresh token is refused without the proof, and with a
	// proof by another key; neither attempt spends it.
	if status, code := e.rawRefresh(t, nodeop.NativeDPoPClientID, third.RefreshToken); status != http.StatusBadRequest {
		t.Errorf("refresh without a proof: got %d %s, want 400", status, code)
	}
	other, err := tokensource.NewDPoPKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokensource.ExchangeWith(ctx, e.srv.OAuth2Config(nodeop.NativeDPoPClientID), refreshForm(nodeop.NativeDPoPClientID, third.RefreshToken), tokensource.ExchangeOptions{DPoP: other})
	var te *tokensource.Error
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Errorf("refresh with a proof by another key: got %v, want invalid_grant", err)
	}
	fourth := refresh(t, b)

	lr, err := b.LogoutWith(ctx, client.LogoutOptions{})
	if err != nil || lr.Revocation != client.Revoked {
		t.Fatalf("LogoutWith: %v, %v; want the tokens revoked", lr, err)
	}
	_, err = tokensource.ExchangeWith(ctx, e.srv.OAuth2Config(nodeop.NativeDPoPClientID), refreshForm(nodeop.NativeDPoPClientID, fourth.RefreshToken), tokensource.ExchangeOptions{DPoP: key})
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Errorf("refresh after the logout: got %v, want invalid_grant", err)
	}

	out := e.logs.String() + fmt.Sprintf("%v %+v %#v %v %v %v %v", err, err, err, lr, info, key, b)
	noLeak(t, out, append(e.wire.sent(), first.DPoPKey, first.RefreshToken, second.RefreshToken, third.RefreshToken, fourth.RefreshToken,
		first.AccessToken, fourth.AccessToken)...)
}

// TestBoundWithoutClientPolicy: the public client that does not require
// DPoP gets DPoP-bound tokens when the SDK asks for them, and the server
// then refuses the refresh token without a proof: the token is bound, not
// only the client.
func TestBoundWithoutClientPolicy(t *testing.T) {
	e := newEnv(t, nodeop.Options{OptionalDPoPNonce: true})
	a := account(t, newClient(t, e.config(nodeop.NativeClientID, "EdDSA", nil)))
	e.login(t, a)
	rec := current(t, a)
	if status, code := e.rawRefresh(t, nodeop.NativeClientID, rec.RefreshToken); status != http.StatusBadRequest {
		t.Errorf("refresh without a proof: got %d %s, want 400", status, code)
	}
	if next := refresh(t, a); next.RefreshToken == rec.RefreshToken {
		t.Error("the refresh with the proof did not rotate the refresh token")
	}
}

func account(t *testing.T, c *client.Client) *client.Account {
	t.Helper()
	a, err := c.Account("")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func refreshForm(clientID, rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}
}
