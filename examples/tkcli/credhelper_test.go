package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// countingTransport counts the requests tkcli sends to the provider.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// loggedIn starts a provider, logs in through the browser and returns the
// provider, tkcli's environment and the account's key.
func loggedIn(t *testing.T, opts oidctest.Options, extra map[string]string) (*oidctest.Provider, map[string]string, string) {
	t.Helper()
	op := startOP(t, opts)
	env := map[string]string{
		"TKCLI_ISSUER":    op.Issuer(),
		"TKCLI_CLIENT_ID": op.NativeClient(),
		"TKCLI_DIR":       t.TempDir(),
		"TKCLI_STORE":     "file",
	}
	for k, v := range extra {
		env[k] = v
	}
	browser := op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)
	tkcli(t, app{openBrowser: browser}, env, "login").want(t, exitOK, "✓ Logged in")
	return op, env, op.NativeClient() + "@" + op.Issuer()
}

// TestFastPath: with a valid cached token, token and the credential
// helpers answer with the provider gone, making no request at all.
func TestFastPath(t *testing.T) {
	op, env, key := loggedIn(t, oidctest.Options{}, nil)
	rec := storedRecord(t, env, key)
	op.Close() // the provider's listener is closed: any request would fail

	rt := &countingTransport{}
	v1 := `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`
	for _, tc := range []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		want  string
	}{
		{"token", nil, "", []string{"token"}, rec.AccessToken + "\n"},
		{"kubectl", map[string]string{"KUBERNETES_EXEC_INFO": v1}, "", []string{"kubectl"}, `"token": "` + rec.AccessToken + `"`},
		{"kubectl id token", map[string]string{"KUBERNETES_EXEC_INFO": v1}, "", []string{"kubectl", "--id-token"}, `"token": "` + rec.IDToken + `"`},
		{"git", nil, "protocol=https\nhost=git.example.com\n\n", []string{"git-credential", "--host", "git.example.com", "get"}, "password=" + rec.AccessToken + "\n"},
		{"docker", nil, "registry.example.com\n", []string{"docker-credential", "--registry", "registry.example.com", "get"}, `"Secret":"` + rec.AccessToken + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			r := tkcli(t, app{stdin: strings.NewReader(tc.stdin), httpClient: &http.Client{Transport: rt}}, e, tc.args...)
			r.want(t, exitOK)
			if !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout lacks the stored token in its protocol field")
			}
			if r.stderr != "" {
				t.Errorf("stderr: got %q, want nothing", r.stderr)
			}
		})
	}
	if n := rt.n.Load(); n != 0 {
		t.Errorf("requests to the provider: got %d, want 0", n)
	}
}

// editRecord changes the account's stored record, as time would.
func editRecord(t *testing.T, env map[string]string, key string, edit func(*storage.Token)) {
	t.Helper()
	rec := storedRecord(t, env, key)
	edit(rec)
	rec.Version++
	fk, err := storage.KeyFromFile(filepath.Join(env["TKCLI_DIR"], "file.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.NewFile(storage.FileConfig{Dir: filepath.Join(env["TKCLI_DIR"], "tokens"), Key: fk})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), key, rec); err != nil {
		t.Fatal(err)
	}
}

// TestStatusExitCodes: status exits 4 whenever the next command would need
// a login, and 0 while the session can be renewed.
func TestStatusExitCodes(t *testing.T) {
	past := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name string
		args []string
		edit func(*storage.Token)
		code int
		want string
	}{
		{"fresh", nil, nil, exitOK, "Refresh token:  present"},
		{"access token expired, refresh token present", nil, func(r *storage.Token) { r.Expiry = past }, exitOK, "the next command refreshes it"},
		{"no refresh token, access token valid", nil, func(r *storage.Token) { r.RefreshToken = "" }, exitOK, "Refresh token:  none"},
		{"no refresh token, access token expired", nil, func(r *storage.Token) { r.RefreshToken, r.Expiry = "", past },
			exitLoginFirst, "cannot be renewed (the access token expired and there is no refresh token) — run `tkcli login`"},
		{"refresh token expired", nil, func(r *storage.Token) { r.RefreshExpiry, r.Expiry = past, past },
			exitLoginFirst, "cannot be renewed (the refresh token expired) — run `tkcli login`"},
		{"another account", []string{"--account", "someone-else"}, nil, exitLoginFirst, "you are not logged in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, env, key := loggedIn(t, oidctest.Options{}, nil)
			if tc.edit != nil {
				editRecord(t, env, key, tc.edit)
			}
			r := tkcli(t, app{}, env, append([]string{"status"}, tc.args...)...)
			r.want(t, tc.code, tc.want)
			if strings.Contains(r.stdout, "refreshed since") {
				t.Error(`status says "refreshed since" without a refresh`)
			}
		})
	}
	t.Run("logged out", func(t *testing.T) {
		_, env, _ := loggedIn(t, oidctest.Options{}, nil)
		tkcli(t, app{}, env, "logout").want(t, exitOK)
		tkcli(t, app{}, env, "status").want(t, exitLoginFirst, "you are not logged in")
	})
	t.Run("account named", func(t *testing.T) {
		_, env, key := loggedIn(t, oidctest.Options{}, nil)
		tkcli(t, app{}, env, "status", "--account", key).want(t, exitOK, "Account:        "+key)
	})
}

// TestStatusRefreshed: "refreshed since" appears once a refresh happened.
func TestStatusRefreshed(t *testing.T) {
	_, env, key := loggedIn(t, oidctest.Options{}, nil)
	auth := storedRecord(t, env, key).AuthTime
	time.Sleep(time.Until(auth.Add(2 * time.Second))) // issue times have whole seconds
	editRecord(t, env, key, func(r *storage.Token) { r.Expiry = time.Now().Add(-time.Second) })
	tkcli(t, app{}, env, "token").want(t, exitOK)
	tkcli(t, app{}, env, "status").want(t, exitOK, "refreshed since without a login")
}

// TestKubectlLogin: kubectl's plugin logs in only when kubectl says the
// session is interactive, and shows no token outside the ExecCredential.
func TestKubectlLogin(t *testing.T) {
	op := startOP(t, oidctest.Options{})
	env := map[string]string{
		"TKCLI_ISSUER":    op.Issuer(),
		"TKCLI_CLIENT_ID": op.NativeClient(),
		"TKCLI_DIR":       t.TempDir(),
		"TKCLI_STORE":     "file",
	}
	browser := op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)
	info := func(interactive string) map[string]string {
		e := map[string]string{"KUBERNETES_EXEC_INFO": `{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":` + interactive + `}}`}
		for k, v := range env {
			e[k] = v
		}
		return e
	}
	r := tkcli(t, app{openBrowser: browser}, info("false"), "kubectl")
	r.want(t, exitLoginFirst, "tkcli: you are not logged in — run `tkcli login`")
	if r.stdout != "" || op.TokenRequests("authorization_code") != 0 {
		t.Errorf("not interactive: got output %q or a login, want neither", r.stdout)
	}

	r = tkcli(t, app{openBrowser: browser}, info("true"), "kubectl")
	r.want(t, exitOK, "you are not logged in; logging in to "+op.Issuer(), `"kind": "ExecCredential"`)
	rec := storedRecord(t, env, op.NativeClient()+"@"+op.Issuer())
	if !strings.Contains(r.stdout, `"token": "`+rec.AccessToken+`"`) {
		t.Error("the ExecCredential lacks the new access token")
	}
	for _, secret := range []string{rec.AccessToken, rec.RefreshToken, rec.IDToken} {
		if strings.Contains(r.stderr, secret) {
			t.Fatalf("stderr holds a token:\n%s", r.stderr)
		}
	}
}
