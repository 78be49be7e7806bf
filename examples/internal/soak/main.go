// Command soak runs the SDK against the in-process OpenID Provider of
// examples/internal/oidctest for a while, with faults injected in front of its
// token endpoint, and checks that nothing breaks. It is a benchmark-style
// program, not a test: run it by hand, e.g.
//
//	go run ./examples/internal/soak -duration 2m
//
// It starts the provider with 2-second access tokens (and refresh-token
// reuse revoking the whole token family), logs one account in headlessly
// (authorization code + PKCE through a loopback listener, the provider's
// headless browser playing the user), saves it in an encrypted
// storage.File in a temporary directory, and then, for -duration, runs
// -goroutines goroutines in this process and -children child processes
// (this program re-executed with -child) of -child-goroutines goroutines
// each. All share the account through the file store; each goroutine
// loops: Token(), then a GET of the provider's protected resource through
// transport.Transport, then a pause of about -pause.
//
// Token requests go through a fault injector on 127.0.0.1 that, for a
// -fault-rate share of them, answers 503, 500 (HTML) or 429 (Retry-After:
// 1) itself, resets the connection, delays the request or the response
// (sometimes past the access token's lifetime), or has the provider fail
// the request (oidctest's FailTokenRequests). Faults are only injected
// where a client can survive them: a response lost after the provider
// rotated the refresh token kills that token with no grace period, which
// tokensource's tests cover (TestLostResponseRereadsStore).
//
// The provider revokes the access token issued with a refresh token when
// that refresh token is redeemed, so requests that carry the previous
// access token while another goroutine or process refreshes are rejected
// with 401 invalid_token; the transport then refreshes (in fact adopts the
// new token from the store) and replays them. These are reported apart.
//
// At the end it reports refreshes, token requests, resource requests,
// errors by kind and the p50/p99/max Token() wait, and exits non-zero
// unless: no token was handed out or sent expired except where a fault
// forced it (a token response slower than the token's lifetime; counted
// separately), no invalid_grant was ever answered, and the stored refresh
// token still works (one last refresh, directly at the provider).
//
// Everything listens on and connects to 127.0.0.1 only; the run is
// bounded by -duration (children are killed a minute after it) and the
// traffic by the pause between iterations.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// options configures a soak run.
type options struct {
	Duration        time.Duration
	Goroutines      int // in this process
	Children        int // child processes
	ChildGoroutines int // in each child
	Pause           time.Duration
	FaultRate       float64 // share of token requests that get a fault
	Seed            uint64  // 0: from the clock
}

func (o *options) validate() error {
	switch {
	case o.Duration <= 0 || o.Duration > 24*time.Hour:
		return fmt.Errorf("-duration %v: want more than 0 and at most 24h", o.Duration)
	case o.Goroutines < 1 || o.Goroutines > 1024 || o.ChildGoroutines < 1 || o.ChildGoroutines > 1024:
		return fmt.Errorf("-goroutines and -child-goroutines: want 1 to 1024")
	case o.Children < 0 || o.Children > 32:
		return fmt.Errorf("-children %d: want 0 to 32", o.Children)
	case o.Pause < time.Millisecond:
		return fmt.Errorf("-pause %v: want at least 1ms", o.Pause)
	case o.FaultRate < 0 || o.FaultRate > 1:
		return fmt.Errorf("-fault-rate %v: want 0 to 1", o.FaultRate)
	}
	return nil
}

func main() {
	var o options
	flag.DurationVar(&o.Duration, "duration", 2*time.Minute, "how long to run")
	flag.IntVar(&o.Goroutines, "goroutines", 64, "goroutines in this process")
	flag.IntVar(&o.Children, "children", 4, "child processes sharing the account through the file store")
	flag.IntVar(&o.ChildGoroutines, "child-goroutines", 16, "goroutines in each child process")
	flag.DurationVar(&o.Pause, "pause", 50*time.Millisecond, "mean pause between a goroutine's iterations")
	flag.Float64Var(&o.FaultRate, "fault-rate", 0.3, "share of token requests that get a fault")
	flag.Uint64Var(&o.Seed, "seed", 0, "random seed for the faults (0: from the clock)")
	child := flag.Bool("child", false, "run as a child process (internal: the parent passes its configuration in the environment)")
	flag.Parse()

	// zitadel's OP logs every request through slog.Default.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if *child {
		os.Exit(childMain())
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}
