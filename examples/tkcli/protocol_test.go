package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeAccount is a credential source for the protocol tests: a logged-in
// account, or one that must log in (and does, when allowed to).
type fakeAccount struct {
	loggedOut bool
	calls     int
}

const (
	fakeAccess = "tok-ACCESS-secret"
	fakeID     = "tok-ID-secret"
)

var fakeExpiry = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func (f *fakeAccount) credential(_ context.Context, req credentialRequest) (credential, error) {
	f.calls++
	if f.loggedOut && !req.Interactive {
		return credential{}, &tokensource.LoginRequiredError{Reason: tokensource.ReasonNoToken}
	}
	if req.IDToken {
		return credential{Secret: fakeID, Expiry: fakeExpiry}, nil
	}
	return credential{Secret: fakeAccess, Expiry: fakeExpiry}, nil
}

// protocolCase runs one helper command against a fakeAccount and compares
// its exit code, stdout and stderr with testdata/NAME.golden.
type protocolCase struct {
	name      string
	args      []string
	env       map[string]string
	stdin     string
	loggedOut bool
	wantCalls int // credentials asked for
}

func (tc protocolCase) run(t *testing.T) {
	env := map[string]string{"TKCLI_ISSUER": "https://op.example.com", "TKCLI_CLIENT_ID": "cli", "TKCLI_DIR": t.TempDir(), "TKCLI_STORE": "file"}
	for k, v := range tc.env {
		env[k] = v
	}
	fake := &fakeAccount{loggedOut: tc.loggedOut}
	var stdout, stderr strings.Builder
	a := &app{stdin: strings.NewReader(tc.stdin), stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return env[k] }, credentialSource: fake.credential}
	code := a.run(t.Context(), tc.args)
	got := fmt.Sprintf("exit %d\n-- stdout --\n%s-- stderr --\n%s", code, stdout.String(), stderr.String())

	if strings.Contains(stderr.String(), "tok-") {
		t.Errorf("stderr holds a token:\n%s", stderr.String())
	}
	if fake.calls != tc.wantCalls {
		t.Errorf("credentials asked for: got %d, want %d", fake.calls, tc.wantCalls)
	}
	golden := filepath.Join("testdata", tc.name+".golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant (%s):\n%s", got, golden, want)
	}
}

func TestKubectlProtocol(t *testing.T) {
	info := func(version string, interactive bool) map[string]string {
		return map[string]string{"KUBERNETES_EXEC_INFO": fmt.Sprintf(`{"kind":"ExecCredential","apiVersion":%q,"spec":{"interactive":%v}}`, version, interactive)}
	}
	for _, tc := range []protocolCase{
		{name: "kubectl-v1", args: []string{"kubectl"}, env: info(execV1, false), wantCalls: 1},
		{name: "kubectl-v1beta1", args: []string{"kubectl"}, env: info(execV1beta1, false), wantCalls: 1},
		{name: "kubectl-no-exec-info", args: []string{"kubectl"}, wantCalls: 1},
		{name: "kubectl-id-token", args: []string{"kubectl", "--id-token"}, env: info(execV1, false), wantCalls: 1},
		{name: "kubectl-not-interactive", args: []string{"kubectl"}, env: info(execV1, false), loggedOut: true, wantCalls: 1},
		{name: "kubectl-interactive-login", args: []string{"kubectl"}, env: info(execV1, true), loggedOut: true, wantCalls: 1},
		{name: "kubectl-unknown-version", args: []string{"kubectl"}, env: info("client.authentication.k8s.io/v1alpha1", false)},
		{name: "kubectl-bad-exec-info", args: []string{"kubectl"}, env: map[string]string{"KUBERNETES_EXEC_INFO": "{"}},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestGitCredentialProtocol(t *testing.T) {
	get := "protocol=https\nhost=git.example.com\npath=org/repo.git\n\n"
	for _, tc := range []protocolCase{
		{name: "git-get", args: []string{"git-credential", "--host", "git.example.com", "get"}, stdin: get, wantCalls: 1},
		{name: "git-get-env-hosts", args: []string{"git-credential", "get"}, env: map[string]string{"TKCLI_GIT_HOSTS": "other.example.com, GIT.example.com"}, stdin: get, wantCalls: 1},
		{name: "git-get-username", args: []string{"git-credential", "--host", "git.example.com", "--username", "x-access-token", "get"}, stdin: get, wantCalls: 1},
		{name: "git-get-unknown-host", args: []string{"git-credential", "--host", "git.example.com", "get"}, stdin: "protocol=https\nhost=evil.example.com\n\n"},
		{name: "git-get-other-port", args: []string{"git-credential", "--host", "git.example.com", "get"}, stdin: "protocol=https\nhost=git.example.com:8443\n\n"},
		{name: "git-get-clear-text", args: []string{"git-credential", "--host", "git.example.com", "get"}, stdin: "protocol=http\nhost=git.example.com\n\n"},
		{name: "git-get-no-hosts", args: []string{"git-credential", "get"}, stdin: get},
		{name: "git-get-not-logged-in", args: []string{"git-credential", "--host", "git.example.com", "get"}, stdin: get, loggedOut: true, wantCalls: 1},
		{name: "git-store", args: []string{"git-credential", "--host", "git.example.com", "store"}, stdin: "protocol=https\nhost=git.example.com\nusername=oauth2\npassword=whatever\n\n"},
		{name: "git-erase", args: []string{"git-credential", "--host", "git.example.com", "erase"}, stdin: "protocol=https\nhost=git.example.com\nusername=oauth2\npassword=whatever\n\n"},
		{name: "git-unknown-action", args: []string{"git-credential", "--host", "git.example.com", "approve"}, stdin: get},
		{name: "git-no-action", args: []string{"git-credential", "--host", "git.example.com"}},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestDockerCredentialProtocol(t *testing.T) {
	reg := []string{"docker-credential", "--registry", "registry.example.com,ghcr.example.com:5000"}
	args := func(action string) []string { return append(reg[:3:3], action) }
	for _, tc := range []protocolCase{
		{name: "docker-get", args: args("get"), stdin: "registry.example.com\n", wantCalls: 1},
		{name: "docker-get-url", args: args("get"), stdin: "https://ghcr.example.com:5000/v2/", wantCalls: 1},
		{name: "docker-get-env", args: []string{"docker-credential", "get"}, env: map[string]string{"TKCLI_DOCKER_REGISTRIES": "registry.example.com", "TKCLI_DOCKER_USERNAME": "oauth2accesstoken"}, stdin: "registry.example.com", wantCalls: 1},
		{name: "docker-get-unknown", args: args("get"), stdin: "https://index.docker.io/v1/"},
		{name: "docker-get-empty", args: args("get"), stdin: "\n"},
		{name: "docker-get-not-logged-in", args: args("get"), stdin: "registry.example.com", loggedOut: true, wantCalls: 1},
		{name: "docker-list", args: args("list")},
		{name: "docker-store", args: args("store"), stdin: `{"ServerURL":"registry.example.com","Username":"me","Secret":"hunter2"}`},
		{name: "docker-erase", args: args("erase"), stdin: "registry.example.com\n"},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		argv0 string
		args  []string
		want  string
	}{
		{"/usr/local/bin/docker-credential-tkcli", []string{"get"}, "docker-credential get"},
		{`C:\bin\docker-credential-tkcli.exe`, []string{"list"}, "docker-credential list"},
		{"/usr/local/bin/tkcli", []string{"token"}, "token"},
		{"tkcli", []string{"docker-credential", "get"}, "docker-credential get"},
	} {
		if got := strings.Join(commandLine(tc.argv0, tc.args), " "); got != tc.want {
			t.Errorf("commandLine(%q, %q): got %q, want %q", tc.argv0, tc.args, got, tc.want)
		}
	}
}

func TestEffectiveMinValid(t *testing.T) {
	iat := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		minValid time.Duration
		iat, exp time.Time
		want     time.Duration
	}{
		{"long-lived token", time.Minute, iat, iat.Add(time.Hour), time.Minute},
		{"short-lived token", time.Minute, iat, iat.Add(30 * time.Second), 15 * time.Second},
		{"unknown issue time", time.Minute, time.Time{}, iat.Add(30 * time.Second), time.Minute},
		{"exp before iat", time.Minute, iat, iat.Add(-time.Second), time.Minute},
		{"zero", 0, iat, iat.Add(30 * time.Second), 0},
	} {
		if got := effectiveMinValid(tc.minValid, tc.iat, tc.exp); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
