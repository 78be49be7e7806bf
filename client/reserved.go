package client

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// ReservedKeyPrefix starts the store keys the client keeps for itself,
// beside the accounts' records: the refresh tokens known dead
// ("tokenkeeper:dead:" and the account key) and the cached discovery
// document ("tokenkeeper:discovery:" and the issuer). They are encrypted
// like any record of the store. [Client.Account] refuses such keys and
// [Client.Accounts] leaves them out.
const ReservedKeyPrefix = "tokenkeeper:"

const (
	deadPrefix = ReservedKeyPrefix + "dead:"
	deadType   = "tokenkeeper-dead-refresh-tokens/1" // TokenType of a dead-token record
	maxDead    = 32                                  // fingerprints kept per account, newest last
)

// isReserved reports whether key is one of the client's own keys.
func isReserved(key string) bool { return strings.HasPrefix(key, ReservedKeyPrefix) }

// deadBook remembers, per account, fingerprints of the refresh tokens
// that must never be presented to the provider again: every refresh
// token whose record was deleted from the store, which happens when the
// provider declared it dead (package tokensource deletes the rejected
// record) and on logout (it was revoked, or the user logged out), and
// every refresh token Account.Seed stored (it is seeded at most once).
//
// A fingerprint is HMAC-SHA256 of the account key and the token under a
// random 32-byte salt kept in the same record; the token itself is never
// stored. The record lives in the Client's store under deadPrefix+key, as
// a storage.Token whose TokenType is deadType, IDToken the salt and
// AccessToken the fingerprints (fields that every store encrypts and
// every printer redacts). Read-modify-write is serialised within the
// process; two processes marking the same account at once may lose one
// fingerprint.
type deadBook struct {
	store storage.Store
	log   *slog.Logger
	mu    sync.Mutex // serialises read-modify-write of the records
}

// load returns the salt and fingerprints of key's record; a missing or
// unreadable record gives a nil salt.
func (d *deadBook) load(ctx context.Context, key string) (salt []byte, fps []string, err error) {
	rec, err := d.store.Load(ctx, deadPrefix+key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	salt, err = base64.RawStdEncoding.DecodeString(rec.IDToken)
	if rec.TokenType != deadType || err != nil || len(salt) != 32 {
		return nil, nil, errors.New("client: the record of dead refresh tokens is malformed")
	}
	return salt, strings.Fields(rec.AccessToken), nil
}

func fingerprint(salt []byte, key, refreshToken string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write([]byte(refreshToken))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// isDead reports whether refreshToken was marked dead for key. A record
// that cannot be read is an error: the caller must not present the token.
func (d *deadBook) isDead(ctx context.Context, key, refreshToken string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	salt, fps, err := d.load(ctx, key)
	if err != nil || salt == nil {
		return false, err
	}
	fp := fingerprint(salt, key, refreshToken)
	return slices.ContainsFunc(fps, func(s string) bool { return hmac.Equal([]byte(s), []byte(fp)) }), nil
}

// markDead adds refreshToken's fingerprint to key's record.
func (d *deadBook) markDead(ctx context.Context, key, refreshToken string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	salt, fps, err := d.load(ctx, key)
	if err != nil || salt == nil { // a malformed record is replaced
		salt = make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return fmt.Errorf("client: salt: %w", err)
		}
		fps = nil
	}
	fp := fingerprint(salt, key, refreshToken)
	if slices.Contains(fps, fp) {
		return nil
	}
	fps = append(fps, fp)
	if len(fps) > maxDead {
		fps = fps[len(fps)-maxDead:]
	}
	return d.store.Save(ctx, deadPrefix+key, &storage.Token{
		TokenType:   deadType,
		IDToken:     base64.RawStdEncoding.EncodeToString(salt),
		AccessToken: strings.Join(fps, " "),
	})
}

// bookStore is the Client's store as the accounts' token sources see it:
// before a record with a refresh token is deleted, its fingerprint is
// added to the deadBook. Build it with wrapStore, which keeps the store's
// Locker and LeaseLocker.
type bookStore struct {
	storage.Store
	book *deadBook
}

// Delete marks the refresh token of key's record dead, then deletes it.
// Failing to mark is logged; the delete is done all the same.
func (s *bookStore) Delete(ctx context.Context, key string) error {
	if !isReserved(key) {
		if rec, err := s.Store.Load(ctx, key); err == nil && rec.RefreshToken != "" {
			if err := s.book.markDead(ctx, key, rec.RefreshToken); err != nil {
				s.book.log.Warn("client: recording a dead refresh token failed", slog.String("key", key), slog.String("error", err.Error()))
			}
		}
	}
	return s.Store.Delete(ctx, key)
}

// wrapStore returns st wrapped in a bookStore that implements what st
// implements of storage.Locker and storage.LeaseLocker.
func wrapStore(st storage.Store, book *deadBook) storage.Store {
	b := &bookStore{Store: st, book: book}
	l, isLocker := st.(storage.Locker)
	ll, isLease := st.(storage.LeaseLocker)
	switch {
	case isLocker && isLease:
		return struct {
			*bookStore
			storage.Locker
			storage.LeaseLocker
		}{b, l, ll}
	case isLocker:
		return struct {
			*bookStore
			storage.Locker
		}{b, l}
	case isLease:
		return struct {
			*bookStore
			storage.LeaseLocker
		}{b, ll}
	}
	return b
}
