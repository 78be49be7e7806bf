package main

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

// TestChromiumLogin runs `tkcli login` with a real browser: headless Chromium opens the
// provider's login page, the test types the username and password into its form and
// presses Allow (or Deny) on the provider's consent page, Chromium follows the redirect to
// tkcli's loopback listener and shows its answer, which the test reads and photographs.
// Chromium is required when $CI is set (CI=true) and skipped elsewhere when missing.
func TestChromiumLogin(t *testing.T) {
	chrome := startChromium(t)
	// The provider asks for consent after the login form, as providers do before granting
	// offline access; zitadel's example OP has no such page of its own (oidctest adds it).
	op := startOP(t, oidctest.Options{Consent: true})
	env := map[string]string{
		"TKCLI_ISSUER":    op.Issuer(),
		"TKCLI_CLIENT_ID": op.NativeClient(),
		"TKCLI_STORE":     "file",
	}
	// login runs `tkcli login` with the user pressing decision and returns the page the
	// browser ends on, the command's output and exit code, and its typed error.
	login := func(t *testing.T, dir, decision string) (shownPage, result, error) {
		t.Helper()
		env := with(env, "TKCLI_DIR", dir)
		tab := chrome.tab(t)
		var stdout, stderr screen
		a := &app{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] },
			openBrowser: opener(tab, oidctest.DefaultUsername, oidctest.DefaultPassword, decision)}
		cfg, err := a.parse("login", nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err = a.login(ctx, cfg) // the command `tkcli login` runs, for its typed error
		code := a.report(err)
		return readPage(t, tab, decision), result{code, stdout.String(), stderr.String()}, err
	}

	t.Run("allow", func(t *testing.T) {
		dir := t.TempDir()
		page, r, err := login(t, dir, "allow")
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		r.want(t, exitOK, "✓ Logged in to "+op.Issuer()+" as test-user")
		if page.title != "Logged in" {
			t.Errorf("title: got %q, want %q", page.title, "Logged in")
		}
		if want := "You are logged in. You can close this window and return to the application."; !strings.Contains(page.text, want) {
			t.Errorf("page text: got %q, want it to say %q", page.text, want)
		}
		rec := storedRecord(t, with(env, "TKCLI_DIR", dir), op.NativeClient()+"@"+op.Issuer())
		u, err := url.Parse(page.url)
		if err != nil || u.Path != "/callback" || u.Query().Get("code") == "" {
			t.Fatalf("the browser is not on the listener's callback: %v", err)
		}
		secrets := map[string]string{"access token": rec.AccessToken, "refresh token": rec.RefreshToken, "ID token": rec.IDToken, "authorization code": u.Query().Get("code")}
		for name, s := range secrets {
			if s == "" && name != "refresh token" {
				t.Fatalf("no %s to look for", name)
			}
			if s != "" && (strings.Contains(page.html, s) || strings.Contains(page.title, s)) {
				t.Errorf("the page shows the %s", name)
			}
			if s != "" && name != "authorization code" && strings.Contains(page.url, s) {
				t.Errorf("the page's URL holds the %s", name)
			}
		}
		// The address bar keeps the redirect URI with its one-time code (RFC 8252 §7.3),
		// which tkcli has redeemed with its PKCE verifier by the time the page shows.
		tkcli(t, app{}, with(env, "TKCLI_DIR", dir), "status").want(t, exitOK, "as test-user")
	})

	t.Run("deny", func(t *testing.T) {
		dir := t.TempDir()
		page, r, err := login(t, dir, "deny")
		var ce *client.CallbackError
		if !errors.Is(err, client.ErrAccessDenied) || !errors.As(err, &ce) || ce.Code != "access_denied" {
			t.Fatalf("login: got %v, want a *client.CallbackError with access_denied", err)
		}
		r.want(t, exitFailure, "tkcli: the login was denied at the provider")
		if page.title != "Login failed" {
			t.Errorf("title: got %q, want %q", page.title, "Login failed")
		}
		for _, want := range []string{"The provider refused the login:", "access_denied", "The user denied the request."} {
			if !strings.Contains(page.text, want) {
				t.Errorf("page text: got %q, want it to say %q", page.text, want)
			}
		}
		if q, _ := url.ParseQuery(page.url[strings.IndexByte(page.url, '?')+1:]); q.Has("code") {
			t.Error("the provider sent a code although the user denied")
		}
		tkcli(t, app{}, with(env, "TKCLI_DIR", dir), "status").want(t, exitLoginFirst, "not logged in")
	})
}

// with returns a copy of env with k set to v.
func with(env map[string]string, k, v string) map[string]string {
	c := make(map[string]string, len(env)+1)
	for k, v := range env {
		c[k] = v
	}
	c[k] = v
	return c
}

// TestRenderedRejectsBlank: the screenshot check refuses what a broken page or a broken
// capture gives (one colour, two colours, mostly dark) and accepts dark text on white.
func TestRenderedRejectsBlank(t *testing.T) {
	fill := func(c color.Color) *image.RGBA {
		img := image.NewRGBA(image.Rect(0, 0, 800, 450))
		draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
		return img
	}
	text := func(bg color.Color) *image.RGBA { // a few "lines of text" with grey edges
		img := fill(bg)
		for line := range 3 {
			y := 60 + 40*line
			draw.Draw(img, image.Rect(48, y, 500, y+12), image.NewUniform(color.Black), image.Point{}, draw.Src)
			draw.Draw(img, image.Rect(48, y+12, 500, y+13), image.NewUniform(color.Gray{128}), image.Point{}, draw.Src)
		}
		return img
	}
	black := fill(color.Black)
	draw.Draw(black, image.Rect(0, 0, 10, 10), image.NewUniform(color.White), image.Point{}, draw.Src)
	for _, tc := range []struct {
		name string
		img  image.Image
		ok   bool
	}{
		{"white", fill(color.White), false},
		{"grey", fill(color.Gray{200}), false},
		{"black with a white corner", black, false},
		{"two colours", func() image.Image {
			img := fill(color.White)
			draw.Draw(img, image.Rect(48, 60, 500, 72), image.NewUniform(color.Black), image.Point{}, draw.Src)
			return img
		}(), false},
		{"half black", func() image.Image { // as a page whose styles failed could look
			img := text(color.White)
			draw.Draw(img, image.Rect(0, 0, 360, 450), image.NewUniform(color.Black), image.Point{}, draw.Src)
			return img
		}(), false},
		{"no text", func() image.Image { // greys only: a rule, a box, no glyphs
			img := fill(color.White)
			draw.Draw(img, image.Rect(48, 60, 500, 61), image.NewUniform(color.Gray{150}), image.Point{}, draw.Src)
			draw.Draw(img, image.Rect(48, 100, 500, 140), image.NewUniform(color.Gray{230}), image.Point{}, draw.Src)
			return img
		}(), false},
		{"text on white", text(color.White), true},
		{"text on dark", text(color.Gray{40}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := rendered(tc.img); (err == nil) != tc.ok {
				t.Errorf("rendered: got %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
