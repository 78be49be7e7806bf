package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the in-process provider's request log
	os.Exit(m.Run())
}

// logBuffer collects the service's log lines while it runs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the log matches re and returns the submatches.
func (b *logBuffer) waitFor(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := rx.FindStringSubmatch(b.String()); m != nil {
			return m
		}
	}
	t.Fatalf("the log never showed %s:\n%s", re, b.String())
	return nil
}

// start runs the service with args in the background.
func start(ctx context.Context, args ...string) (*logBuffer, <-chan int) {
	logs := new(logBuffer)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, logs) }()
	return logs, done
}

func exitCode(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("the service did not stop")
		return -1
	}
}

func getHealth(t *testing.T, addr string) (int, report) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, rep
}

// TestService logs a delegated account in with the device flow, runs the
// service through several refreshes of 2-second access tokens while it calls
// the API, watches /healthz, revokes the user at the provider, and stops
// the service with SIGTERM.
func TestService(t *testing.T) {
	op, err := oidctest.Start(oidctest.Options{AccessTokenLifetime: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	var raw [32]byte
	rand.Read(raw[:])
	dir := filepath.Join(t.TempDir(), "tokens")
	for k, v := range map[string]string{
		"SERVICE_ISSUER": op.Issuer(), "SERVICE_CLIENT_ID": op.DeviceClient(), "SERVICE_API_URL": op.Endpoints().Resource,
		"SERVICE_TOKEN_DIR": dir, "SERVICE_TOKEN_KEY": hex.EncodeToString(raw[:]),
		"SERVICE_INTERVAL": "250ms", "SERVICE_LISTEN": "127.0.0.1:0",
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	logs, done := start(ctx)
	if code := exitCode(t, done); code != 1 || !strings.Contains(logs.String(), "run `service -login` once first") {
		t.Fatalf("start without tokens: exit %d, want 1 and a hint to log in; log:\n%s", code, logs)
	}

	logs, done = start(ctx, "-login")
	code := logs.waitFor(t, `"user_code":"([^"]+)"`)[1]
	if err := op.ApproveDevice(ctx, code, oidctest.DefaultUsername, oidctest.DefaultPassword); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, done); code != 0 {
		t.Fatalf("-login: exit %d; log:\n%s", code, logs)
	}
	logs.waitFor(t, `"msg":"logged in; tokens stored"`)

	logs, done = start(ctx)
	addr := logs.waitFor(t, `"msg":"listening","addr":"([^"]+)"`)[1]
	var rep report
	for deadline := time.Now().Add(10 * time.Second); rep.Rotations < 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no 3 rotations in 10 s: %+v; log:\n%s", rep, logs)
		}
		var status int
		if status, rep = getHealth(t, addr); status != 200 || rep.Status != "ok" {
			t.Fatalf("/healthz: %d %+v, want 200 ok", status, rep)
		}
	}
	if rep.APICalls < 3 || rep.APIFailures != 0 || !rep.RefreshToken || rep.SessionAge <= 0 {
		t.Errorf("/healthz after 3 rotations: %+v, want API calls, none failed, a refresh token and the session's age", rep)
	}
	rec := load(t, dir, raw[:], "delegated") // the tokens the log must not show

	// The provider revokes the user: the next refresh is refused and the
	// service reports that someone must log in again.
	op.RevokeUser(oidctest.DefaultUsername)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never reported login_required: %+v", rep)
		}
		status, rep := getHealth(t, addr)
		if status == 503 && rep.Status == "login_required" && strings.Contains(rep.Action, "service -login") {
			break
		}
	}

	terminate(t, cancel)
	if code := exitCode(t, done); code != 0 {
		t.Errorf("after SIGTERM: exit %d, want 0", code)
	}
	out := logs.String()
	for _, want := range []string{`"msg":"token refreshed"`, `"msg":"token rotated"`, `"msg":"api call","status":200`, `"msg":"shutting down"`, `"msg":"stopped"`, "invalid_grant"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	for _, secret := range []string{rec.AccessToken, rec.RefreshToken, rec.IDToken, hex.EncodeToString(raw[:])} {
		if secret != "" && strings.Contains(out, secret) {
			t.Fatal("a token or the store key is in the log")
		}
	}
	if strings.Contains(out, "eyJ") {
		t.Error("the log contains something that looks like a JWT")
	}
	t.Logf("log:\n%s", out)
}

func load(t *testing.T, dir string, key []byte, account string) *storage.Token {
	t.Helper()
	fk, err := storage.KeyFromBytes(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.NewFile(storage.FileConfig{Dir: dir, Key: fk})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := loadConfig(env(nil)); err == nil || !strings.Contains(err.Error(), "SERVICE_CLIENT_ID") {
		t.Errorf("empty environment: got %v, want the missing variables named", err)
	}
	full := map[string]string{"SERVICE_ISSUER": "https://id.example.com", "SERVICE_CLIENT_ID": "c", "SERVICE_TOKEN_DIR": "/x", "SERVICE_INTERVAL": "soon"}
	if _, err := loadConfig(env(full)); err == nil || !strings.Contains(err.Error(), "SERVICE_INTERVAL") {
		t.Errorf("bad interval: got %v", err)
	}
	full["SERVICE_INTERVAL"] = "5s"
	c, err := loadConfig(env(full))
	if err != nil || c.interval != 5*time.Second || c.account != "delegated" || c.listen != "127.0.0.1:8080" {
		t.Errorf("got %+v, %v", c, err)
	}
	full["SERVICE_DPOP"], full["SERVICE_CLIENT_KEY_FILE"], full["SERVICE_CLIENT_KEY_ID"] = "ES256", "/k.pem", "kid-1"
	if c, err = loadConfig(env(full)); err != nil || c.dpop != "ES256" || c.clientKeyFile != "/k.pem" || c.clientKeyID != "kid-1" {
		t.Errorf("DPoP and private_key_jwt settings: got %+v, %v", c, err)
	}
}
