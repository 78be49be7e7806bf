// Command tkcli is a small command-line app that stays logged in to an
// OpenID Provider the way gh or gcloud do, built on tokenkeeper:
//
//	tkcli login              log in with the system browser (loopback redirect, PKCE)
//	tkcli login --device     log in on a machine without a browser (RFC 8628 device flow)
//	tkcli login --no-browser print the login URL instead of opening a browser
//	tkcli status             who is logged in, token expiry, session age, where tokens are stored
//	tkcli token              print a fresh access token, for scripts: curl -H "Authorization: Bearer $(tkcli token)"
//	tkcli get URL            GET URL with the access token and print the response body
//	tkcli logout             revoke the tokens at the provider and delete them
//
// and, as a credential helper that hands the access token to other tools:
//
//	tkcli kubectl            kubectl's exec credential plugin (an ExecCredential; --id-token for the ID token)
//	tkcli git-credential     git's credential helper (get, store, erase) for the hosts named by --host
//	tkcli docker-credential  Docker's credential helper (get, list, store, erase); also run as docker-credential-tkcli
//
// Install it with `go install github.com/tokenkeeper/tokenkeeper/examples/tkcli@latest`
// (or build it with `go build ./examples/tkcli`). Configuration comes from
// flags or environment variables (flags win): TKCLI_ISSUER and
// TKCLI_CLIENT_ID are required; see `tkcli help`.
//
// Tokens are kept in the OS keyring (macOS Keychain, Windows Credential
// Manager, the Secret Service on Linux), which keeps them from other users
// and from copies of the disk, not from other programs of the same user
// (see store.go for each OS). Where there is none (a server, a
// container, a CI runner), tkcli says so and keeps them in an encrypted file
// instead, whose key is a random 32-byte key in a 0600 file in the same
// configuration directory (see store.go for what that protects against).
//
// Exit codes: 0 success, 1 failure (docker-credential's protocol errors
// too), 2 bad usage, 4 not logged in (run `tkcli login`), which status also
// returns when the login cannot be renewed. No command prints a token,
// except `token` and the credential helpers, in their protocol's field, and
// no error shows a stack trace. SIGTERM ends a command as Ctrl-C does.
//
// The credential helpers (kubectl.go, gitcred.go, dockercred.go) make no
// network request while the stored access token is valid for --min-valid
// (default 1m, capped at half the token's lifetime). bench/latency.sh times
// them as whole processes against a floor and kubelogin (BENCHMARKS.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

const progName = "tkcli"

// Exit codes.
const (
	exitOK         = 0
	exitFailure    = 1
	exitUsage      = 2
	exitLoginFirst = 4
)

func main() {
	// SIGTERM (kill, a container stopping, a tool timing out its
	// helper) ends a command the way Ctrl-C does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, commandLine(os.Args[0], os.Args[1:]), os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// dockerHelperPrefix starts the names Docker gives its credential helpers:
// "credHelpers": {"registry": "tkcli"} runs docker-credential-tkcli.
const dockerHelperPrefix = "docker-credential-"

// commandLine returns tkcli's arguments for a program run as argv0 with
// args: run as docker-credential-NAME, it is `tkcli docker-credential`.
func commandLine(argv0 string, args []string) []string {
	// Either separator: a Windows path may reach a program built elsewhere.
	name := strings.TrimSuffix(argv0[strings.LastIndexAny(argv0, `/\`)+1:], ".exe")
	if strings.HasPrefix(name, dockerHelperPrefix) {
		return append([]string{"docker-credential"}, args...)
	}
	return args
}

// run runs one tkcli command with args (os.Args[1:], or commandLine's) and
// returns its exit code. getenv supplies the environment (os.Getenv in
// main); stdin is read only by the credential helpers.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	return a.run(ctx, args)
}

// app is one invocation of tkcli: everything a command touches comes from
// here, so tests run commands in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// openBrowser opens the login URL; nil: the system browser.
	openBrowser func(ctx context.Context, url string) error
	// newKeyring opens the keyring store; nil: storage.NewKeyring.
	newKeyring func(storage.KeyringConfig) (storage.Store, error)
	// httpClient makes the requests to the provider; nil: the client
	// package's default.
	httpClient *http.Client
	// credentialSource returns the credential helpers' token; nil: the
	// account's (a.credential). Tests of the protocols set it.
	credentialSource credentialFunc
}

// credentials returns the credential source of the helpers for cfg.
func (a *app) credentials(cfg *config) credentialFunc {
	if a.credentialSource != nil {
		return a.credentialSource
	}
	return a.credentialFor(cfg)
}

// run dispatches args to a command. A panic is reported as one line, not a
// stack trace.
func (a *app) run(ctx context.Context, args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(a.stderr, "%s: internal error (%T); please report it\n", progName, r)
			code = exitFailure
		}
	}()
	if len(args) == 0 {
		a.usage(a.stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		a.usage(a.stdout)
		return exitOK
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(a.stderr, "%s: unknown command %q\n\n", progName, name)
		a.usage(a.stderr)
		return exitUsage
	}
	cfg, err := a.parse(name, rest)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "%s %s: %v\n", progName, name, err)
		return exitUsage
	}
	return a.report(cmd(a, ctx, cfg))
}

// commands maps a command name to its implementation.
var commands = map[string]func(*app, context.Context, *config) error{
	"login":  (*app).login,
	"status": (*app).status,
	"token":  (*app).token,
	"get":    (*app).get,
	"logout": (*app).logout,

	"kubectl":           (*app).kubectl,
	"git-credential":    (*app).gitCredential,
	"docker-credential": (*app).dockerCredential,
}

func (a *app) usage(w io.Writer) {
	fmt.Fprintf(w, `%[1]s stays logged in to an OpenID Provider (a tokenkeeper example).

Usage:
  %[1]s login [--device | --no-browser] [--port N]
  %[1]s status
  %[1]s token [--min-valid 1m]
  %[1]s get URL
  %[1]s logout

Credential helpers (each prints a token for the tool that runs it):
  %[1]s kubectl [--id-token]                     kubectl's exec plugin ($KUBERNETES_EXEC_INFO)
  %[1]s git-credential --host HOST get|store|erase  git's credential helper ($TKCLI_GIT_HOSTS)
  %[1]s docker-credential --registry R get|list|store|erase
                                                 Docker's credential helper ($TKCLI_DOCKER_REGISTRIES);
                                                 also run as docker-credential-%[1]s

Every command takes these flags; each defaults to an environment variable:
  --issuer URL        $TKCLI_ISSUER           the provider's issuer URL (required)
  --client-id ID      $TKCLI_CLIENT_ID        a native (public) client registered there (required)
                      $TKCLI_CLIENT_SECRET    only for providers that give native apps a secret (Google)
  --scopes "a b"      $TKCLI_SCOPES           scopes besides openid and offline_access
  --auth-params k=v,… $TKCLI_AUTH_PARAMS      e.g. prompt=consent, or access_type=offline for Google
  --no-offline-access $TKCLI_NO_OFFLINE_ACCESS=1  do not ask for offline_access (Google)
  --store MODE        $TKCLI_STORE            auto (default: the OS keyring, else an encrypted file), keyring or file
  --dir DIR           $TKCLI_DIR              where files go (default: <user config dir>/%[1]s)
  --key-file PATH     $TKCLI_KEY_FILE         the encrypted file store's key (default: DIR/file.key, created 0600)
                      $TKCLI_KEYRING_SERVICE  the service name of the keyring entries (default: %[1]s)
  --account KEY       $TKCLI_ACCOUNT          the account (default: CLIENT_ID@ISSUER)
  --dpop ALG          $TKCLI_DPOP             bind the tokens to a key with DPoP (RFC 9449): ES256, RS256 or EdDSA;
                                              only get sends DPoP proofs: the tokens other commands print need them
  --client-key-file F $TKCLI_CLIENT_KEY_FILE  a confidential client's PEM private key: private_key_jwt (RFC 7523)
  --client-key-id KID $TKCLI_CLIENT_KEY_ID    that key's kid at the provider

Run '%[1]s COMMAND -h' for a command's own flags.
Exit codes: 0 ok, 1 failure, 2 bad usage, 4 not logged in (or, for status, the
login cannot be renewed).
`, progName)
}
