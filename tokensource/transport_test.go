package tokensource_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// TestTransportBurstOf401sMakesOneRefresh: the resource server stops
// accepting the current access token; 50 requests in flight all get
// 401 invalid_token, the Source refreshes once, and every request is
// replayed with the new token and succeeds.
func TestTransportBurstOf401sMakesOneRefresh(t *testing.T) {
	srv := tokentest.NewServer()
	defer srv.Close()
	srv.Delay = 20 * time.Millisecond
	at, rt, exp := srv.Login()
	store := storage.NewMemory()
	store.Save(context.Background(), "k", &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: exp})
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
	get := func() int {
		resp, err := client.Get(srv.URL + "/resource")
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("got %d before the revocation, want 200", code)
	}
	srv.ExpireAccess()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if code := get(); code != http.StatusOK {
				t.Errorf("got %d, want 200 after one refresh and a replay", code)
			}
		})
	}
	wg.Wait()
	if n := srv.Requests(); n != 1 {
		t.Errorf("got %d token requests for a burst of 50 rejections, want 1", n)
	}
}
