package tokensource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestNoSecretInOutput runs refresh, rotation, a failed refresh that echoes
// the refresh token back, and a rejection, with distinctive secrets, and
// checks that none of them appears in any log line (debug level), event,
// error string, or %v / %+v / %#v / %s / %q of the values returned.
func TestNoSecretInOutput(t *testing.T) {
	t.Parallel()
	const canary = "CANARY"
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch n.Add(1) {
		case 1: // rotation
			fmt.Fprintf(w, `{"access_token":"%s-AT-2","token_type":"Bearer","expires_in":1,"refresh_token":"%s-RT-2","id_token":"%s-ID-2"}`, canary, canary, canary)
		case 2: // a transient failure that echoes what it got
			w.WriteHeader(503)
			fmt.Fprintf(w, `{"error":"server_error","error_description":"cannot redeem %s for client %s"}`, r.PostForm.Get("refresh_token"), r.PostForm.Get("client_secret"))
		default: // the grant is dead, and the server says which token
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":"refresh token %s revoked"}`, r.PostForm.Get("refresh_token"))
		}
	}))
	defer srv.Close()

	var logs syncBuffer
	var events []Event
	store := storage.NewMemory()
	rec := &storage.Token{AccessToken: canary + "-AT-1", RefreshToken: canary + "-RT-1", IDToken: canary + "-ID-1", Expiry: time.Now().Add(-time.Minute), Version: 1}
	store.Save(context.Background(), "k", rec)
	cfg := Config{
		OAuth2:         &oauth2.Config{ClientID: "id", ClientSecret: canary + "-SECRET", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}},
		Store:          store,
		Key:            "k",
		Logger:         slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent:        func(e Event) { events = append(events, e) },
		RefreshTimeout: 5 * time.Second,
		RefreshBefore:  -1,
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	var outputs []any
	tok, err := src.Token() // rotation
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the 1 s token expires
	_, err1 := src.Token()              // 503 (three attempts: 503, then invalid_grant twice)
	_, err2 := src.Token()              // cached login required
	if !errors.Is(err1, ErrLoginRequired) || !errors.Is(err2, ErrLoginRequired) {
		t.Fatalf("got %v and %v, want ErrLoginRequired", err1, err2)
	}
	src.settle()
	var te *Error
	errors.As(err1, &te)
	cur, _ := src.Current(context.Background())
	outputs = append(outputs, err1, err2, te, rec, cur, cfg, src)
	for _, e := range events {
		outputs = append(outputs, e, e.Err)
	}
	var printed strings.Builder
	sl := slog.New(slog.NewTextHandler(&printed, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, v := range outputs {
		sl.Debug("value", "v", v)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			fmt.Fprintf(&printed, verb+"\n", v)
		}
	}
	printed.WriteString(logs.String())
	if te != nil {
		printed.Write(te.Body)
		printed.WriteString(te.Description)
	}
	for line := range strings.Lines(printed.String()) {
		if strings.Contains(line, canary) {
			t.Errorf("secret leaked: %s", line)
		}
	}
	if tok.AccessToken != canary+"-AT-2" {
		t.Fatalf("sanity: got access token %q", tok.AccessToken)
	}
}
