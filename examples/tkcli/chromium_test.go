package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser test's Chromium: headless, started and stopped by the test, driven over
// the DevTools protocol with chromedp.

// chromiumNames are the programs tried, in order, when $TKCLI_TEST_CHROMIUM is not set.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// chromiumInstall says how to get a browser for the test.
const chromiumInstall = "install it (Debian/Ubuntu: apt-get install chromium) or point $TKCLI_TEST_CHROMIUM at a Chrome or Chromium binary"

// chromium is one headless browser; each test gets its own tab of it.
type chromium struct {
	browser context.Context // the chromedp context that owns the browser
	dataDir string          // its --user-data-dir, which every Chromium process is given
	started bool            // the browser ran
}

// startChromium starts headless Chromium for the test and stops it, leaving no process
// and no chromedp goroutine, when the test ends. Where Chromium is missing or cannot run
// the test is skipped, except when $CI is set (CI=true), where it fails.
func startChromium(t *testing.T) *chromium {
	t.Helper()
	path := os.Getenv("TKCLI_TEST_CHROMIUM")
	for _, name := range chromiumNames {
		if path != "" {
			break
		}
		path, _ = exec.LookPath(name)
	}
	if path == "" {
		chromiumUnavailable(t, "no Chromium found on $PATH")
	}
	c := &chromium{dataDir: t.TempDir()}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless (the new mode: no display needed)
		chromedp.ExecPath(path),
		chromedp.UserDataDir(c.dataDir),
		chromedp.WindowSize(800, 600),
		chromedp.Flag("no-proxy-server", true), // the provider and the listener are on loopback
		// Debian's Chromium keeps crash reports in $XDG_CONFIG_HOME/chromium and caches in
		// $XDG_CACHE_HOME: keep them out of the user's home, in the data directory, whose
		// name then marks every process Chromium starts (see processesUsing).
		chromedp.Env("XDG_CONFIG_HOME="+c.dataDir, "XDG_CACHE_HOME="+c.dataDir),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox (CI containers)
	}
	var output screen // Chromium's output, copied by a chromedp goroutine
	opts = append(opts, chromedp.CombinedOutput(&output))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	c.browser = browser
	t.Cleanup(func() { c.stop(t, cancelBrowser, cancelAlloc) })
	// The first Run starts the browser, which lives as long as browser: no timeout here.
	if _, err := chromedp.Run(browser, chromedp.Evaluate[string](`navigator.userAgent`)); err != nil {
		why := fmt.Sprintf("Chromium (%s) cannot run: %v", path, err)
		if out := strings.TrimSpace(output.String()); out != "" && !strings.Contains(err.Error(), out) {
			why += "; it printed:\n" + out
		}
		chromiumUnavailable(t, why)
	}
	c.started = true
	return c
}

// chromiumUnavailable skips the test, or fails it when $CI is set (CI=true), as the
// Redis tests do.
func chromiumUnavailable(t *testing.T, why string) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("%s; CI=%s, where the browser test must run: %s", why, ci, chromiumInstall)
	}
	t.Skipf("skipping the real-browser test: %s; to run it, %s", why, chromiumInstall)
}

// stop closes the browser, waits for its process to exit and checks that no Chromium
// process and no chromedp goroutine is left.
func (c *chromium) stop(t *testing.T, cancelBrowser, cancelAlloc context.CancelFunc) {
	if c.started {
		// Close the browser gracefully. Not after a failed start: chromedp v0.23.0's
		// Cancel and cancel func then each wait for the same allocation token, and the
		// second waits forever.
		ctx, cancel := context.WithTimeout(c.browser, 10*time.Second)
		_ = chromedp.Cancel(ctx) // an error: the browser had stopped already
		cancel()
	}
	cancelBrowser()
	alloc := chromedp.FromContext(c.browser).Allocator
	cancelAlloc()
	if alloc != nil {
		alloc.Wait()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs := processesUsing(c.dataDir)
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, pid := range procs {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
			t.Errorf("Chromium processes left behind after the browser was closed: %v (killed)", procs)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		leaked := goroutinesIn("github.com/chromedp/")
		if leaked == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("chromedp goroutines left after the browser was closed:\n%s", leaked)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesUsing returns the processes whose command line names dir: Chromium passes
// --user-data-dir=dir to each of its processes, and its crash handler gets a database in
// dir.
func processesUsing(dir string) []int {
	want := []byte(dir)
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// goroutinesIn returns the stacks of the goroutines that run code of pkg, or "".
func goroutinesIn(pkg string) string {
	buf := make([]byte, 1<<20)
	var leaked []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, pkg) {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}

// tab opens a tab for the test, closed when the test ends.
func (c *chromium) tab(t *testing.T) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(c.browser)
	t.Cleanup(cancel)
	if _, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.readyState`)); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// opener returns a LoginOptions.OpenBrowser for tab that does what the user does: it
// opens the authorization URL, types the username and password into the provider's login
// form, submits it, and presses decision ("allow" or "deny") on the consent page. It
// returns once the button is pressed; the browser then follows the provider's redirect to
// the app's listener, whose answer the test reads from tab.
func opener(tab context.Context, username, password, decision string) func(context.Context, string) error {
	return func(ctx context.Context, authURL string) error {
		run, cancel := context.WithCancel(tab)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)() // returns once the login's ctx is done
		return chromedp.Do(run,
			chromedp.Navigate(authURL),
			chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), username),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID(decision)),
			chromedp.Click(chromedp.ID(decision)),
		)
	}
}

// shownPage is what the browser shows at the end of a login.
type shownPage struct {
	url, title, text, html string
}

// readPage waits for the listener's answer (an <h1>) in tab, reads it and takes a
// screenshot, which is saved in the test's artifact directory as name.png.
func readPage(t *testing.T, tab context.Context, name string) shownPage {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	var p shownPage
	var shot []byte
	var vw, vh int
	err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("h1")),
		read(&p.url, chromedp.Location()),
		read(&p.title, chromedp.Title()),
		read(&p.text, chromedp.Text(chromedp.CSS("body"))),
		read(&p.html, chromedp.OuterHTML(chromedp.CSS("html"))),
		read(&vw, chromedp.Evaluate[int](`Math.round(window.innerWidth * window.devicePixelRatio)`)),
		read(&vh, chromedp.Evaluate[int](`Math.round(window.innerHeight * window.devicePixelRatio)`)),
		read(&shot, chromedp.CaptureScreenshot()),
	)
	if err != nil {
		t.Fatalf("reading the page the browser shows: %v", err)
	}
	file := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(file, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != vw || b.Dy() != vh || vw < 400 || vh < 300 {
		t.Errorf("screenshot: got %dx%d, want the viewport's %dx%d (at least 400x300)", b.Dx(), b.Dy(), vw, vh)
	}
	checkRendered(t, img)
	t.Logf("screenshot of %q: %s", p.title, file)
	return p
}

// read stores an action's result in *v.
func read[T any](v *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		var err error
		*v, err = a(ctx, tg)
		return chromedp.Void{}, err
	}
}

// checkRendered fails the test unless img looks like a rendered page (see rendered).
func checkRendered(t *testing.T, img image.Image) {
	t.Helper()
	if err := rendered(img); err != nil {
		t.Error(err)
	}
}

// rendered reports whether img shows a page with text: a light background covering most
// of it, dark pixels (the text) covering a little, and more than two colours (the text's
// anti-aliasing).
func rendered(img image.Image) error {
	b := img.Bounds()
	colors := map[color.RGBA]bool{}
	dark, light := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if len(colors) < 1000 {
				colors[c] = true
			}
			switch lum := (299*int(c.R) + 587*int(c.G) + 114*int(c.B)) / 1000; {
			case lum < 100:
				dark++
			case lum > 200:
				light++
			}
		}
	}
	total := b.Dx() * b.Dy()
	if len(colors) < 3 || dark < 200 || dark > total/5 || light < total/2 {
		return fmt.Errorf("the screenshot does not look like a rendered page: %d colours, %d dark and %d light of %d pixels", len(colors), dark, light, total)
	}
	return nil
}
