package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// A CLI logs in once through the system browser and a loopback listener;
// the next start of the program finds the tokens in the store. Here a
// headless browser, driving an in-process OpenID Provider, plays the user.
func Example() {
	op, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer op.Close()
	ctx := context.Background()
	store := storage.NewMemory() // a real CLI uses storage.Keyring or an encrypted storage.File
	cfg := client.Config{
		Issuer:    op.Issuer(),
		ClientID:  op.NativeClient(), // a public client: no secret, PKCE
		AuthStyle: oauth2.AuthStyleInParams,
		Scopes:    []string{"profile", "email"},
		Store:     store,
	}

	c, err := client.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	acct, err := c.Account("")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := acct.TokenSource().Token(); errors.Is(err, tokensource.ErrLoginRequired) {
		err = acct.Login(ctx, client.LoginOptions{
			OpenBrowser: op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword), // nil: the system browser
			Output:      io.Discard,                                                     // nil: the URL is printed to os.Stderr
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	id, err := acct.IDToken(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in as", id.Subject)
	c.Close()

	// The next process start: no login needed.
	c, err = client.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	acct, err = c.Account("")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := acct.HTTPClient().Get(op.Endpoints().Resource)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("API call after restart:", resp.Status)
	// Output:
	// logged in as test-user
	// API call after restart: 200 OK
}

// A web app redirects the browser to the provider and exchanges the
// callback; the AuthRequest is kept in the user's server-side session.
func ExampleAccount_AuthCodeURL() {
	op, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer op.Close()
	ctx := context.Background()
	const redirect = "http://127.0.0.1:8080/auth/callback"
	id, secret := op.WebClient(redirect)
	c, err := client.New(ctx, client.Config{Issuer: op.Issuer(), ClientID: id, ClientSecret: secret, Scopes: []string{"email"}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	acct, err := c.Account("session-1234") // one account per user of the web app
	if err != nil {
		log.Fatal(err)
	}

	// Step 1, the login handler: keep req in the session, redirect to req.URL.
	req, err := acct.AuthCodeURL(redirect, client.AuthParam("prompt", "consent"))
	if err != nil {
		log.Fatal(err)
	}
	// The user logs in at the provider, which redirects back.
	back, err := op.Login(ctx, req.URL, oidctest.DefaultUsername, oidctest.DefaultPassword)
	if err != nil {
		log.Fatal(err)
	}
	callback, _ := url.Parse(back)

	// Step 2, the callback handler: r.URL.Query() and the session's req.
	if err := acct.Exchange(ctx, req, callback.Query()); err != nil {
		log.Fatal(err)
	}
	info, err := acct.UserInfo(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("user:", info.Subject, info.Email)
	fmt.Println("replay:", errors.Is(acct.Exchange(ctx, req, callback.Query()), client.ErrAuthRequestUsed))
	// Output:
	// user: test-user test-user@example.com
	// replay: true
}

// A device without a browser shows a code; the user approves on another
// device (here the provider's device pages, driven headlessly).
func ExampleAccount_LoginDevice() {
	op, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer op.Close()
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Issuer: op.Issuer(), ClientID: op.DeviceClient()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	acct, err := c.Account("")
	if err != nil {
		log.Fatal(err)
	}
	approved := make(chan error, 1)
	err = acct.LoginDevice(ctx, func(dc client.DeviceCode) {
		fmt.Println("visit the verification URI and enter the code")
		go func() {
			approved <- op.ApproveDevice(ctx, dc.UserCode, oidctest.DefaultUsername, oidctest.DefaultPassword)
		}()
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := <-approved; err != nil {
		log.Fatal(err)
	}
	id, err := acct.IDToken(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in as", id.Subject)
	// Output:
	// visit the verification URI and enter the code
	// logged in as test-user
}

// A backend calls an API with its own identity (client credentials).
func ExampleClient_ServiceAccount() {
	op, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer op.Close()
	id, secret := op.ServiceClient()
	c, err := client.New(context.Background(), client.Config{Issuer: op.Issuer(), ClientID: id, ClientSecret: secret})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	svc, err := c.ServiceAccount("")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := svc.HTTPClient().Get(op.Endpoints().Resource)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}

// Logout revokes the tokens at the provider and deletes them locally.
func ExampleAccount_Logout() {
	op, err := oidctest.Start(oidctest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer op.Close()
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Issuer: op.Issuer(), ClientID: op.NativeClient(), AuthStyle: oauth2.AuthStyleInParams})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	acct, err := c.Account("")
	if err != nil {
		log.Fatal(err)
	}
	err = acct.Login(ctx, client.LoginOptions{OpenBrowser: op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword), Output: io.Discard})
	if err != nil {
		log.Fatal(err)
	}
	if err := acct.Logout(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = acct.TokenSource().Token()
	fmt.Println("login required:", errors.Is(err, tokensource.ErrLoginRequired))
	// Output: login required: true
}
