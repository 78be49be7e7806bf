package tokensource

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// panicError replaces a panic in user code that a refresh calls (a
// Store's Save or Delete, Config.CheckRefresh), so that the refresh can
// treat it like the error that code could have returned. It keeps only the
// panic value's type: the value itself may hold a secret.
type panicError struct {
	what, typ string
}

func (e *panicError) Error() string { return e.what + " panicked (" + e.typ + ")" }

// guard calls fn, which calls user code named what, and returns a
// *panicError, after logging the stack, if that code panics.
func (s *Source) guard(what string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("tokensource: "+what+" panicked", slog.String("key", s.cfg.Key), slog.String("panic", fmt.Sprintf("%T", r)), slog.String("stack", string(debug.Stack())))
			err = &panicError{what: what, typ: fmt.Sprintf("%T", r)}
		}
	}()
	return fn()
}
