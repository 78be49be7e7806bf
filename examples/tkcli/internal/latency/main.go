// Command latency prepares and times tkcli's fast path as whole processes; bench/latency.sh
// runs it.
//
//	latency setup -dir DIR -floor BIN [-floornet BIN] -tkcli BIN [-kubelogin BIN]
//
// starts the in-process OpenID Provider (examples/internal/oidctest), logs tkcli in
// through its loopback listener (tkcli login --no-browser, the provider's headless browser
// fills in the login form) with the encrypted file store in DIR/tkcli, and, when
// -kubelogin is given, logs kubelogin in the same way with its token cache in
// DIR/kubelogin. It writes DIR/floor.txt (what `tkcli token` prints, for the floor
// binaries) and DIR/commands, one command to time per line (floor, floornet, tkcli token,
// tkcli kubectl, kubelogin get-token), then stops the provider: the timed commands must answer
// from their caches, with the provider's port closed.
//
//	latency time [-n RUNS] [-warmup N] DIR/commands
//
// runs the commands in turn (A B C D A B C D …), RUNS times each after N warm-up rounds,
// with stdout and stderr discarded, and prints the wall time of each command's whole
// process (min, median, max) and the ratios of the medians: each to the floor (the first
// command) and tkcli's to kubelogin's. It fails if a run fails.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/oidctest"
)

func main() {
	slog.SetDefault(slog.New(slog.DiscardHandler)) // the provider's request log
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: latency setup|time ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setup(os.Args[2:])
	case "time":
		err = timeCommand(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}

func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory for the caches and the command list")
	floorBin := fs.String("floor", "", "the floor binary")
	floorNet := fs.String("floornet", "", "the floor binary with net/http linked in (optional)")
	tkcli := fs.String("tkcli", "", "the tkcli binary")
	kubelogin := fs.String("kubelogin", "", "the kubelogin binary (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *tkcli == "" || *floorBin == "" {
		return errors.New("setup: -dir, -floor and -tkcli are required")
	}
	// Tokens that outlive the benchmark: every timed run finds them valid.
	op, err := oidctest.Start(oidctest.Options{AccessTokenLifetime: 2 * time.Hour, IDTokenLifetime: 2 * time.Hour})
	if err != nil {
		return err
	}
	defer op.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	browser := op.Browser(oidctest.DefaultUsername, oidctest.DefaultPassword)

	tk := []string{*tkcli, "token", "--issuer", op.Issuer(), "--client-id", op.NativeClient(), "--store", "file", "--dir", filepath.Join(*dir, "tkcli")}
	login := append([]string{tk[0], "login", "--no-browser"}, tk[2:]...)
	if _, err := loginWith(ctx, browser, login); err != nil {
		return fmt.Errorf("tkcli login: %w", err)
	}
	token, err := exec.CommandContext(ctx, tk[0], tk[1:]...).Output()
	if err != nil {
		return fmt.Errorf("tkcli token: %w", err)
	}
	floor := filepath.Join(*dir, "floor.txt")
	if err := os.WriteFile(floor, token, 0o600); err != nil {
		return err
	}
	kubectl := append([]string{tk[0], "kubectl"}, tk[2:]...)
	commands := [][]string{{*floorBin, floor}}
	if *floorNet != "" {
		commands = append(commands, []string{*floorNet, floor})
	}
	commands = append(commands, tk, kubectl)
	if *kubelogin != "" {
		kl, err := loginKubelogin(ctx, op, browser, *kubelogin, filepath.Join(*dir, "kubelogin"))
		if err != nil {
			return fmt.Errorf("kubelogin: %w", err)
		}
		commands = append(commands, kl)
	}
	var list strings.Builder
	for _, c := range commands {
		list.WriteString(strings.Join(c, " ") + "\n")
	}
	return os.WriteFile(filepath.Join(*dir, "commands"), []byte(list.String()), 0o600)
}

// loginKubelogin registers a web client whose redirect URI is kubelogin's local server
// (http://localhost:PORT, no path; the native client's is /callback), logs kubelogin in
// and returns its get-token command, which then answers from its token cache.
func loginKubelogin(ctx context.Context, op *oidctest.Provider, browser func(context.Context, string) error, bin, cache string) ([]string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	id, secret := op.WebClient(fmt.Sprintf("http://localhost:%d", port))
	cmd := []string{bin, "get-token", "--oidc-issuer-url", op.Issuer(), "--oidc-client-id", id, "--oidc-client-secret", secret,
		"--token-cache-dir", cache, "--listen-address", fmt.Sprintf("127.0.0.1:%d", port), "--grant-type", "authcode"}
	login := append(slices.Clone(cmd), "--skip-open-browser")
	if _, err := loginWith(ctx, browser, login); err != nil {
		return nil, err
	}
	return cmd, nil
}

// urlRe finds the URL a command asks the user to open.
var urlRe = regexp.MustCompile(`https?://(127\.0\.0\.1|localhost):[0-9]+\S*`)

// loginWith runs a login command that prints a URL for the user on stderr, opens that URL
// with browser and returns the command's stdout once it exits.
func loginWith(ctx context.Context, browser func(context.Context, string) error, args []string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var said strings.Builder
	sc := bufio.NewScanner(stderr)
	opened := false
	for sc.Scan() {
		said.WriteString(sc.Text() + "\n")
		if u := urlRe.FindString(sc.Text()); u != "" && !opened {
			opened = true
			go func() { // the command answers the browser only after its login is done
				if err := browser(ctx, u); err != nil {
					fmt.Fprintln(os.Stderr, "latency: browser:", err)
				}
			}()
		}
	}
	_, _ = io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("%w; it printed:\n%s", err, said.String())
	}
	if !opened {
		return nil, fmt.Errorf("no login URL in:\n%s", said.String())
	}
	return []byte(stdout.String()), nil
}

func timeCommand(args []string) error {
	fs := flag.NewFlagSet("time", flag.ContinueOnError)
	runs := fs.Int("n", 30, "timed runs of each command")
	warmup := fs.Int("warmup", 3, "rounds not timed, first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *runs < 1 {
		return errors.New("time: usage: latency time [-n RUNS] [-warmup N] DIR/commands")
	}
	list, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var commands [][]string
	for line := range strings.Lines(string(list)) {
		if f := strings.Fields(line); len(f) > 0 {
			commands = append(commands, f)
		}
	}
	took := make([][]time.Duration, len(commands))
	for round := range *warmup + *runs {
		for i, argv := range commands {
			start := time.Now()
			err := exec.Command(argv[0], argv[1:]...).Run() // stdout and stderr: /dev/null
			d := time.Since(start)
			if err != nil {
				return fmt.Errorf("%s: %w", strings.Join(argv[:2], " "), err)
			}
			if round >= *warmup {
				took[i] = append(took[i], d)
			}
		}
	}
	report(commands, took)
	return nil
}

// report prints min, median and max of each command and the ratios of the medians.
func report(commands [][]string, took [][]time.Duration) {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
	median := make([]time.Duration, len(took))
	name := func(argv []string) string {
		n := filepath.Base(argv[0])
		if len(argv) > 1 && !strings.HasPrefix(argv[1], "/") {
			n += " " + argv[1]
		}
		return n
	}
	fmt.Printf("%-22s %6s %9s %9s %9s %9s\n", "command", "runs", "min ms", "median ms", "max ms", "/ floor")
	for i, d := range took {
		slices.Sort(d)
		median[i] = d[len(d)/2]
		fmt.Printf("%-22s %6d %9s %9s %9s %8.2fx\n", name(commands[i]), len(d), ms(d[0]), ms(median[i]), ms(d[len(d)-1]), float64(median[i])/float64(median[0]))
	}
	for i, argv := range commands {
		if filepath.Base(argv[0]) == "kubelogin" {
			for j := range i {
				if filepath.Base(commands[j][0]) != "tkcli" {
					continue
				}
				fmt.Printf("%s / kubelogin get-token: %.2fx\n", name(commands[j]), float64(median[j])/float64(median[i]))
			}
		}
	}
}
