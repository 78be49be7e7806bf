package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenkeeper/tokenkeeper/client"
	"github.com/tokenkeeper/tokenkeeper/storage"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// usageError is a mistake on the command line (exit code 2).
type usageError string

func (e usageError) Error() string { return string(e) }

// report prints err, if any, as one message that says what to do, and
// returns the exit code.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.As(err, new(dockerError)) {
		return exitFailure // reported on stdout, where docker reads it
	}
	msg, code := explain(err)
	fmt.Fprintf(a.stderr, "%s: %s\n", progName, msg)
	return code
}

// explain turns an error into a message and an exit code.
func explain(err error) (string, int) {
	login := "run `" + progName + " login`"
	var lre *tokensource.LoginRequiredError
	var ue usageError
	var une *unrenewableError
	switch {
	case errors.As(err, &une):
		return une.Error() + " — " + login, exitLoginFirst
	case errors.As(err, &ue):
		return ue.Error(), exitUsage
	case errors.As(err, &lre):
		switch lre.Reason {
		case tokensource.ReasonNoToken, tokensource.ReasonLoggedOut:
			return "you are not logged in — " + login, exitLoginFirst
		case tokensource.ReasonRejected:
			return "your login is no longer valid (the provider refused the refresh token: revoked, expired or replaced) — " + login, exitLoginFirst
		default:
			return "your login has expired (" + lre.Reason.String() + ") — " + login, exitLoginFirst
		}
	case errors.Is(err, context.Canceled):
		return "interrupted", exitFailure
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: " + err.Error(), exitFailure
	case errors.Is(err, client.ErrAccessDenied):
		return "the login was denied at the provider", exitFailure
	case errors.Is(err, client.ErrDeviceCodeExpired):
		return "the code expired before it was approved — run `" + progName + " login --device` again", exitFailure
	case errors.Is(err, client.ErrUnsupported):
		return "the provider does not support this (" + err.Error() + ")", exitFailure
	case errors.Is(err, client.ErrNotRevoked):
		return "logged out here, but the provider did not confirm the revocation; the tokens may stay valid there until they expire (" + err.Error() + ")", exitFailure
	case errors.Is(err, storage.ErrKeyringLocked):
		return "the OS keyring is locked: unlock it and try again, or use --store file", exitFailure
	case errors.Is(err, storage.ErrKeyringUnavailable):
		return "no OS keyring is available (" + err.Error() + "): use --store auto or --store file", exitFailure
	case errors.Is(err, storage.ErrWrongKey), errors.Is(err, storage.ErrCorrupt):
		return "the stored tokens cannot be read (" + err.Error() + "); `" + progName + " logout` deletes them, then " + login, exitFailure
	default:
		return err.Error(), exitFailure
	}
}
