package tokensource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// A Source starts from the tokens of an earlier login (SetToken), refreshes
// the expired access token when asked, saves the rotated refresh token
// before handing out the new access token, and reports both as events. An
// http.Client with a transport.Transport sends its requests with the token.
// The token endpoint here is a fake that rotates refresh tokens.
func Example() {
	srv := tokentest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	access, refresh, _ := srv.Login() // the tokens an interactive login obtained

	store := storage.NewMemory() // a real program uses storage.NewFile or storage.NewKeyring
	// Events are delivered after the callers waiting for the refresh are
	// released: this example waits for them on a channel to print them
	// in order.
	events := make(chan tokensource.Event, 8)
	src, err := tokensource.New(tokensource.Config{
		OAuth2:  &oauth2.Config{ClientID: "my-app", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
		Store:   store,
		Key:     "alice",
		OnEvent: func(ev tokensource.Event) { events <- ev },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	// The login was a while ago: its access token has expired.
	err = src.SetToken(ctx, &storage.Token{AccessToken: access, TokenType: "Bearer", RefreshToken: refresh, Expiry: time.Now().Add(-time.Minute)})
	if err != nil {
		log.Fatal(err)
	}
	login, err := src.Current(ctx) // the login's record, before the refresh below
	if err != nil {
		log.Fatal(err)
	}
	tok, err := src.Token() // refreshes: no valid token to hand out
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("event:", (<-events).Kind)
	fmt.Println("event:", (<-events).Kind)
	fmt.Println("new access token:", tok.AccessToken != access)

	rec, err := store.Load(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored refresh token rotated:", rec.RefreshToken != refresh, "version bumped by one:", rec.Version == login.Version+1)

	hc := &http.Client{Transport: &transport.Transport{Source: src}}
	resp, err := hc.Get(srv.URL + "/resource")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("GET /resource:", resp.Status)
	// Output:
	// event: refreshed
	// event: rotated
	// new access token: true
	// stored refresh token rotated: true version bumped by one: true
	// GET /resource: 200 OK
}

// When the provider no longer accepts the refresh token (here: the user
// withdrew consent), the Source answers with a *LoginRequiredError that
// matches ErrLoginRequired, keeps the provider's error, and removes the
// dead token from the store. The app's cue to run the login again.
func ExampleLoginRequiredError() {
	srv := tokentest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	access, refresh, _ := srv.Login()
	store := storage.NewMemory()
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{ClientID: "my-app", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
		Store:  store,
		Key:    "alice",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	err = src.SetToken(ctx, &storage.Token{AccessToken: access, RefreshToken: refresh, Expiry: time.Now().Add(-time.Minute)})
	if err != nil {
		log.Fatal(err)
	}

	srv.RevokeAll()
	_, err = src.Token()
	fmt.Println("log in again:", errors.Is(err, tokensource.ErrLoginRequired))
	var lre *tokensource.LoginRequiredError
	if errors.As(err, &lre) {
		fmt.Println("reason:", lre.Reason)
	}
	var te *tokensource.Error
	if errors.As(err, &te) {
		fmt.Println("provider said:", te.Code, te.StatusCode)
	}
	_, err = store.Load(ctx, "alice")
	fmt.Println("dead token removed:", errors.Is(err, storage.ErrNotFound))
	// Output:
	// log in again: true
	// reason: the provider rejected the refresh token
	// provider said: invalid_grant 400
	// dead token removed: true
}

// MaxSessionAge forces an interactive login at least once a week, although
// rotating refresh tokens would keep the session alive for ever. The clock
// is injected through Config.Now.
func ExampleConfig_maxSessionAge() {
	srv := tokentest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	now := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
	access, refresh, _ := srv.Login()
	src, err := tokensource.New(tokensource.Config{
		OAuth2:        &oauth2.Config{ClientID: "my-app", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
		MaxSessionAge: 7 * 24 * time.Hour,
		Now:           func() time.Time { return now },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	err = src.SetToken(ctx, &storage.Token{
		AccessToken:  access,
		RefreshToken: refresh,
		Expiry:       now.Add(time.Hour),
		AuthTime:     now.Add(-8 * 24 * time.Hour), // the user logged in 8 days ago
	})
	if err != nil {
		log.Fatal(err)
	}
	_, err = src.Token()
	var lre *tokensource.LoginRequiredError
	if errors.As(err, &lre) {
		fmt.Println("login required:", lre.Reason)
	}
	fmt.Println("token requests:", srv.Requests())
	// Output:
	// login required: the maximum session age has passed
	// token requests: 0
}

// A Source with GrantClientCredentials gets tokens with the client's own
// credentials: no login, no refresh token, the same caching and single
// refresh.
func ExampleGrant() {
	srv := tokentest.NewServer()
	srv.ClientID, srv.ClientSecret = "reports-job", "s3cret"
	defer srv.Close()
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{
			ClientID:     "reports-job",
			ClientSecret: "s3cret",
			Endpoint:     oauth2.Endpoint{TokenURL: srv.TokenURL()},
			Scopes:       []string{"reports.read"},
		},
		Grant: tokensource.GrantClientCredentials,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	for range 3 {
		if _, err := src.Token(); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("token requests for 3 calls:", srv.Requests())
	// Output: token requests for 3 calls: 1
}

// Exchange sends one token request and returns what the endpoint issued,
// as a storage.Token; every failure is an *Error.
func ExampleExchange() {
	srv := tokentest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "my-app", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}}

	t, err := tokensource.Exchange(ctx, nil, conf, url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.TokenType, t.AccessToken != "", time.Until(t.Expiry).Round(time.Hour))

	_, err = tokensource.Exchange(ctx, nil, conf, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-token"}})
	var te *tokensource.Error
	if errors.As(err, &te) {
		fmt.Println(te.Code, "temporary:", te.Temporary())
	}
	// Output:
	// Bearer true 1h0m0s
	// invalid_grant temporary: false
}

// A service authenticates with a private key instead of a client secret
// (private_key_jwt): every token request carries a fresh signed assertion.
func ExampleClientAssertion() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // in practice: LoadClientAssertion, or a KMS crypto.Signer
	if err != nil {
		log.Fatal(err)
	}
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Assertion = &tokentest.AssertionChecker{Key: key.Public(), Alg: "ES256", KeyID: "key-1", ClientID: "my-service", Audience: srv.TokenURL()}

	auth := &tokensource.ClientAssertion{Signer: key, KeyID: "key-1"}
	alg, _ := auth.Alg()
	src, err := tokensource.New(tokensource.Config{
		OAuth2:     &oauth2.Config{ClientID: "my-service", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL()}},
		ClientAuth: auth,
		Grant:      tokensource.GrantClientCredentials,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	if _, err := src.TokenContext(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(alg, "assertions accepted:", srv.Assertion.Accepted())
	// Output: ES256 assertions accepted: 1
}

// ExampleNewDPoPKey makes a DPoP key, as a login does, and keeps it in
// the record it saves: only its encoded form, a secret, goes to the store.
func ExampleNewDPoPKey() {
	key, err := tokensource.NewDPoPKey("ES256")
	if err != nil {
		log.Fatal(err)
	}
	rec := &storage.Token{TokenType: tokensource.DPoPTokenType, DPoPKey: key.Encode()}
	back, err := tokensource.ParseDPoPKey(rec.DPoPKey)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(back.Algorithm(), back.Thumbprint() == key.Thumbprint(), len(key.Thumbprint()))
	// Output: ES256 true 43
}
