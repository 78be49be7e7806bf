package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
	"github.com/tokenkeeper/tokenkeeper/transport"
)

// procConfig is what one process (the parent or a child) needs to run
// its goroutines. The parent passes it to children as JSON.
type procConfig struct {
	Name        string
	TokenURL    string // the fault proxy
	ResourceURL string
	ClientID    string
	Dir         string // the file store's directory
	Key         string // the file store's key, hex
	Account     string
	Duration    time.Duration
	Pause       time.Duration
	Goroutines  int
	Seed        uint64
}

// runProcess runs cfg.Goroutines loops of Token() and a resource request
// against one Source on the shared file store until cfg.Duration has
// passed, then closes the Source and returns what it saw.
func runProcess(cfg procConfig) (*Stats, error) {
	raw, err := hex.DecodeString(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: key: %w", cfg.Name, err)
	}
	key, err := storage.KeyFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	store, err := storage.NewFile(storage.FileConfig{Dir: cfg.Dir, Key: key})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	c := newCollector(cfg.Name, cfg.Goroutines)
	src, err := tokensource.New(tokensource.Config{
		OAuth2:     &oauth2.Config{ClientID: cfg.ClientID, Endpoint: oauth2.Endpoint{TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}},
		Store:      store,
		Key:        cfg.Account,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		OnEvent: func(e tokensource.Event) {
			why := ""
			if e.Err != nil {
				why = kind(e.Err)
			}
			c.event(e.Kind.String(), why)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	ts := &trackedSource{src: src, c: c}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &transport.Transport{
		Source: ts,
		Base:   &recordingBase{next: &http.Transport{MaxIdleConnsPerHost: cfg.Goroutines}, ts: ts, c: c},
	}}
	defer hc.CloseIdleConnections()

	deadline := time.Now().Add(cfg.Duration)
	var wg sync.WaitGroup
	for i := range cfg.Goroutines {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
		wg.Go(func() { c.addWaits(loop(ts, hc, cfg, rng, deadline, c)) })
	}
	wg.Wait()
	if err := src.Close(); err != nil {
		c.error("Close: " + kind(err))
	}
	return c.stats(), nil
}

// loop is one goroutine: Token(), then a GET of the protected resource,
// then a pause, until the deadline. It returns the Token() waits.
func loop(ts *trackedSource, hc *http.Client, cfg procConfig, rng *rand.Rand, deadline time.Time, c *collector) []int64 {
	var waits []int64
	for time.Now().Before(deadline) {
		start := time.Now()
		_, err := ts.Token()
		waits = append(waits, int64(time.Since(start)))
		if err != nil {
			c.error("Token(): " + kind(err))
		} else {
			get(hc, cfg.ResourceURL, c)
		}
		time.Sleep(cfg.Pause/2 + time.Duration(rng.Int64N(int64(cfg.Pause)))) // pause ± 50 %
	}
	return waits
}

func get(hc *http.Client, url string, c *collector) {
	resp, err := hc.Get(url)
	if err != nil {
		c.request(false)
		c.error("request: " + kind(err))
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.request(resp.StatusCode == http.StatusOK)
	if resp.StatusCode != http.StatusOK {
		c.error(fmt.Sprintf("request: HTTP %d returned (the refresh for a replay failed)", resp.StatusCode))
	}
}

// kind names the kind of err for the report.
func kind(err error) string {
	var le *tokensource.LoginRequiredError
	var te *tokensource.Error
	switch {
	case errors.As(err, &le):
		s := "login required: " + le.Reason.String()
		if errors.As(err, &te) {
			s += " (" + te.Code + ")"
		}
		return s
	case errors.As(err, &te) && te.Code != "":
		return fmt.Sprintf("token endpoint: HTTP %d %s", te.StatusCode, te.Code)
	case errors.As(err, &te) && te.StatusCode != 0 && errors.Is(err, tokensource.ErrMalformedResponse):
		return fmt.Sprintf("token endpoint: HTTP %d, not a token response", te.StatusCode)
	case errors.As(err, &te) && errors.Is(err, syscall.ECONNRESET), errors.As(err, &te) && errors.Is(err, io.EOF):
		return "token endpoint: connection reset"
	case errors.As(err, &te) && errors.Is(err, context.DeadlineExceeded):
		return "token endpoint: timeout"
	case errors.As(err, &te) && errors.Is(err, context.Canceled):
		return "token endpoint: not sent, the Source was closed (end of the run)"
	case errors.As(err, &te):
		return "token endpoint: " + te.Error()
	case errors.Is(err, tokensource.ErrClosed):
		return "source closed"
	}
	return fmt.Sprintf("%T", err)
}

// tokenInfo is what is known of an access token handed out.
type tokenInfo struct {
	expiry         time.Time
	arrivedExpired bool // already expired when first handed out: the response that carried it was slower than its lifetime
}

// trackedSource wraps the Source the transport uses and records every
// token it hands out, to tell later whether a request carried an expired
// one.
type trackedSource struct {
	src    *tokensource.Source
	c      *collector
	tokens sync.Map // access token → *tokenInfo
}

func (t *trackedSource) Token() (*oauth2.Token, error) { return t.TokenContext(context.Background()) }

func (t *trackedSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	tok, err := t.src.TokenContext(ctx)
	t.note(tok)
	return tok, err
}

func (t *trackedSource) RefreshRejected(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	tok, err := t.src.RefreshRejected(ctx, rejected)
	t.note(tok)
	return tok, err
}

func (t *trackedSource) note(tok *oauth2.Token) {
	if tok == nil || tok.Expiry.IsZero() {
		return
	}
	expired := !time.Now().Before(tok.Expiry)
	v, _ := t.tokens.LoadOrStore(tok.AccessToken, &tokenInfo{expiry: tok.Expiry, arrivedExpired: expired})
	if expired {
		t.c.expired(false, v.(*tokenInfo).arrivedExpired, 0)
	}
}

func (t *trackedSource) info(access string) *tokenInfo {
	if v, ok := t.tokens.Load(access); ok {
		return v.(*tokenInfo)
	}
	return nil
}

// recordingBase sits under transport.Transport and sees every request
// sent to the resource, replays included, with the token it carries.
type recordingBase struct {
	next http.RoundTripper
	ts   *trackedSource
	c    *collector
}

func (b *recordingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	info := b.ts.info(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	now := time.Now()
	expired := info != nil && !now.Before(info.expiry)
	if expired {
		b.c.expired(true, info.arrivedExpired, now.Sub(info.expiry))
	}
	resp, err := b.next.RoundTrip(req)
	switch {
	case err != nil:
		b.c.sent("error")
	case resp.StatusCode == http.StatusUnauthorized && transport.InvalidToken(resp) && !expired:
		// The provider revokes the access token issued with a refresh
		// token when that one is redeemed: a refresh, here or in another
		// process, made it invalid. The transport refreshes and replays.
		b.c.sent("401 invalid_token, token not expired (revoked by the refresh that replaced it)")
	case resp.StatusCode == http.StatusUnauthorized && expired:
		b.c.sent("401 invalid_token, token expired")
	default:
		b.c.sent(fmt.Sprint(resp.StatusCode))
	}
	return resp, err
}
