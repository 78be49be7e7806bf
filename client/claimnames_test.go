package client_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestUserInfoClaimNamesAreCaseSensitive: a userinfo answer whose "sub" is
// spelled in another case has no sub, and one with two names differing
// only in case is ambiguous: both are malformed, not read as a sub.
func TestUserInfoClaimNamesAreCaseSensitive(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"SUB instead of sub", `{"SUB":"user-1","email":"u@example.com"}`},
		{"sub and Sub", `{"sub":"user-1","Sub":"someone-else"}`},
		{"sub twice", `{"sub":"user-1","sub":"someone-else"}`},
		{"email and Email", `{"sub":"user-1","email":"u@example.com","Email":"evil@example.com"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := newClient(t, client.Config{
				ClientID:  fakeClientID,
				Endpoints: client.Endpoints{Token: srv.URL + "/token", UserInfo: srv.URL + "/userinfo"},
			})
			a := account(t, c)
			if err := a.SetToken(t.Context(), &oauth2.Token{AccessToken: "at", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			info, err := a.UserInfo(t.Context())
			if !errors.Is(err, tokensource.ErrMalformedResponse) {
				t.Fatalf("got %+v, %v; want ErrMalformedResponse", info, err)
			}
		})
	}
}
