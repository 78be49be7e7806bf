package client_test

import (
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// fakeBrowser writes a script to dir that records its arguments, one per
// line, in dir/args, and exits with status. It returns the script's path.
func fakeBrowser(t *testing.T, dir, name string, status int) string {
	t.Helper()
	path := filepath.Join(dir, name)
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '" + filepath.Join(dir, "args") + "'\nexit " + string(rune('0'+status)) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenSystemBrowserEnv(t *testing.T) {
	const u = "https://op.example/authorize?state=st-canary&nonce=n-canary"
	for _, tc := range []struct {
		name    string
		browser func(ok, fail string) string
		want    string // what the working browser received; "" when none should
		wantErr bool
	}{
		{"appended", func(ok, _ string) string { return ok }, u + "\n", false},
		{"%s replaced", func(ok, _ string) string { return ok + " --new-tab %s" }, "--new-tab\n" + u + "\n", false},
		{"first fails", func(ok, fail string) string { return "/nonexistent/browser:" + fail + ":" + ok }, u + "\n" + u + "\n", false},
		{"all fail", func(_, fail string) string { return "/nonexistent/browser:" + fail }, u + "\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ok, fail := fakeBrowser(t, dir, "ok", 0), fakeBrowser(t, dir, "fail", 3)
			t.Setenv("BROWSER", tc.browser(ok, fail))
			err := client.OpenSystemBrowser(t.Context(), u)
			if (err != nil) != tc.wantErr {
				t.Fatalf("OpenSystemBrowser: got %v, want error %t", err, tc.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), "canary") || !strings.Contains(err.Error(), "/nonexistent/browser")) {
				t.Errorf("error: got %q, want the commands without the URL", err)
			}
			got, _ := os.ReadFile(filepath.Join(dir, "args"))
			if string(got) != tc.want {
				t.Errorf("arguments received: got %q, want %q", got, tc.want)
			}
		})
	}
}

// pasteLogin runs a Login whose browser cannot be opened ($BROWSER names a
// missing command) and whose end is pasted into an io.Pipe: first lines
// that must be refused, then what answer returns for the login's URL.
func pasteLogin(t *testing.T, answer func(authURL string) string) (string, error) {
	op := (&fakeOP{}).serve(t)
	a := account(t, fakeClient(t, op))
	t.Setenv("BROWSER", "/nonexistent/browser-cmd")
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	var out syncBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- a.Login(t.Context(), client.LoginOptions{Output: &out, Paste: pr, Timeout: 20 * time.Second})
	}()
	var authURL string
	for deadline := time.Now().Add(10 * time.Second); authURL == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed:\n%s", out.String())
		}
		for _, f := range strings.Fields(out.String()) {
			if strings.HasPrefix(f, op.URL+"/authorize?") {
				authURL = f
			}
		}
	}
	q := mustQuery(t, authURL)
	idt := signRS256(t, op.claims(q.Get("nonce")))
	op.set(func(op *fakeOP) {
		op.token = func(f url.Values) (int, any) {
			if f.Get("code") != "the-code" || f.Get("code_verifier") == "" {
				return 400, map[string]string{"error": "invalid_grant"}
			}
			return 200, tokenResponse("at-1", "rt-1", idt)
		}
	})
	redirect := q.Get("redirect_uri")
	io.WriteString(pw, "not an answer at all\n")
	io.WriteString(pw, redirect+"?code=the-code&state=forged\n")
	io.WriteString(pw, answer(authURL)+"\n")
	select {
	case err := <-errc:
		return out.String(), err
	case <-time.After(20 * time.Second):
		t.Fatal("Login did not return")
	}
	return "", nil
}

// TestPasteLogin: with the browser unusable the user sees why and the
// URL, and pastes the address the browser ended on, or the bare code;
// foreign addresses and junk are refused and the login goes on.
func TestPasteLogin(t *testing.T) {
	for name, answer := range map[string]func(string) string{
		"address": func(authURL string) string {
			q := mustQuery(t, authURL)
			return q.Get("redirect_uri") + "?code=the-code&state=" + url.QueryEscape(q.Get("state"))
		},
		"bare code": func(string) string { return "the-code" },
	} {
		t.Run(name, func(t *testing.T) {
			out, err := pasteLogin(t, answer)
			if err != nil {
				t.Fatalf("Login: %v\n%s", err, out)
			}
			for _, want := range []string{"Could not open a browser", "/nonexistent/browser-cmd", "neither the address", "does not belong to this login"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestPasteWrongCode: a pasted code the provider refuses ends the login
// with the provider's error.
func TestPasteWrongCode(t *testing.T) {
	_, err := pasteLogin(t, func(string) string { return "another-code" })
	var te *tokensource.Error
	if !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Fatalf("Login: got %v, want invalid_grant", err)
	}
}
