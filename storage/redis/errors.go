package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is wrapped by the errors of every method when Redis could
// not be reached, did not answer within [Config.Timeout], or said it
// cannot serve now (LOADING, READONLY, CLUSTERDOWN, MASTERDOWN, TRYAGAIN,
// BUSY). It is temporary: the same call may succeed later. Test for it
// with errors.Is.
var ErrUnavailable = errors.New("redisstore: Redis unavailable")

// temporaryReplies are the Redis error codes that mean "try again later".
var temporaryReplies = []string{"LOADING", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "BUSY", "MOVED", "ASK"}

// wrapErr turns the error of a Redis call made with a context derived from
// ctx into one of this package: ctx's own error when the caller gave up,
// ErrUnavailable for network failures and temporary replies, and for any
// other reply its code only (a reply might quote a key). what names the
// operation.
func wrapErr(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("redisstore: %s: %w", what, cerr)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !isNetErr(err) {
		code, _, _ := strings.Cut(rerr.Error(), " ")
		for _, c := range temporaryReplies {
			if code == c {
				return fmt.Errorf("redisstore: %s: %w: Redis answered %s", what, ErrUnavailable, code)
			}
		}
		return fmt.Errorf("redisstore: %s: Redis answered %s", what, code)
	}
	return fmt.Errorf("redisstore: %s: %w: %s", what, ErrUnavailable, netReason(err))
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded)
}

// netReason describes a failure without quoting anything Redis sent.
func netReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, redis.ErrClosed):
		return "client closed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "connection lost"
	case isNetErr(err):
		return "network error"
	}
	return fmt.Sprintf("%T", err)
}
