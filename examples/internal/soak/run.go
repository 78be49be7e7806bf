package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

const (
	tokenLifetime = 2 * time.Second
	account       = "soak@oidctest"
	childEnv      = "TOKENKEEPER_SOAK_CHILD" // a child's procConfig, as JSON
)

// run is one soak: provider, login, fault proxy, children, goroutines,
// final check, report. It returns an error when an assertion failed.
func run(ctx context.Context, o options, out io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Seed == 0 {
		o.Seed = uint64(time.Now().UnixNano())
	}
	p, err := oidctest.Start(oidctest.Options{AccessTokenLifetime: tokenLifetime, RefreshReuse: oidctest.ReuseRevokeFamily})
	if err != nil {
		return err
	}
	defer p.Close()
	tmp, err := os.MkdirTemp("", "tokenkeeper-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	base, err := setup(ctx, p, tmp)
	if err != nil {
		return err
	}
	px := newFaultProxy(p, o.FaultRate, o.Seed)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: px, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base.TokenURL = "http://" + ln.Addr().String() + "/token"
	base.Duration, base.Pause, base.Seed = o.Duration, o.Pause, o.Seed

	start := time.Now()
	children, err := startChildren(ctx, base, o)
	if err != nil {
		return err
	}
	parent := base
	parent.Name, parent.Goroutines = "parent", o.Goroutines
	total, err := runProcess(parent)
	if err != nil {
		return err
	}
	perProc := []*Stats{total.clone()}
	for _, ch := range children {
		st, err := ch.wait(o.Duration + time.Minute)
		if err != nil {
			return err
		}
		perProc = append(perProc, st)
		total.merge(st)
	}
	elapsed := time.Since(start)
	final := finalCheck(ctx, p, base)
	r := report{o: o, elapsed: elapsed, total: total, procs: perProc, px: px, opRefreshes: p.TokenRequests("refresh_token"), final: final}
	return r.write(out)
}

// setup logs the account in and stores it in an encrypted file store in
// dir; it returns the configuration every process shares.
func setup(ctx context.Context, p *oidctest.Provider, dir string) (procConfig, error) {
	raw := make([]byte, storage.KeySize)
	rand.Read(raw)
	key, err := storage.KeyFromBytes(raw)
	if err != nil {
		return procConfig{}, err
	}
	cfg := procConfig{ResourceURL: p.Endpoints().Resource, ClientID: p.NativeClient(), Dir: filepath.Join(dir, "tokens"), Key: hex.EncodeToString(raw), Account: account}
	store, err := storage.NewFile(storage.FileConfig{Dir: cfg.Dir, Key: key})
	if err != nil {
		return procConfig{}, err
	}
	rec, err := login(ctx, p)
	if err != nil {
		return procConfig{}, err
	}
	return cfg, store.Save(ctx, account, rec)
}

// child is a running child process.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdout bytes.Buffer
	done   chan error
}

// startChildren re-executes this program with -child, o.Children times.
func startChildren(ctx context.Context, base procConfig, o options) ([]*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var out []*child
	for i := range o.Children {
		cfg := base
		cfg.Name, cfg.Goroutines, cfg.Seed = fmt.Sprintf("child %d", i+1), o.ChildGoroutines, base.Seed+uint64(i+1)
		b, _ := json.Marshal(cfg)
		c := &child{name: cfg.Name, done: make(chan error, 1)}
		c.cmd = exec.CommandContext(ctx, exe, "-child")
		c.cmd.Env = append(os.Environ(), childEnv+"="+string(b))
		c.cmd.Stdout, c.cmd.Stderr = &c.stdout, os.Stderr
		if err := c.cmd.Start(); err != nil {
			for _, c := range out {
				c.cmd.Process.Kill()
				<-c.done
			}
			return nil, fmt.Errorf("start %s: %w", c.name, err)
		}
		go func() { c.done <- c.cmd.Wait() }()
		out = append(out, c)
	}
	return out, nil
}

// wait waits for the child at most d and returns its Stats.
func (c *child) wait(d time.Duration) (*Stats, error) {
	select {
	case err := <-c.done:
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
	case <-time.After(d):
		c.cmd.Process.Kill()
		<-c.done
		return nil, fmt.Errorf("%s: still running %v after the end: killed", c.name, d)
	}
	var st Stats
	if err := json.Unmarshal(c.stdout.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("%s: report: %w", c.name, err)
	}
	return &st, nil
}

// childMain runs a child process: the configuration comes from the
// environment, the Stats go to stdout as JSON.
func childMain() int {
	var cfg procConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "soak child: configuration:", err)
		return 2
	}
	st, err := runProcess(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak child:", err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(st); err != nil {
		fmt.Fprintln(os.Stderr, "soak child:", err)
		return 1
	}
	return 0
}

// finalResult is the outcome of the last refresh.
type finalResult struct {
	version  uint64
	err      error
	resource int // status of a resource request with the new access token
}

// finalCheck proves no refresh token was lost: the stored one, redeemed
// directly at the provider (whose reuse detection would revoke the family
// for a rotated-away one), gives tokens the resource accepts.
func finalCheck(ctx context.Context, p *oidctest.Provider, cfg procConfig) finalResult {
	raw, _ := hex.DecodeString(cfg.Key)
	key, err := storage.KeyFromBytes(raw)
	if err != nil {
		return finalResult{err: err}
	}
	store, err := storage.NewFile(storage.FileConfig{Dir: cfg.Dir, Key: key})
	if err != nil {
		return finalResult{err: err}
	}
	rec, err := store.Load(ctx, cfg.Account)
	if err != nil {
		return finalResult{err: err}
	}
	oc := &oauth2.Config{ClientID: cfg.ClientID, Endpoint: oauth2.Endpoint{TokenURL: p.Endpoints().Token, AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := tokensource.Exchange(ctx, nil, oc, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rec.RefreshToken}})
	if err != nil {
		return finalResult{version: rec.Version, err: err}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.ResourceURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return finalResult{version: rec.Version, err: err}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err = errors.New("the resource refused the new access token")
	}
	return finalResult{version: rec.Version, err: err, resource: resp.StatusCode}
}

// clone returns a deep copy of s.
func (s *Stats) clone() *Stats {
	c := &Stats{Name: s.Name, SendStatus: map[string]int64{}, Errors: map[string]int64{}, Events: map[string]int64{}, EventErrors: map[string]int64{}}
	c.merge(s)
	return c
}
