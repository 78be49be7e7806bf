package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// config is what a command runs with: flags over environment variables
// over defaults.
type config struct {
	issuer       string
	clientID     string
	clientSecret string // from the environment only: flags show up in ps
	scopes       []string
	authParams   map[string]string
	noOffline    bool
	dpop         string // "": Bearer tokens; ES256, RS256 or EdDSA: DPoP-bound tokens
	clientKey    string // private_key_jwt: the client's PEM private key file
	clientKeyID  string // its kid at the provider

	store          string // "auto", "keyring" or "file"
	dir            string
	keyFile        string
	keyringService string
	account        string // the account's key; "" is clientID@issuer

	// Command flags.
	device    bool          // login
	noBrowser bool          // login
	port      int           // login
	minValid  time.Duration // token and the credential helpers
	idToken   bool          // kubectl

	gitHosts       []string // git-credential: the hosts it answers for
	gitUsername    string   // git-credential
	registries     []string // docker-credential: the registries it answers for
	dockerUsername string   // docker-credential

	args []string // positional arguments
}

// errHelp is returned by parse after printing a command's help.
var errHelp = flag.ErrHelp

// parse reads the environment and the command's flags.
func (a *app) parse(cmd string, args []string) (*config, error) {
	env := a.getenv
	c := &config{clientSecret: env("TKCLI_CLIENT_SECRET"), keyringService: env("TKCLI_KEYRING_SERVICE")}
	if c.keyringService == "" {
		c.keyringService = progName
	}
	noOffline, err := envBool(env, "TKCLI_NO_OFFLINE_ACCESS")
	if err != nil {
		return nil, err
	}
	var scopes, params string
	fs := flag.NewFlagSet(progName+" "+cmd, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.StringVar(&c.issuer, "issuer", env("TKCLI_ISSUER"), "the provider's issuer URL ($TKCLI_ISSUER)")
	fs.StringVar(&c.clientID, "client-id", env("TKCLI_CLIENT_ID"), "the client ID ($TKCLI_CLIENT_ID)")
	fs.StringVar(&scopes, "scopes", env("TKCLI_SCOPES"), "scopes besides openid and offline_access ($TKCLI_SCOPES)")
	fs.StringVar(&params, "auth-params", env("TKCLI_AUTH_PARAMS"), "extra authorization parameters, k=v,k2=v2 ($TKCLI_AUTH_PARAMS)")
	fs.BoolVar(&c.noOffline, "no-offline-access", noOffline, "do not request offline_access ($TKCLI_NO_OFFLINE_ACCESS)")
	fs.StringVar(&c.store, "store", or(env("TKCLI_STORE"), "auto"), "auto, keyring or file ($TKCLI_STORE)")
	fs.StringVar(&c.dir, "dir", env("TKCLI_DIR"), "directory for tkcli's files ($TKCLI_DIR)")
	fs.StringVar(&c.keyFile, "key-file", env("TKCLI_KEY_FILE"), "key of the encrypted file store ($TKCLI_KEY_FILE)")
	fs.StringVar(&c.dpop, "dpop", env("TKCLI_DPOP"), "bind the tokens to a key of this account with DPoP: ES256, RS256 or EdDSA ($TKCLI_DPOP)")
	fs.StringVar(&c.clientKey, "client-key-file", env("TKCLI_CLIENT_KEY_FILE"), "a confidential client's PEM private key: private_key_jwt instead of a secret ($TKCLI_CLIENT_KEY_FILE)")
	fs.StringVar(&c.clientKeyID, "client-key-id", env("TKCLI_CLIENT_KEY_ID"), "the kid of --client-key-file's key at the provider ($TKCLI_CLIENT_KEY_ID)")
	fs.StringVar(&c.account, "account", env("TKCLI_ACCOUNT"), "the account's key, as login stored it (default: CLIENT_ID@ISSUER) ($TKCLI_ACCOUNT)")
	switch cmd {
	case "login", "kubectl":
		fs.BoolVar(&c.device, "device", false, "log in with a code on another device (no browser here)")
		fs.BoolVar(&c.noBrowser, "no-browser", false, "print the login URL instead of opening a browser")
		fs.IntVar(&c.port, "port", 0, "loopback port for the browser's redirect (0: any free port)")
	}
	switch cmd {
	case "token", "kubectl", "git-credential", "docker-credential":
		fs.DurationVar(&c.minValid, "min-valid", time.Minute, "refresh first if the token expires sooner than this (at most half its lifetime)")
	}
	var hosts, registries listFlag
	hosts.set(env("TKCLI_GIT_HOSTS"))
	registries.set(env("TKCLI_DOCKER_REGISTRIES"))
	switch cmd {
	case "kubectl":
		fs.BoolVar(&c.idToken, "id-token", false, "hand out the ID token instead of the access token")
	case "git-credential":
		fs.Var(&hosts, "host", "a host (host[:port]) to answer for; repeat or separate with commas ($TKCLI_GIT_HOSTS)")
		fs.StringVar(&c.gitUsername, "username", or(env("TKCLI_GIT_USERNAME"), "oauth2"), "the username given to git ($TKCLI_GIT_USERNAME)")
	case "docker-credential":
		fs.Var(&registries, "registry", "a registry (host[:port]) to answer for; repeat or separate with commas ($TKCLI_DOCKER_REGISTRIES)")
		fs.StringVar(&c.dockerUsername, "username", or(env("TKCLI_DOCKER_USERNAME"), "oauth2"), "the username given to docker ($TKCLI_DOCKER_USERNAME)")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.args = fs.Args()
	c.gitHosts, c.registries = hosts.list, registries.list
	c.scopes = strings.Fields(strings.ReplaceAll(scopes, ",", " "))
	if c.authParams, err = parseParams(params); err != nil {
		return nil, err
	}
	return c, c.validate(cmd)
}

func (c *config) validate(cmd string) error {
	switch {
	case c.issuer == "" || c.clientID == "":
		return errors.New("no provider configured: set TKCLI_ISSUER and TKCLI_CLIENT_ID (or --issuer and --client-id)")
	case c.store != "auto" && c.store != "keyring" && c.store != "file":
		return fmt.Errorf("--store %q: want auto, keyring or file", c.store)
	case c.clientKeyID != "" && c.clientKey == "":
		return errors.New("--client-key-id needs --client-key-file")
	case c.device && c.noBrowser:
		return errors.New("--device and --no-browser do not go together")
	case cmd == "get" && len(c.args) != 1:
		return errors.New("usage: " + progName + " get URL")
	case cmd == "git-credential" && len(c.args) != 1:
		return errors.New("usage: " + progName + " git-credential --host HOST get|store|erase")
	case cmd == "docker-credential" && len(c.args) != 1:
		return errors.New("usage: docker-credential-" + progName + " get|list|store|erase|version")
	case cmd != "get" && cmd != "git-credential" && cmd != "docker-credential" && len(c.args) != 0:
		return fmt.Errorf("unexpected argument %q", c.args[0])
	case strings.ContainsAny(c.gitUsername, "\n\r\x00"):
		return errors.New("--username: a git username cannot hold a line break")
	}
	if c.dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return fmt.Errorf("no configuration directory (%v): set TKCLI_DIR or --dir", err)
		}
		c.dir = filepath.Join(base, progName)
	}
	if c.keyFile == "" {
		c.keyFile = filepath.Join(c.dir, "file.key")
	}
	return nil
}

// applyAuth sets cc's DPoP and, with --client-key-file, its private_key_jwt
// client authentication (the key file is read here; client.New checks the
// rest).
func (c *config) applyAuth(cc *client.Config) error {
	cc.DPoP = c.dpop
	if c.clientKey == "" {
		return nil
	}
	ca, err := tokensource.LoadClientAssertion(c.clientKey, c.clientKeyID)
	if err != nil {
		return fmt.Errorf("--client-key-file: %w", err)
	}
	cc.ClientAuth = ca
	return nil
}

// listFlag is a flag of values that may be repeated and separated by
// commas or spaces; the first use on the command line replaces the
// environment's list.
type listFlag struct {
	list    []string
	flagSet bool
}

func (l *listFlag) String() string { return strings.Join(l.list, ",") }

func (l *listFlag) Set(s string) error {
	if !l.flagSet {
		l.list, l.flagSet = nil, true
	}
	l.set(s)
	return nil
}

func (l *listFlag) set(s string) {
	l.list = append(l.list, strings.Fields(strings.ReplaceAll(s, ",", " "))...)
}

// parseParams parses "k=v,k2=v2".
func parseParams(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("auth params: %q is not key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

func envBool(env func(string) string, name string) (bool, error) {
	v := env(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("$%s=%q: want 1 or 0", name, v)
	}
	return b, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
