package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// dpopClient returns a Client of the DPoP fake OP's public client with
// Config.DPoP set to alg.
func dpopClient(t *testing.T, op *dpopOP, alg string, edit ...func(*client.Config)) *client.Client {
	t.Helper()
	return fakeClient(t, op.fakeOP, append([]func(*client.Config){func(c *client.Config) { c.DPoP = alg }}, edit...)...)
}

// answerDPoP makes the token endpoint issue DPoP-bound tokens (at-1,
// rt-1, an ID token for nonce when not "") to every request.
func answerDPoP(t *testing.T, op *dpopOP, nonce string) {
	idt := ""
	if nonce != "" {
		idt = signRS256(t, op.claims(nonce))
	}
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) { return 200, dpopTokens("at-1", "rt-1", idt) }
	})
}

// boundRecord returns a's stored record after a DPoP login and checks it:
// token_type DPoP, and a DPoP key whose thumbprint is jkt.
func boundRecord(t *testing.T, a *client.Account, jkt string) *storage.Token {
	t.Helper()
	rec, err := a.TokenSource().Current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rec.TokenType != tokensource.DPoPTokenType || rec.DPoPKey == "" {
		t.Fatalf("stored token_type %q with a key: %t, want DPoP with its key", rec.TokenType, rec.DPoPKey != "")
	}
	k, err := tokensource.ParseDPoPKey(rec.DPoPKey)
	if err != nil {
		t.Fatal(err)
	}
	if k.Thumbprint() != jkt {
		t.Fatalf("the stored key's thumbprint is %s, want %s", k.Thumbprint(), jkt)
	}
	return rec
}

// onlyProof returns the single verified proof sent to path, failing when
// proofs were refused.
func onlyProof(t *testing.T, op *dpopOP, path string) seenProof {
	t.Helper()
	proofs, refused := op.seen()
	if len(refused) > 0 {
		t.Fatalf("proofs refused: %q", refused)
	}
	var got []seenProof
	for _, p := range proofs {
		if p.path == path {
			got = append(got, p)
		}
	}
	if len(got) != 1 {
		t.Fatalf("got %d verified proofs at %s (all: %+v), want 1", len(got), path, proofs)
	}
	return got[0]
}

// TestDPoPWebLogin: the authorization request carries the thumbprint of
// the login's key as dpop_jkt, the key survives the session store
// (MarshalBinary), the code exchange is proven with that same key, and
// the stored record holds it, for every algorithm.
func TestDPoPWebLogin(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			op := serveDPoPOP(t)
			a := account(t, dpopClient(t, op, alg))
			req, err := a.AuthCodeURL(webRedirect)
			if err != nil {
				t.Fatal(err)
			}
			jkt := mustQuery(t, req.URL).Get("dpop_jkt")
			if jkt == "" || req.DPoPKey == "" {
				t.Fatalf("dpop_jkt %q, key kept: %t; want both", jkt, req.DPoPKey != "")
			}
			b, err := req.MarshalBinary() // as a session store keeps it
			if err != nil {
				t.Fatal(err)
			}
			var kept client.AuthRequest
			if err := kept.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			answerDPoP(t, op, req.Nonce)
			if err := a.Exchange(t.Context(), &kept, codeCallback(req)); err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if p := onlyProof(t, op, "/token"); p.jkt != jkt {
				t.Errorf("the exchange's proof is by key %s, want the dpop_jkt sent, %s", p.jkt, jkt)
			}
			boundRecord(t, a, jkt)
		})
	}
}

// TestDPoPLoginsMakeFreshKeys: two authorization requests have two keys.
func TestDPoPLoginsMakeFreshKeys(t *testing.T) {
	op := serveDPoPOP(t)
	a := account(t, dpopClient(t, op, "ES256"))
	r1, err1 := a.AuthCodeURL(webRedirect)
	r2, err2 := a.AuthCodeURL(webRedirect)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if mustQuery(t, r1.URL).Get("dpop_jkt") == mustQuery(t, r2.URL).Get("dpop_jkt") {
		t.Error("two logins share a DPoP key")
	}
}

// TestDPoPLoopbackLogin: the native login sends dpop_jkt and proves the
// code exchange with the same key.
func TestDPoPLoopbackLogin(t *testing.T) {
	op := serveDPoPOP(t)
	a := account(t, dpopClient(t, op, "ES256"))
	var jkt string
	err := a.Login(t.Context(), client.LoginOptions{Output: discard{}, OpenBrowser: func(ctx context.Context, u string) error {
		q := mustQuery(t, u)
		jkt = q.Get("dpop_jkt")
		answerDPoP(t, op, q.Get("nonce"))
		cb := q.Get("redirect_uri") + "?" + url.Values{"code": {"the-code"}, "state": {q.Get("state")}}.Encode()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cb, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if p := onlyProof(t, op, "/token"); jkt == "" || p.jkt != jkt {
		t.Errorf("dpop_jkt %q, exchange proven by %q; want the same, not empty", jkt, p.jkt)
	}
	boundRecord(t, a, jkt)
}

// discard is an io.Writer that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestDPoPDeviceAndPassword: the device and password logins prove their
// token requests with a fresh key, and store it.
func TestDPoPDeviceAndPassword(t *testing.T) {
	op := serveDPoPOP(t)
	c := dpopClient(t, op, "EdDSA")
	op.set(func(op *fakeOP) {
		op.device = func() (int, any) {
			return 200, map[string]any{"device_code": "dc-1", "user_code": "UC", "verification_uri": "https://op.example/device", "expires_in": 60, "interval": 1}
		}
	})
	answerDPoP(t, op, "")
	dev, err := c.Account("device")
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.LoginDevice(t.Context(), func(client.DeviceCode) {}); err != nil {
		t.Fatalf("LoginDevice: %v", err)
	}
	devProof := onlyProof(t, op, "/token")
	boundRecord(t, dev, devProof.jkt)

	pw, err := c.Account("password")
	if err != nil {
		t.Fatal(err)
	}
	if err := pw.LoginPassword(t.Context(), "user", "pw"); err != nil {
		t.Fatalf("LoginPassword: %v", err)
	}
	proofs, _ := op.seen()
	last := proofs[len(proofs)-1]
	if last.path != "/token" || last.jkt == devProof.jkt {
		t.Fatalf("password login proof %+v: want a token request proven by a new key", last)
	}
	boundRecord(t, pw, last.jkt)
}

// TestDPoPDowngradeRefused: a DPoP login answered with Bearer tokens
// fails with an error matching tokensource.ErrDPoPDowngrade, in every
// flow, and nothing is stored.
func TestDPoPDowngradeRefused(t *testing.T) {
	op := serveDPoPOP(t)
	c := dpopClient(t, op, "ES256")
	op.set(func(op *fakeOP) {
		op.token = func(url.Values) (int, any) { return 200, tokenResponse("at-b", "rt-b", "") }
		op.device = func() (int, any) {
			return 200, map[string]any{"device_code": "dc-1", "user_code": "UC", "verification_uri": "https://op.example/device", "expires_in": 60, "interval": 1}
		}
	})
	flows := map[string]func(a *client.Account) error{
		"web": func(a *client.Account) error {
			req, err := a.AuthCodeURL(webRedirect)
			if err != nil {
				return err
			}
			return a.Exchange(t.Context(), req, codeCallback(req))
		},
		"device":   func(a *client.Account) error { return a.LoginDevice(t.Context(), func(client.DeviceCode) {}) },
		"password": func(a *client.Account) error { return a.LoginPassword(t.Context(), "user", "pw") },
	}
	for name, login := range flows {
		t.Run(name, func(t *testing.T) {
			a, err := c.Account(name)
			if err != nil {
				t.Fatal(err)
			}
			err = login(a)
			wantErr(t, err, tokensource.ErrDPoPDowngrade)
			var te *tokensource.Error
			if !errors.As(err, &te) {
				t.Errorf("got %T, want a *tokensource.Error in it", err)
			}
			if _, err := a.TokenSource().Current(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
				t.Errorf("after a refused login: got %v, want no tokens stored", err)
			}
		})
	}
}

// TestDPoPAuthRequestWithoutKey: with Config.DPoP, an AuthRequest that
// lost its key (made before DPoP was turned on, or altered in the
// session) is refused before the code is sent: its tokens would be Bearer.
func TestDPoPAuthRequestWithoutKey(t *testing.T) {
	op := serveDPoPOP(t)
	a := account(t, dpopClient(t, op, "ES256"))
	req, err := a.AuthCodeURL(webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	answerDPoP(t, op, req.Nonce)
	req.DPoPKey = ""
	if err := a.Exchange(t.Context(), req, codeCallback(req)); err == nil {
		t.Fatal("Exchange: got nil, want the request refused")
	}
	if proofs, refused := op.seen(); len(proofs)+len(refused) != 0 {
		t.Errorf("got %d token requests, want none", len(proofs)+len(refused))
	}
}

// TestDPoPSeedRefused: a DPoP-bound oauth2.Token cannot be seeded or set:
// its key is not in it, so the tokens could never be used or refreshed.
func TestDPoPSeedRefused(t *testing.T) {
	op := serveDPoPOP(t)
	a := account(t, dpopClient(t, op, "ES256"))
	tok := &oauth2.Token{AccessToken: "at-seeded", TokenType: "DPoP", RefreshToken: "rt-seeded"}
	_, err := a.Seed(t.Context(), tok)
	wantErr(t, err, client.ErrUnsupported)
	wantErr(t, a.SetToken(t.Context(), tok), client.ErrUnsupported)
	if _, err := a.TokenSource().Current(t.Context()); !errors.Is(err, tokensource.ErrLoginRequired) {
		t.Errorf("got %v, want nothing stored", err)
	}
	tok.TokenType = "Bearer"
	if ok, err := a.Seed(t.Context(), tok); !ok || err != nil {
		t.Errorf("Seed of a Bearer token: got %t, %v; want it stored", ok, err)
	}
}
