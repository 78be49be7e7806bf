package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// service holds the delegated account and what calls the API with it.
type service struct {
	cfg    config
	log    *slog.Logger
	c      *client.Client
	acct   *client.Account
	api    *http.Client // adds the account's Bearer token
	health *health
	redis  *redis.Client // with SERVICE_REDIS_URL; nil otherwise
}

func newService(ctx context.Context, cfg config, log *slog.Logger) (*service, error) {
	// The key comes from the environment (in production: injected from
	// a secret store); it never appears in a log or error.
	key, err := storage.KeyFromEnv("SERVICE_TOKEN_KEY")
	if err != nil {
		return nil, fmt.Errorf("%w (generate one with: openssl rand -hex 32)", err)
	}
	s := &service{cfg: cfg, log: log, health: &health{account: cfg.account}}
	store, err := s.openStore(key)
	if err != nil {
		return nil, err
	}
	ccfg := client.Config{
		Issuer:       cfg.issuer,
		ClientID:     cfg.clientID,
		ClientSecret: cfg.clientSecret,
		DPoP:         cfg.dpop,
		Scopes:       cfg.scopes,
		Store:        store,
		Logger:       log,
		OnEvent:      s.event,
	}
	if cfg.clientKeyFile != "" {
		if ccfg.ClientAuth, err = tokensource.LoadClientAssertion(cfg.clientKeyFile, cfg.clientKeyID); err != nil {
			return nil, fmt.Errorf("SERVICE_CLIENT_KEY_FILE: %w", err)
		}
	}
	s.c, err = client.New(ctx, ccfg)
	if err != nil {
		return nil, err
	}
	if s.acct, err = s.c.Account(cfg.account); err != nil {
		s.c.Close()
		return nil, err
	}
	s.api = &http.Client{
		// transport.Transport adds "Authorization: Bearer" (for DPoP-bound
		// tokens "Authorization: DPoP" and a proof) and, on a 401
		// with error="invalid_token", refreshes once and replays. For an
		// API that answers expired tokens with 403, set its Rejected.
		Transport: &transport.Transport{Source: s.acct.TokenSource()},
		Timeout:   30 * time.Second,
	}
	return s, nil
}

// close stops background refreshes; the newest token is already saved (or
// saved now, if a save had failed).
func (s *service) close() {
	s.c.Close()
	if s.redis != nil {
		s.redis.Close()
	}
}

// openStore opens where the account's tokens live: Redis, shared by every
// replica (one refresh cluster-wide, fenced writes, encrypted with key),
// or the encrypted files of one machine.
func (s *service) openStore(key storage.FileKey) (storage.Store, error) {
	if s.cfg.redisURL == "" {
		return storage.NewFile(storage.FileConfig{Dir: s.cfg.tokenDir, Key: key})
	}
	opts, err := redis.ParseURL(s.cfg.redisURL)
	if err != nil {
		return nil, fmt.Errorf("SERVICE_REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true // go-redis honours deadlines only then
	s.redis = redis.NewClient(opts)
	store, err := redisstore.New(redisstore.Config{Client: s.redis, Key: key, Prefix: "service:"})
	if err != nil {
		s.redis.Close()
		return nil, err
	}
	return store, nil
}

// login logs the account in with the device flow: an operator approves
// the code from any browser.
func (s *service) login(ctx context.Context) error {
	err := s.acct.LoginDevice(ctx, func(dc client.DeviceCode) {
		s.log.Info("device login: open the verification URI and enter the user code",
			"verification_uri", dc.VerificationURI, "user_code", dc.UserCode, "expires_at", dc.ExpiresAt)
	})
	if err != nil {
		return err
	}
	s.log.Info("logged in; tokens stored", "account", s.cfg.account, "dir", s.cfg.tokenDir)
	return nil
}

// serve calls the API every interval and serves /healthz until ctx is done,
// then shuts down.
func (s *service) serve(ctx context.Context) error {
	if _, err := s.acct.TokenSource().Current(ctx); errors.Is(err, tokensource.ErrLoginRequired) {
		return errNotLoggedIn
	} else if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server", "error", err.Error())
		}
	})
	s.log.Info("listening", "addr", ln.Addr().String(), "account", s.cfg.account, "api", redact(s.cfg.apiURL), "interval", s.cfg.interval.String())
	wg.Go(func() { s.schedule(ctx) })

	<-ctx.Done()
	s.log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	wg.Wait()
	s.c.Close()
	s.log.Info("stopped")
	return err
}

// schedule calls the API now and every interval until ctx is done.
func (s *service) schedule(ctx context.Context) {
	t := time.NewTicker(s.cfg.interval)
	defer t.Stop()
	for {
		s.call(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// call makes one API call and logs and records its outcome. The API client's
// timeout bounds it; a call slower than the interval delays the next one.
func (s *service) call(ctx context.Context) {
	if s.cfg.apiURL == "" {
		return
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.apiURL, nil)
	if err != nil {
		s.health.called(0, err)
		s.log.Error("api call", "error", err.Error())
		return
	}
	resp, err := s.api.Do(req)
	if err != nil {
		s.health.called(0, err)
		if errors.Is(err, tokensource.ErrLoginRequired) {
			s.log.Error("api call: the account must log in again: run `service -login`", "error", safeErr(err))
		} else if ctx.Err() == nil { // not a call cut short by the shutdown
			s.log.Warn("api call failed", "error", safeErr(err))
		}
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	s.health.called(resp.StatusCode, nil)
	level := slog.LevelInfo
	if resp.StatusCode >= 400 {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "api call", "status", resp.StatusCode, "duration_ms", time.Since(start).Milliseconds())
}

// event records and logs what happens to the account's tokens. Failures
// are logged by tokensource itself (Warn and Error).
func (s *service) event(ev tokensource.Event) {
	s.health.event(ev)
	switch ev.Kind {
	case tokensource.EventRefreshed, tokensource.EventRotated, tokensource.EventAdopted, tokensource.EventSaved:
		s.log.Info("token "+ev.Kind.String(), "account", ev.Key, "access_token_expiry", ev.Expiry)
	}
}

// safeErr describes err without the request URL's query, which may hold a
// secret.
func safeErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redact(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}

// redact drops a URL's user info, query and fragment.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
