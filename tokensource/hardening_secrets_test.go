package tokensource

// Hardening, secrets (issue 6). The whole case list and where each case is
// proved is in HARDENING.md at the repository root. redact_test.go's
// TestNoSecretInOutput covers refresh, rotation, a transient failure and a
// rejection that echo secrets; this file extends the canary to every other
// error path a token endpoint can take a Source down, to the stored
// record on disk, and to SetToken and Forget. (Login, logout with
// revocation and the loopback callback belong to package client's canary.)

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// TestNoSecretOnAnyErrorPath: a token endpoint that echoes the refresh
// token and the client secret it received into every kind of failure
// (malformed 200, HTML 500, redirect Location, JSON error, form-encoded
// error, invalid_grant), one that stalls past the timeout and one that
// resets the connection; a re-login with SetToken, a rotation, and Forget.
// No canary appears in any error string, %v / %+v / %#v / %s / %q of the
// errors, events, records, Config and Source, in any log line at debug
// level, or in the bytes of any file the encrypted store wrote.
func TestNoSecretOnAnyErrorPath(t *testing.T) {
	t.Parallel()
	const canary = "CANARY"
	secret := canary + "-CLIENT-SECRET"
	var mode atomic.Value
	mode.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		rt, sec := r.PostForm.Get("refresh_token"), r.PostForm.Get("client_secret")
		echo := "got " + rt + " for " + sec
		h := w.Header()
		switch mode.Load().(string) {
		case "rotate":
			h.Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"%s-AT-%d","token_type":"Bearer","expires_in":3600,"refresh_token":"%s-RT-%d","id_token":"%s-ID"}`, canary, time.Now().UnixNano(), canary, time.Now().UnixNano(), canary)
		case "malformed 200":
			h.Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,"access_token":%q}`, rt, sec)
		case "HTML 500":
			h.Set("Content-Type", "text/html")
			w.WriteHeader(500)
			fmt.Fprintf(w, "<html><pre>%s</pre></html>", echo)
		case "redirect":
			h.Set("Location", "https://evil.example/?rt="+rt+"&s="+sec)
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, echo)
		case "JSON error":
			h.Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_scope","error_description":%q,"error_uri":"https://idp.example/?rt=%s"}`, echo, rt)
		case "form error":
			h.Set("Content-Type", "application/x-www-form-urlencoded")
			w.WriteHeader(400)
			io.WriteString(w, "error=invalid_client&error_description="+echo)
		case "stall":
			h.Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":%q,`, rt)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "reset":
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case "invalid_grant":
			h.Set("Content-Type", "application/json")
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, echo)
		}
	}))
	defer srv.Close()

	key, err := storage.KeyFromBytes(bytes.Repeat([]byte{9}, storage.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tokens")
	store, err := storage.NewFile(storage.FileConfig{Dir: dir, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	login := func(n int) *storage.Token {
		return &storage.Token{AccessToken: fmt.Sprintf("%s-AT-login%d", canary, n), TokenType: "Bearer", RefreshToken: fmt.Sprintf("%s-RT-login%d", canary, n),
			IDToken: canary + "-ID-login", Expiry: time.Now().Add(-time.Minute), AuthTime: time.Now()}
	}
	if err := store.Save(ctx, "k", login(1)); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	var mu sync.Mutex
	var events []Event
	cfg := Config{
		OAuth2:         &oauth2.Config{ClientID: "id", ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}},
		Store:          store,
		Key:            "k",
		Logger:         slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent:        func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
		RefreshTimeout: time.Second,
		RefreshBefore:  -1,
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	var outputs []any
	refresh := func(m string) {
		mode.Store(m)
		tok, err := src.Token()
		if err == nil {
			tok, err = src.RefreshRejected(ctx, tok)
		}
		if m == "rotate" && err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if m != "rotate" && err == nil {
			t.Fatalf("%s: got a token, want an error", m)
		}
		if err != nil {
			outputs = append(outputs, err)
			var te *Error
			if errors.As(err, &te) {
				outputs = append(outputs, te, te.Description, te.URI, string(te.Body))
			}
		}
		cur, cerr := src.Current(ctx)
		outputs = append(outputs, cur, cerr)
	}
	for _, m := range []string{"rotate", "malformed 200", "HTML 500", "redirect", "JSON error", "form error", "stall", "reset", "invalid_grant"} {
		refresh(m)
	}
	outputs = append(outputs, src.SetToken(ctx, login(2)))
	refresh("rotate")
	outputs = append(outputs, src.Forget(ctx))
	_, err = src.Token()
	outputs = append(outputs, err, cfg, src, login(3))
	mu.Lock()
	for _, e := range events {
		outputs = append(outputs, e, e.Err)
	}
	mu.Unlock()

	var printed strings.Builder
	sl := slog.New(slog.NewTextHandler(&printed, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, v := range outputs {
		sl.Debug("value", "v", v)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			fmt.Fprintf(&printed, verb+"\n", v)
		}
	}
	printed.WriteString(logs.String())
	for line := range strings.Lines(printed.String()) {
		if strings.Contains(line, canary) {
			t.Errorf("secret leaked: %s", line)
		}
	}
	if !strings.Contains(logs.String(), "rotated") {
		t.Error("sanity: no rotation logged")
	}

	// The record files on disk, written after every refresh, are encrypted.
	src.SetToken(ctx, login(4)) // leave a record on disk to look at
	files := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte("login4")) {
			t.Errorf("plaintext secret in %s", filepath.Base(path))
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walked %d files: %v", files, err)
	}
}
