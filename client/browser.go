package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/cli/browser"
)

// OpenSystemBrowser opens url in the user's browser; it is the opener
// [Account.Login] uses when LoginOptions.OpenBrowser is nil.
//
// When the BROWSER environment variable is set it is honoured as git and
// gh do: a list of commands separated by ':', tried in order until one
// exits successfully; in each, "%s" is replaced by the URL, or else the
// URL is appended as the last argument. A command is split into words at
// spaces and run directly, not by a shell, so the URL is always one
// argument whatever it holds. Without BROWSER the platform's opener is
// used (xdg-open, open, rundll32; github.com/cli/browser). ctx ends a
// command still running. The error names the commands that failed and
// why, never the URL.
func OpenSystemBrowser(ctx context.Context, url string) error {
	env := os.Getenv("BROWSER")
	if strings.TrimSpace(env) == "" {
		if err := browser.OpenURL(url); err != nil {
			return fmt.Errorf("client: opening the browser: %s", scrubURL(err.Error(), url))
		}
		return nil
	}
	var errs []error
	for _, entry := range strings.Split(env, ":") {
		words := strings.Fields(entry)
		if len(words) == 0 {
			continue
		}
		args, replaced := make([]string, 0, len(words)), false
		for _, w := range words[1:] {
			if strings.Contains(w, "%s") {
				w, replaced = strings.ReplaceAll(w, "%s", url), true
			}
			args = append(args, w)
		}
		if !replaced {
			args = append(args, url)
		}
		cmd := exec.CommandContext(ctx, words[0], args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		msg := err.Error()
		if s := strings.TrimSpace(string(out)); s != "" {
			msg += ": " + firstLine(s)
		}
		errs = append(errs, fmt.Errorf("BROWSER command %q: %s", words[0], scrubURL(msg, url)))
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return errors.New("client: $BROWSER names no command")
	}
	return fmt.Errorf("client: opening the browser: %w", errors.Join(errs...))
}

// scrubURL removes url (which holds the state and nonce) from msg.
func scrubURL(msg, url string) string {
	if url == "" {
		return msg
	}
	return strings.ReplaceAll(msg, url, "<the login URL>")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 200 {
		line = line[:200]
	}
	return line
}
