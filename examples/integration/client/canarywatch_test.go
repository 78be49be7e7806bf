package client_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/internal/oauthwire"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// secretWatch collects the secrets a test meets and everything the SDK
// writes or returns, and checks that no secret appears in any of it.
// It is safe for concurrent use.
type secretWatch struct {
	logs   syncBuffer // the SDK's slog output (client and tokensource), debug level
	opLogs syncBuffer // the provider's slog output, debug level

	mu      sync.Mutex        // guards the fields below
	secrets map[string]string // secret → its kind ("access_token", …)
	outputs []watched
}

// watched is one output to scan; secrets of the kinds in allow may appear
// in it.
type watched struct {
	name, text string
	allow      []string
}

func newSecretWatch() *secretWatch {
	return &secretWatch{secrets: make(map[string]string)}
}

// secret records v as a secret of the given kind. Values shorter than 8
// bytes are too likely to appear by chance and are not tracked; no real
// secret is that short.
func (w *secretWatch) secret(kind, v string) {
	if len(v) < 8 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.secrets[v]; !ok {
		w.secrets[v] = kind
	}
	if kind == "id_token" { // a JWT cut short still ends with its signature
		if i := strings.LastIndexByte(v, '.'); i >= 0 && len(v)-i > 16 {
			w.secrets[v[i+1:]] = "id_token signature"
		}
	}
}

// output records text to scan.
func (w *secretWatch) output(name, text string, allow ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.outputs = append(w.outputs, watched{name: name, text: text, allow: allow})
}

// value records v formatted with every common verb and through slog.
func (w *secretWatch) value(name string, v any) { w.output(name, formats(v)) }

// err records err's string and formatted forms; nil is ignored.
func (w *secretWatch) err(name string, err error) {
	if err != nil {
		w.output(name, err.Error()+"\n"+formats(err))
	}
}

// event is a Config.OnEvent hook that records the event.
func (w *secretWatch) event(ev tokensource.Event) { w.value("event "+ev.Kind.String(), ev) }

// logger returns a debug-level logger writing text and JSON lines to buf.
func (w *secretWatch) logger(buf *syncBuffer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	return slog.New(slog.NewMultiHandler(slog.NewTextHandler(buf, opts), slog.NewJSONHandler(buf, opts)))
}

// files records the raw bytes of every file under dir.
func (w *secretWatch) files(t *testing.T, dir, when string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		w.output(fmt.Sprintf("file %s (%s)", filepath.Base(path), when), string(b))
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("reading the store directory: %v", err)
	}
	if n == 0 && when != "end" {
		t.Fatalf("store directory %s: got no files %s, want the encrypted record", dir, when)
	}
}

// check fails the test for every secret found in an output, and unless at
// least one secret of each kind in want was seen (the capture works).
func (w *secretWatch) check(t *testing.T, want ...string) {
	t.Helper()
	w.output("SDK log", w.logs.String())
	w.output("provider log", w.opLogs.String())
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]int{}
	for _, kind := range w.secrets {
		seen[kind]++
	}
	for _, k := range want {
		if seen[k] == 0 {
			t.Errorf("no %s was captured: the canary would not notice its leak", k)
		}
	}
	var kinds []string
	for k, n := range seen {
		kinds = append(kinds, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(kinds)
	size := 0
	for _, o := range w.outputs {
		size += len(o.text)
		for s, kind := range w.secrets {
			if slices.Contains(o.allow, kind) {
				continue
			}
			if part := leaked(o.text, s); part != "" {
				t.Errorf("%s holds a %s (%.8s…):\n%s", o.name, kind, s, excerpt(o.text, part))
			}
		}
	}
	t.Logf("scanned %d outputs (%d bytes) for %d secrets: %s", len(w.outputs), size, len(w.secrets), strings.Join(kinds, " "))
}

// leaked returns the part of secret that text holds: the whole secret, or,
// for a long one, any 24-byte piece of it (a secret cut short by a length
// cap is still a leak); "" when none. The header of a JWT or JWE is left
// out of the pieces: tokens of one provider share it.
func leaked(text, secret string) string {
	if strings.Contains(text, secret) {
		return secret
	}
	const piece = 24
	start := 0
	if dot := strings.IndexByte(secret, '.'); strings.HasPrefix(secret, "eyJ") && dot > 0 {
		start = dot + 1
	}
	if len(secret)-start < 2*piece {
		return ""
	}
	for i := start; i+piece <= len(secret); i += piece / 2 {
		if strings.Contains(text, secret[i:i+piece]) {
			return secret[i : i+piece]
		}
	}
	return ""
}

// excerpt returns the text around the first s in text.
func excerpt(text, s string) string {
	i := strings.Index(text, s)
	return text[max(0, i-200):min(len(text), i+len(s)+200)]
}

// fileKeyForms returns the encodings in which a raw key could leak.
func fileKeyForms(key []byte) []string {
	return []string{
		hex.EncodeToString(key), strings.ToUpper(hex.EncodeToString(key)),
		base64.StdEncoding.EncodeToString(key), base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
		string(key),
	}
}

// wireTap is an http.RoundTripper that records every secret crossing the
// wire: form values and credentials the client sends, and the tokens in
// JSON responses. It never modifies the request.
type wireTap struct {
	base http.RoundTripper
	w    *secretWatch
}

func (tap *wireTap) RoundTrip(req *http.Request) (*http.Response, error) {
	tap.request(req)
	resp, err := tap.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if err := tap.response(resp); err != nil {
		return nil, err
	}
	return resp, nil
}

func (tap *wireTap) request(req *http.Request) {
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		tap.w.secret("access_token", tok)
	}
	if creds, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Basic "); ok {
		tap.w.secret("basic credentials", creds)
	}
	if _, secret, ok := req.BasicAuth(); ok {
		s, _ := url.QueryUnescape(secret)
		tap.w.secret("client_secret", s)
	}
	if req.GetBody == nil {
		return
	}
	body, err := req.GetBody()
	if err != nil {
		return
	}
	defer body.Close()
	b, _ := io.ReadAll(body)
	form, _ := url.ParseQuery(string(b))
	// The form fields that carry secrets; a revoked token ("token") is an
	// access or refresh token already seen.
	for _, field := range []string{"code", "code_verifier", "refresh_token", "client_secret", "password",
		"device_code", "token", "client_assertion", "subject_token"} {
		for _, v := range form[field] {
			tap.w.secret(field, v)
		}
	}
}

// response records the secrets of a JSON response and gives resp a body
// with the same bytes.
func (tap *wireTap) response(resp *http.Response) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, oauthwire.MaxBody+1))
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token", "device_code"} {
		if s, ok := m[k].(string); ok {
			tap.w.secret(k, s)
		}
	}
	return nil
}
