package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/docker/docker-credential-helpers/credentials"
)

// Docker's credential helper protocol
// (https://github.com/docker/docker-credential-helpers). With
// "credHelpers": {"registry.example.com": "tkcli"} in ~/.docker/config.json,
// docker runs docker-credential-tkcli (a link to, or copy of, tkcli: tkcli
// looks at the name it was run as) with one action:
//
//   - get: reads a registry's server URL on stdin and prints
//     {"ServerURL": …, "Username": …, "Secret": …} with the access token as
//     the secret, for a registry named by --registry or
//     $TKCLI_DOCKER_REGISTRIES; for any other it prints "credentials not found
//     in native keychain" and exits 1, as the protocol expects.
//   - list: prints {"https://registry": "username", …} for the configured
//     registries, without reading any token.
//   - store, erase: read and ignore their input. `docker login` and `docker
//     logout` run them; the tokens are tkcli's (use tkcli login and logout).
//   - version: prints the protocol library's version.
//
// The protocol's encoding and messages come from
// github.com/docker/docker-credential-helpers/credentials, which imports
// only the standard library.

// dockerHelper is a credentials.Helper over one tkcli account. Docker's
// Helper interface takes no context, so the helper keeps the one of the
// single command it serves; it never outlives that command.
type dockerHelper struct {
	ctx        context.Context
	cfg        *config
	credential credentialFunc
}

// Add ignores the credentials `docker login` would store.
func (h *dockerHelper) Add(*credentials.Credentials) error { return nil }

// Delete ignores `docker logout`.
func (h *dockerHelper) Delete(string) error { return nil }

// Get returns the username and the access token for a configured registry.
func (h *dockerHelper) Get(serverURL string) (string, string, error) {
	if !registryAllowed(h.cfg.registries, serverURL) {
		return "", "", credentials.NewErrCredentialsNotFound()
	}
	cred, err := h.credential(h.ctx, credentialRequest{})
	if err != nil {
		return "", "", err
	}
	return h.cfg.dockerUsername, cred.Secret, nil
}

// List returns the configured registries.
func (h *dockerHelper) List() (map[string]string, error) {
	m := make(map[string]string, len(h.cfg.registries))
	for _, r := range h.cfg.registries {
		m[r] = h.cfg.dockerUsername
	}
	return m, nil
}

// dockerCredential runs one action of the Docker credential helper
// protocol. Errors go to stdout, where docker reads them, and exit 1.
func (a *app) dockerCredential(ctx context.Context, cfg *config) error {
	h := &dockerHelper{ctx: ctx, cfg: cfg, credential: a.credentials(cfg)}
	err := credentials.HandleCommand(h, cfg.args[0], a.stdin, a.stdout)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !credentials.IsErrCredentialsNotFound(err) {
		msg, _ = explain(err)
	}
	fmt.Fprintln(a.stdout, msg)
	return dockerError{msg}
}

// dockerError is a failure already reported on stdout, as docker expects;
// it exits 1 without a second message.
type dockerError struct{ msg string }

func (e dockerError) Error() string { return e.msg }

// registryAllowed reports whether serverURL (a host, or a URL as docker
// sends for Docker Hub) names a registry in registries, compared by host.
func registryAllowed(registries []string, serverURL string) bool {
	host := registryHost(serverURL)
	if host == "" {
		return false
	}
	for _, r := range registries {
		if strings.EqualFold(registryHost(r), host) {
			return true
		}
	}
	return false
}

// registryHost returns the host[:port] of a registry address.
func registryHost(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Host
}
