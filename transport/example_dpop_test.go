package transport_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// A *tokensource.Source whose tokens are DPoP-bound is a DPoPProver: the
// Transport sends its token as "Authorization: DPoP <token>" with a new
// proof per send, and when the API asks for a nonce (401 use_dpop_nonce),
// retries once with a proof that carries it. Here the account's record and
// its key are put in a memory store by hand; a login with DPoP turned on
// saves them.
func ExampleDPoPProver() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A real API verifies the proof (RFC 9449 §4.3); this one only reads its nonce.
		var claims struct{ Nonce string }
		if parts := strings.Split(r.Header.Get("DPoP"), "."); len(parts) == 3 {
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			json.Unmarshal(payload, &claims)
		}
		if claims.Nonce != "nonce-1" {
			fmt.Println("API: 401 use_dpop_nonce")
			w.Header().Set("DPoP-Nonce", "nonce-1")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Printf("API: %s token, proof with nonce %s\n", strings.Fields(r.Header.Get("Authorization"))[0], claims.Nonce)
	}))
	defer api.Close()

	key, err := tokensource.NewDPoPKey(tokensource.DefaultDPoPAlgorithm)
	if err != nil {
		fmt.Println(err)
		return
	}
	store := storage.NewMemory()
	store.Save(context.Background(), "alice", &storage.Token{
		AccessToken: "access-token", TokenType: tokensource.DPoPTokenType, RefreshToken: "refresh-token",
		DPoPKey: key.Encode(), Expiry: time.Now().Add(time.Hour), Version: 1,
	})
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: "https://idp.example.com/token"}},
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
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// API: 401 use_dpop_nonce
	// API: DPoP token, proof with nonce nonce-1
	// 200 OK
}
