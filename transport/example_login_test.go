package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// When the provider has revoked the grant, the API rejects the access token,
// the refresh that rejection triggers is refused with invalid_grant, and the
// caller gets tokensource.ErrLoginRequired from http.Client.Do instead of a
// bare 401.
func Example_loginRequired() {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"the grant was revoked"}`)
	}))
	defer provider.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer api.Close()

	store := storage.NewMemory()
	store.Save(context.Background(), "alice", &storage.Token{
		AccessToken: "revoked-access-token", RefreshToken: "revoked-refresh-token",
		Expiry: time.Now().Add(time.Hour), Version: 1,
	})
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: provider.URL}},
		Store:  store,
		Key:    "alice",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	client := &http.Client{Transport: &transport.Transport{Source: src}}
	defer client.CloseIdleConnections()

	resp, err := client.Get(api.URL + "/me")
	var login *tokensource.LoginRequiredError
	switch {
	case errors.As(err, &login):
		fmt.Println("log in again:", login.Reason)
	case err != nil:
		fmt.Println("request failed:", err)
	default:
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output:
	// log in again: the provider rejected the refresh token
}

// A request over plain http to a host that is not loopback is refused before
// anything is sent: the token would travel in clear text.
func ExampleErrInsecure() {
	client := &http.Client{Transport: &transport.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "example-token"}),
	}}
	_, err := client.Get("http://api.example.com/v1/items")
	fmt.Println(errors.Is(err, transport.ErrInsecure))
	fmt.Println(err)
	// Output:
	// true
	// Get "http://api.example.com/v1/items": transport: refusing to send the token without TLS to a non-loopback host: "http://api.example.com"
}

// Hosts keeps a token minted for one API away from every other host: a
// request elsewhere is refused, not sent without the token.
func ExampleTransport_hosts() {
	client := &http.Client{Transport: &transport.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "example-token"}),
		Hosts:  []string{"api.example.com"},
	}}
	_, err := client.Get("https://storage.example.net/upload")
	fmt.Println(errors.Is(err, transport.ErrHostNotAllowed))
	fmt.Println(err)
	// Output:
	// true
	// Get "https://storage.example.net/upload": transport: refusing to send the token to a host not allowed to receive it: "storage.example.net"
}
