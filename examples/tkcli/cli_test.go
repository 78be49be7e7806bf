package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

// tkcliAsync starts a command whose screen (stderr) the test reads while it
// runs, as a user at the terminal would.
func tkcliAsync(t *testing.T, a app, env map[string]string, args ...string) (*screen, <-chan result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var stdout, stderr screen
	a.stdout, a.stderr = &stdout, &stderr
	a.getenv = func(k string) string { return env[k] }
	done := make(chan result, 1)
	go func() {
		defer cancel()
		code := a.run(ctx, args)
		done <- result{code, stdout.String(), stderr.String()}
	}()
	return &stderr, done
}

// TestDeviceLoginAndCommands walks through a user's life with tkcli on a
// machine without a browser: not logged in, login --device (the user reads
// the code off the screen and approves it on "another device"), status,
// token, get, token again after a restart, logout.
func TestDeviceLoginAndCommands(t *testing.T) {
	op := startOP(t, oidctest.Options{AccessTokenLifetime: 2 * time.Second})
	dir := t.TempDir()
	env := map[string]string{
		"TKCLI_ISSUER":    op.Issuer(),
		"TKCLI_CLIENT_ID": op.DeviceClient(),
		"TKCLI_DIR":       dir,
		"TKCLI_STORE":     "file", // the keyring may be absent; TestKeyring covers it
	}
	var printed []string // everything shown to the user except `token`'s output
	run := func(args ...string) result {
		t.Helper()
		r := tkcli(t, app{}, env, args...)
		if args[0] != "token" {
			printed = append(printed, r.stdout, r.stderr)
		}
		return r
	}

	run("status").want(t, exitLoginFirst, "tkcli: you are not logged in — run `tkcli login`")
	run("token").want(t, exitLoginFirst, "you are not logged in — run `tkcli login`")

	scr, done := tkcliAsync(t, app{}, env, "login", "--device")
	code := scr.waitFor(t, `one-time code: (\S+)`)[1]
	scr.waitFor(t, `Waiting for the code to be approved`)
	if err := op.ApproveDevice(context.Background(), code, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	login := <-done
	t.Logf("tkcli login --device → %d\n%s", login.code, login.stderr)
	printed = append(printed, login.stdout, login.stderr)
	login.want(t, exitOK, "Then open "+op.Endpoints().DeviceVerification, "✓ Logged in to "+op.Issuer()+" as test-user",
		"Tokens are stored in an encrypted file in "+filepath.Join(dir, "tokens"))

	run("status").want(t, exitOK, "Logged in to "+op.Issuer()+" as test-user", "Access token:   valid for",
		"Refresh token:  present", "Session age:    ", "Stored in:      an encrypted file in")

	// token: a token a script can use right away. These tokens live 2 s,
	// under --min-valid's 1 minute, which is then capped at half their
	// lifetime: the token of the login, still valid for over 1 s, is
	// handed out as it is rather than refreshed on every call.
	refreshes := op.TokenRequests("refresh_token")
	tok1 := strings.TrimSpace(run("token").stdout)
	if tok1 == "" || strings.ContainsAny(tok1, " \n") {
		t.Fatalf("token printed %q, want one token", tok1)
	}
	if got := apiStatus(t, op, tok1); got != 200 {
		t.Errorf("the printed token at the API: got %d, want 200", got)
	}
	run("get", op.Endpoints().Resource).want(t, exitOK, `"sub":"test-user"`)

	// A restart: a new run, from the files alone, after the access token
	// expired. It prints a fresh token without a new login.
	time.Sleep(2100 * time.Millisecond)
	tok2 := strings.TrimSpace(run("token").stdout)
	if tok2 == "" || tok2 == tok1 {
		t.Fatalf("token after a restart: got a new token %v, want a fresh one", tok2 != tok1)
	}
	if got := apiStatus(t, op, tok2); got != 200 {
		t.Errorf("the token printed after a restart at the API: got %d, want 200", got)
	}
	// With no minimum it hands out the stored token as it is.
	if tok3 := strings.TrimSpace(run("token", "--min-valid", "0").stdout); tok3 != tok2 {
		t.Error("token --min-valid 0: did not reuse the stored token")
	}
	if n := op.TokenRequests(deviceGrant); n == 0 {
		t.Error("the provider saw no device login")
	}
	devicePolls := op.TokenRequests(deviceGrant)
	// (2 on a machine slow enough to spend a second between login and token.)
	if got := op.TokenRequests("refresh_token") - refreshes; got < 1 || got > 2 {
		t.Errorf("refreshes for three `token` runs, one after the token expired: got %d, want 1", got)
	}

	rec := storedRecord(t, env, op.DeviceClient()+"@"+op.Issuer())
	run("logout").want(t, exitOK, "✓ Logged out: tokens revoked at "+op.Issuer())
	if got := apiStatus(t, op, tok2); got != 401 {
		t.Errorf("the last token after logout: got %d, want 401 (revoked)", got)
	}
	run("token").want(t, exitLoginFirst, "you are not logged in — run `tkcli login`")
	run("logout").want(t, exitOK, "You are not logged in.")
	if got := op.TokenRequests(deviceGrant); got != devicePolls {
		t.Errorf("device grant requests after the login: got %d more, want none", got-devicePolls)
	}

	for _, out := range printed {
		for _, secret := range []string{rec.AccessToken, rec.RefreshToken, rec.IDToken, tok1, tok2} {
			if secret != "" && strings.Contains(out, secret) {
				t.Fatalf("a token was printed outside `token`:\n%s", out)
			}
		}
	}
}

// storedRecord reads the account's record with the file store's key, as
// tkcli does.
func storedRecord(t *testing.T, env map[string]string, key string) *storage.Token {
	t.Helper()
	dir := env["TKCLI_DIR"]
	fk, err := storage.KeyFromFile(filepath.Join(dir, "file.key"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.NewFile(storage.FileConfig{Dir: filepath.Join(dir, "tokens"), Key: fk})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestBrowserLogin logs in through the browser: once with the opener a
// desktop uses, once with --no-browser, where the user copies the printed
// URL into a browser.
func TestBrowserLogin(t *testing.T) {
	op := startOP(t, oidctest.Options{})
	env := map[string]string{
		"TKCLI_ISSUER":    op.Issuer(),
		"TKCLI_CLIENT_ID": op.NativeClient(),
		"TKCLI_DIR":       t.TempDir(),
		"TKCLI_STORE":     "file",
	}
	browser := op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)

	tkcli(t, app{openBrowser: browser}, env, "login").want(t, exitOK, "To log in, open this URL", "✓ Logged in to "+op.Issuer()+" as test-user")
	tkcli(t, app{}, env, "get", op.Endpoints().Resource).want(t, exitOK, `"sub":"test-user"`)

	scr, done := tkcliAsync(t, app{}, env, "login", "--no-browser")
	url := scr.waitFor(t, `(?m)^    (http://\S+)$`)[1]
	if err := browser(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	(<-done).want(t, exitOK, "Open this URL in a browser on this machine", "✓ Logged in to "+op.Issuer()+" as test-user")
	if got := op.TokenRequests("authorization_code"); got != 2 {
		t.Errorf("logins: got %d, want 2", got)
	}
	tkcli(t, app{}, env, "status").want(t, exitOK, "as test-user")
}

func TestUsageAndErrors(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"TKCLI_ISSUER": "http://127.0.0.1:1", "TKCLI_CLIENT_ID": "cli", "TKCLI_DIR": dir, "TKCLI_STORE": "file"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no command", env, nil, exitUsage, "Usage:"},
		{"help", env, []string{"help"}, exitOK, "tkcli login [--device | --no-browser]"},
		{"command help", env, []string{"login", "-h"}, exitOK, "-device"},
		{"unknown command", env, []string{"whoami"}, exitUsage, `unknown command "whoami"`},
		{"no provider", map[string]string{}, []string{"status"}, exitUsage, "no provider configured: set TKCLI_ISSUER and TKCLI_CLIENT_ID"},
		{"bad store", env, []string{"status", "--store", "cloud"}, exitUsage, `--store "cloud": want auto, keyring or file`},
		{"device and no browser", env, []string{"login", "--device", "--no-browser"}, exitUsage, "do not go together"},
		{"get without URL", env, []string{"get"}, exitUsage, "usage: tkcli get URL"},
		{"get ftp", env, []string{"get", "ftp://example.com/x"}, exitUsage, "want an http(s) URL"},
		{"get in clear text", env, []string{"get", "http://api.example.com/me?key=s3cret"}, exitUsage, "refusing to send the access token in clear text to api.example.com"},
		{"stray argument", env, []string{"token", "now"}, exitUsage, `unexpected argument "now"`},
		{"bad env bool", map[string]string{"TKCLI_NO_OFFLINE_ACCESS": "maybe"}, []string{"status"}, exitUsage, "$TKCLI_NO_OFFLINE_ACCESS"},
		{"provider down", env, []string{"token"}, exitFailure, "tkcli: client: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tkcli(t, app{}, tc.env, tc.args...)
			r.want(t, tc.code, tc.want)
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Error("a stack trace was printed")
			}
			if strings.Contains(r.stderr, "s3cret") {
				t.Error("the URL's query was printed")
			}
		})
	}
}
