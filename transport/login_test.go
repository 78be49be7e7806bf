package transport_test

// This file uses tokensource from transport's external test package: the
// import goes client-side (test → tokensource, test → transport), never
// transport → tokensource, so there is no cycle.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// TestLoginRequiredEndToEnd covers issue 9 defect 9 with a real
// *tokensource.Source and token endpoint: after the provider revokes the
// grant, the first request gets 401 invalid_token, the refresh it triggers
// gets invalid_grant, and http.Client.Do returns an error matching
// tokensource.ErrLoginRequired (with the reason kept), not a bare 401. When
// the token endpoint is down instead (503, Retry-After too long to wait),
// the refresh error is temporary and the 401 comes back as before.
func TestLoginRequiredEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fail       func(srv *tokentest.Server)
		wantLogin  bool
		wantStatus int
	}{
		{name: "grant revoked", fail: (*tokentest.Server).RevokeAll, wantLogin: true},
		{name: "token endpoint down", fail: func(srv *tokentest.Server) {
			srv.ExpireAccess()
			srv.Fault = func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("Retry-After", "3600")
				http.Error(w, "maintenance", http.StatusServiceUnavailable)
				return true
			}
		}, wantStatus: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tokentest.NewServer()
			defer srv.Close()
			at, rt, exp := srv.Login()
			store := storage.NewMemory()
			if err := store.Save(context.Background(), "k", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp, Version: 1}); err != nil {
				t.Fatal(err)
			}
			src, err := tokensource.New(tokensource.Config{
				OAuth2: &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
				Store:  store,
				Key:    "k",
			})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			client := &http.Client{Transport: &transport.Transport{Source: src}}
			defer client.CloseIdleConnections()
			if resp, err := client.Get(srv.URL + "/resource"); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("setup: got (%v, %v), want a 200", resp, err)
			} else {
				resp.Body.Close()
			}

			tc.fail(srv)
			resp, err := client.Get(srv.URL + "/resource")
			if tc.wantLogin {
				var ue *url.Error
				var le *tokensource.LoginRequiredError
				switch {
				case resp != nil:
					resp.Body.Close()
					t.Fatalf("got status %d (error %v), want no response", resp.StatusCode, err)
				case !errors.Is(err, tokensource.ErrLoginRequired) || !errors.As(err, &ue) || !errors.As(err, &le):
					t.Fatalf("got error %v, want a *url.Error matching tokensource.ErrLoginRequired", err)
				case le.Reason != tokensource.ReasonRejected:
					t.Errorf("got reason %v, want %v", le.Reason, tokensource.ReasonRejected)
				case strings.Contains(err.Error(), at) || strings.Contains(err.Error(), rt):
					t.Errorf("got error %q, which contains a token", err)
				}
				if n := srv.Rejected(); n != 1 {
					t.Errorf("got %d invalid_grant answers, want 1", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want the %d", err, tc.wantStatus)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("got status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}
}
