package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// git's credential helper protocol (https://git-scm.com/docs/gitcredentials,
// git-credential(1)). git runs `tkcli git-credential [flags] ACTION` and
// writes key=value lines (protocol, host, path, username, …) to its stdin,
// ended by a blank line or EOF:
//
//   - get: for an https host named by --host or $TKCLI_GIT_HOSTS, tkcli
//     answers username (--username, default oauth2), password (the access
//     token) and password_expiry_utc (git 2.41 and later drop the password
//     at that time). For any other host it prints nothing and exits 0, so
//     git asks its next helper or the user.
//   - store: a no-op; the tokens are tkcli's, kept up to date by tkcli.
//   - erase: a no-op too. git sends it when a server refused a password;
//     forgetting would mean deleting the refresh token, that is, a
//     logout, which a failed push must not cause. The next get hands out
//     a token valid for at least --min-valid.
//
// Unknown actions are ignored, as the protocol asks.

// gitRequest is the attributes git sends.
type gitRequest map[string]string

// readGitRequest reads key=value lines up to a blank line or EOF, at most
// 64 KiB. Lines without "=" are ignored.
func readGitRequest(r io.Reader) (gitRequest, error) {
	req := gitRequest{}
	sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			req[k] = v
		}
	}
	return req, sc.Err()
}

// gitCredential runs one action of the git credential helper protocol.
func (a *app) gitCredential(ctx context.Context, cfg *config) error {
	action := cfg.args[0]
	req, err := readGitRequest(a.stdin)
	if err != nil {
		return fmt.Errorf("git-credential: reading the request: %w", err)
	}
	if action != "get" || !gitHostAllowed(cfg.gitHosts, req) {
		return nil
	}
	cred, err := a.credentials(cfg)(ctx, credentialRequest{})
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "username=%s\npassword=%s\n", cfg.gitUsername, cred.Secret)
	if !cred.Expiry.IsZero() {
		fmt.Fprintf(&b, "password_expiry_utc=%s\n", strconv.FormatInt(cred.Expiry.Unix(), 10))
	}
	_, err = io.WriteString(a.stdout, b.String())
	return err
}

// gitHostAllowed reports whether tkcli answers for req: https (or http to
// a loopback host, for tests) to a host in hosts, compared without case.
func gitHostAllowed(hosts []string, req gitRequest) bool {
	host := req["host"]
	switch req["protocol"] {
	case "https":
	case "http":
		if !isLoopback(hostname(host)) {
			return false
		}
	default:
		return false
	}
	for _, h := range hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// hostname strips a port from host:port.
func hostname(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		hostport = hostport[:i]
	}
	return strings.Trim(hostport, "[]")
}
