package client_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/client"
)

// TestLogoutResult: LogoutWith says what happened at the provider, and
// the tokens are gone locally in every case.
func TestLogoutResult(t *testing.T) {
	for _, tc := range []struct {
		name    string
		op      func() *fakeOP
		login   bool
		want    client.Revocation
		wantErr bool
	}{
		{"revoked", func() *fakeOP { return &fakeOP{} }, true, client.Revoked, false},
		{"unsupported", func() *fakeOP { return &fakeOP{noRevoke: true} }, true, client.RevocationUnsupported, false},
		{"failed", func() *fakeOP { return &fakeOP{revokeCode: 503} }, true, client.RevocationFailed, true},
		{"nothing", func() *fakeOP { return &fakeOP{} }, false, client.NothingToRevoke, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.op().serve(t)
			a := account(t, fakeClient(t, op))
			if tc.login {
				webLogin(t, op, a)
			}
			r, err := a.LogoutWith(t.Context(), client.LogoutOptions{})
			if err != nil {
				t.Fatalf("LogoutWith: %v", err)
			}
			if r.Revocation != tc.want || (r.Err != nil) != tc.wantErr {
				t.Fatalf("got %v, want %v (error %t)", r, tc.want, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(r.Err, client.ErrNotRevoked) {
				t.Errorf("Err %v does not match ErrNotRevoked", r.Err)
			}
			if _, err := a.TokenSource().Current(t.Context()); err == nil {
				t.Error("tokens left after LogoutWith")
			}
		})
	}
}

// TestEndSession: RP-initiated logout builds the end_session_endpoint URL
// with the ID token as hint, the redirect and a fresh state, opens it
// when asked, and its Check refuses a callback without that state.
func TestEndSession(t *testing.T) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	rec := webLogin(t, op, a)
	var opened string
	r, err := a.LogoutWith(t.Context(), client.LogoutOptions{
		EndSession:            true,
		PostLogoutRedirectURI: "https://app.example/bye",
		OpenBrowser:           func(_ context.Context, u string) error { opened = u; return nil },
	})
	if err != nil || r.EndSession == nil || !r.Opened || opened != r.EndSession.URL {
		t.Fatalf("LogoutWith: got %v, %v; opened %t", r, err, opened != "")
	}
	es := r.EndSession
	u, err := url.Parse(es.URL)
	if err != nil || !strings.HasPrefix(es.URL, op.URL+"/logout?") {
		t.Fatalf("URL %q", es.URL)
	}
	q := u.Query()
	if q.Get("id_token_hint") != rec.IDToken || q.Get("post_logout_redirect_uri") != "https://app.example/bye" ||
		q.Get("client_id") != fakeClientID || q.Get("state") == "" || q.Get("state") != es.State {
		t.Errorf("end-session query lacks a parameter: %v", q.Has("id_token_hint"))
	}
	if err := es.Check(url.Values{"state": {es.State}}); err != nil {
		t.Errorf("Check with the state: %v", err)
	}
	for name, cb := range map[string]url.Values{"none": {}, "other": {"state": {"forged"}}, "two": {"state": {es.State, es.State}}} {
		if err := es.Check(cb); !errors.Is(err, client.ErrStateMismatch) {
			t.Errorf("Check, state %s: got %v, want ErrStateMismatch", name, err)
		}
	}
	out := formats(es) + formats(r) + formats(*r)
	for _, s := range []string{es.State, rec.IDToken} {
		if strings.Contains(out, s) {
			t.Errorf("formatted EndSessionRequest or LogoutResult shows a secret:\n%s", out)
		}
	}
	var back client.EndSessionRequest
	if b, err := es.MarshalBinary(); err != nil || back.UnmarshalBinary(b) != nil || back.URL != es.URL || back.State != es.State || !back.Created.Equal(es.Created) {
		t.Errorf("MarshalBinary round trip: got %v", back)
	}

	// The opener fails: the error says so, without the secrets.
	rec = webLogin(t, op, a)
	var state string
	_, err = a.LogoutWith(t.Context(), client.LogoutOptions{EndSession: true, OpenBrowser: func(_ context.Context, u string) error {
		state = mustQuery(t, u).Get("state")
		return errors.New("cannot open " + u)
	}})
	if err == nil || strings.Contains(err.Error(), state) || strings.Contains(err.Error(), rec.IDToken) {
		t.Errorf("failed opener: got %v, want an error without the state and ID token", err)
	}
	if _, err := a.TokenSource().Current(t.Context()); err == nil {
		t.Error("tokens left after a failed opener")
	}
}
