package transport_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/transport"
)

func Example() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "the API got %q", r.Header.Get("Authorization"))
	}))
	defer api.Close()

	client := &http.Client{Transport: &transport.Transport{
		// In an app, Source is a *tokensource.Source, which also refreshes
		// a token the API rejects.
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "example-token"}),
	}}
	defer client.CloseIdleConnections()

	resp, err := client.Get(api.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	fmt.Println(string(body))
	// Output:
	// 200 OK
	// the API got "Bearer example-token"
}
