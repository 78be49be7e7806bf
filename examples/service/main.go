// Command service is a backend that calls a protected API on a user's behalf
// (a delegated account) on a schedule, and keeps that user's login alive for
// as long as the provider allows, with tokenkeeper:
//
//   - the account's tokens live in an encrypted file store, keyed by a
//     32-byte key from the environment (SERVICE_TOKEN_KEY), so the refresh
//     token is never on disk in clear;
//   - every API call goes through a transport.Transport, which adds the
//     Bearer header and, on a 401 invalid_token, refreshes once and replays;
//   - the access token is refreshed in the background before it expires,
//     each rotated refresh token saved before use; several replicas sharing
//     the directory refresh one at a time (the file store locks);
//   - it logs with log/slog (JSON, no secrets) and reports the token's
//     health on GET /healthz: 200 while the API can be called, 503 once the
//     user must log in again;
//   - SIGTERM or Ctrl-C stops it cleanly: the HTTP server drains, the
//     scheduler stops, background refreshes end and the newest token is saved.
//
// An operator logs the account in once, with the device flow (no browser on
// the server), then starts the service:
//
//	export SERVICE_ISSUER=https://login.example.com SERVICE_CLIENT_ID=reports-backend
//	export SERVICE_TOKEN_DIR=/var/lib/reports/tokens SERVICE_TOKEN_KEY=$(openssl rand -hex 32)  # keep it in your secret store
//	export SERVICE_API_URL=https://api.example.com/v1/reports
//	service -login      # shows a code to approve in a browser anywhere, stores the tokens, exits
//	service             # runs until SIGTERM
//
// Other settings: SERVICE_CLIENT_SECRET (a confidential client's secret),
// SERVICE_CLIENT_KEY_FILE and SERVICE_CLIENT_KEY_ID (a confidential
// client's PEM private key and its kid: private_key_jwt instead of a
// secret), SERVICE_DPOP (ES256, RS256 or EdDSA: DPoP-bound tokens),
// SERVICE_SCOPES (space separated, besides openid and offline_access),
// SERVICE_ACCOUNT (the account's key in the store, default "delegated"),
// SERVICE_INTERVAL (between API calls, default 30s), SERVICE_LISTEN (the
// /healthz address, default 127.0.0.1:8080), SERVICE_LOG_LEVEL (debug,
// info, warn or error; default info).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// config is the service's configuration, from the environment.
type config struct {
	issuer, clientID, clientSecret string
	scopes                         []string
	apiURL                         string
	tokenDir                       string
	redisURL                       string // "": tokens in the encrypted files of tokenDir
	account                        string
	interval                       time.Duration
	listen                         string
	dpop                           string // "": Bearer tokens
	clientKeyFile, clientKeyID     string // private_key_jwt; "": none
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		issuer:       getenv("SERVICE_ISSUER"),
		clientID:     getenv("SERVICE_CLIENT_ID"),
		clientSecret: getenv("SERVICE_CLIENT_SECRET"),
		scopes:       strings.Fields(getenv("SERVICE_SCOPES")),
		apiURL:       getenv("SERVICE_API_URL"),
		tokenDir:     getenv("SERVICE_TOKEN_DIR"),
		redisURL:     getenv("SERVICE_REDIS_URL"),
		account:      or(getenv("SERVICE_ACCOUNT"), "delegated"),
		listen:       or(getenv("SERVICE_LISTEN"), "127.0.0.1:8080"),
		interval:     30 * time.Second,
	}
	c.dpop, c.clientKeyFile, c.clientKeyID = getenv("SERVICE_DPOP"), getenv("SERVICE_CLIENT_KEY_FILE"), getenv("SERVICE_CLIENT_KEY_ID")
	var missing []string
	store := c.tokenDir
	if c.redisURL != "" {
		store = c.redisURL
	}
	for name, v := range map[string]string{"SERVICE_ISSUER": c.issuer, "SERVICE_CLIENT_ID": c.clientID, "SERVICE_TOKEN_DIR or SERVICE_REDIS_URL": store} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("set %s", strings.Join(missing, ", "))
	}
	if v := getenv("SERVICE_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("SERVICE_INTERVAL=%q: want a positive duration such as 30s", v)
		}
		c.interval = d
	}
	return c, nil
}

// run runs the service (or, with -login, the one-time login) until ctx is
// done or SIGTERM or SIGINT arrives, logging to logw. It returns the exit
// code.
func run(ctx context.Context, args []string, logw io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	var level slog.Level // SERVICE_LOG_LEVEL: debug, info (default), warn, error
	if err := level.UnmarshalText([]byte(or(os.Getenv("SERVICE_LOG_LEVEL"), "info"))); err != nil {
		fmt.Fprintf(logw, "service: SERVICE_LOG_LEVEL: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: level}))

	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(logw)
	login := fs.Bool("login", false, "log the account in with the device flow, store its tokens and exit")
	redisURL := fs.String("redis", "", "share the account's tokens with the service's other replicas through Redis at this URL (redis:// or rediss://; default $SERVICE_REDIS_URL)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	getenv := os.Getenv
	if *redisURL != "" {
		getenv = func(k string) string {
			if k == "SERVICE_REDIS_URL" {
				return *redisURL
			}
			return os.Getenv(k)
		}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		log.Error("configuration: " + err.Error())
		return 2
	}
	svc, err := newService(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "error", err.Error())
		return 1
	}
	defer svc.close()
	if *login {
		err = svc.login(ctx)
	} else {
		err = svc.serve(ctx)
	}
	if err != nil {
		log.Error("failed", "error", err.Error())
		return 1
	}
	return 0
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var errNotLoggedIn = errors.New("the account has no tokens: run `service -login` once first")
