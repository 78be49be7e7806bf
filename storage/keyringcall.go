package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zalando/go-keyring"
)

// keyringBackend is the part of go-keyring a Keyring uses.
type keyringBackend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// osKeyring is the OS keyring through go-keyring. Its errors are
// classified by classifyOS, which knows the platform.
type osKeyring struct{}

func (osKeyring) Get(service, user string) (string, error) {
	if err := keyringAvailable(); err != nil {
		return "", err
	}
	v, err := keyring.Get(service, user)
	return v, classifyOS(err)
}

func (osKeyring) Set(service, user, password string) error {
	if err := keyringAvailable(); err != nil {
		return err
	}
	return classifyOS(keyring.Set(service, user, password))
}

func (osKeyring) Delete(service, user string) error {
	if err := keyringAvailable(); err != nil {
		return err
	}
	return classifyOS(keyring.Delete(service, user))
}

// call runs fn, one keyring operation op on account, in a goroutine bounded
// by k.timeout and ctx, and classifies its error. If the time runs out, fn
// goes on in the background and its result is discarded.
func (k *Keyring) call(ctx context.Context, op, account string, fn func() (string, error)) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("storage: keyring: %s %q: %w", op, account, err)
	}
	type result struct {
		v   string
		err error
	}
	done := make(chan result, 1) // buffered: a late answer never blocks
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	timer := time.NewTimer(k.timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("storage: keyring: %s %q: %w", op, account, classify(r.err))
		}
		return r.v, nil
	case <-ctx.Done():
		return "", fmt.Errorf("storage: keyring: %s %q: %w", op, account, ctx.Err())
	case <-timer.C:
		return "", fmt.Errorf("storage: keyring: %s %q: %w: no answer within %v (the call goes on in the background)",
			op, account, ErrKeyringTimeout, k.timeout)
	}
}

// classify maps go-keyring's portable errors to this package's.
func classify(err error) error {
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("%w: %w", ErrKeyringTooBig, err)
	case errors.Is(err, keyring.ErrUnsupportedPlatform):
		return fmt.Errorf("%w: %w", ErrKeyringUnavailable, err)
	}
	return err
}
