package tokensource_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// TestClientAssertionNotInErrors: an endpoint that echoes the assertion
// into its error description, body and a header, first with a 503 (the
// Source retries) then with invalid_client. No assertion sent appears in
// the error, its fields, any fmt verb of it, or the debug log.
func TestClientAssertionNotInErrors(t *testing.T) {
	r, _, _ := testKeys(t)
	var mu sync.Mutex
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.ParseForm()
		a := req.PostForm.Get("client_assertion")
		mu.Lock()
		sent = append(sent, a)
		n := len(sent)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", "got "+a)
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"error":"temporarily_unavailable","error_description":"later, %s"}`, a)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad assertion %s"}`, a)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	var logMu sync.Mutex
	store := storage.NewMemory()
	store.Save(t.Context(), "k", &storage.Token{AccessToken: "at", RefreshToken: "rt", Expiry: time.Now().Add(-time.Minute), Version: 1})
	src, err := tokensource.New(tokensource.Config{
		OAuth2:        &oauth2.Config{ClientID: "client", Endpoint: oauth2.Endpoint{TokenURL: srv.URL}},
		ClientAuth:    &tokensource.ClientAssertion{Signer: r, KeyID: "k1"},
		Store:         store,
		Key:           "k",
		RefreshBefore: -1,
		Logger:        slog.New(slog.NewJSONHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = src.TokenContext(t.Context())
	var te *tokensource.Error
	if !errors.As(err, &te) || te.Code != "invalid_client" {
		t.Fatalf("got %v, want invalid_client", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 || sent[0] == sent[1] || sent[0] == "" {
		t.Fatalf("got %d assertions (%v), want 2 different ones", len(sent), len(sent) == 2 && sent[0] == sent[1])
	}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		fmt.Fprintf(&out, verb+"\n"+verb+"\n", err, te)
	}
	fmt.Fprintln(&out, te.Description, string(te.Body), te.Header)
	logMu.Lock()
	out.Write(logs.Bytes())
	logMu.Unlock()
	if !strings.Contains(out.String(), "bad assertion") {
		t.Fatalf("sanity: the echoed description is not in the output: %s", out.String())
	}
	// A JWT's header starts with {"alg": whatever the output cuts.
	if strings.Contains(out.String(), "eyJhbGciOi") {
		t.Errorf("an assertion leaked into the output:\n%s", out.String())
	}
	for _, a := range sent {
		// The signature alone is as good as a leak of the whole.
		sig := a[strings.LastIndex(a, ".")+1:]
		if strings.Contains(out.String(), sig) {
			t.Errorf("an assertion leaked into the output:\n%s", out.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// keyForms returns encodings in which k's private part could leak.
func keyForms(t *testing.T, k crypto.Signer) []string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	var priv []byte
	var forms []string
	switch k := k.(type) {
	case *rsa.PrivateKey:
		priv = k.D.Bytes()
		forms = append(forms, k.D.String(), k.Primes[0].String())
	case *ecdsa.PrivateKey:
		priv, err = k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		forms = append(forms, new(big.Int).SetBytes(priv).String())
	case ed25519.PrivateKey:
		priv = k.Seed()
		forms = append(forms, fmt.Sprint([]byte(k))[:40])
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	return append(forms, hex.EncodeToString(priv), base64.StdEncoding.EncodeToString(priv), base64.RawURLEncoding.EncodeToString(priv), b64[len(b64)/2:len(b64)/2+20])
}

// TestClientAssertionNeverPrintsTheKey: a ClientAssertion, by value, by
// pointer and inside a Config or another value, printed with every verb and
// logged with slog's text and JSON handlers, shows no part of its key.
func TestClientAssertionNeverPrintsTheKey(t *testing.T) {
	for _, kc := range keyCases(t) {
		t.Run(kc.name, func(t *testing.T) {
			ca := &tokensource.ClientAssertion{Signer: kc.signer, Algorithm: kc.alg, KeyID: "kid-1", Audience: "https://op.example"}
			cfg := tokensource.Config{OAuth2: &oauth2.Config{ClientID: "c"}, ClientAuth: ca}
			nested := struct{ Auth *tokensource.ClientAssertion }{ca}
			values := []any{ca, *ca, cfg, &cfg, nested, map[string]any{"auth": ca}}
			var out strings.Builder
			for _, v := range values {
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
					fmt.Fprintf(&out, verb+"\n", v)
				}
				j, err := json.Marshal(v)
				if err != nil {
					t.Fatalf("json.Marshal(%T): %v", v, err)
				}
				out.Write(j)
			}
			for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
				l := slog.New(h)
				for _, v := range values {
					l.Info("v", "v", v)
				}
			}
			if !strings.Contains(out.String(), "kid-1") {
				t.Fatalf("sanity: the key ID is not shown: %s", out.String())
			}
			for _, f := range keyForms(t, kc.signer) {
				if strings.Contains(out.String(), f) {
					t.Fatalf("the private key (%q) leaked:\n%s", f, out.String())
				}
			}
		})
	}
}
