package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

const (
	accountsKey  = ReservedKeyPrefix + "accounts"
	accountsType = "tokenkeeper-accounts/1" // TokenType of the index record
)

// Accounts returns the keys of the accounts that have tokens in the
// store, sorted: the accounts this package logged in or seeded (it keeps
// an index of them in the store, under a key starting with
// [ReservedKeyPrefix], since [storage.File] and [storage.Keyring] cannot
// list their keys) and, when the store is a [storage.Lister], every key it
// lists. Reserved keys are left out, and so are keys whose record is gone
// (logged out, or the provider declared the refresh token dead). Pass a
// key to [Client.Account].
func (c *Client) Accounts(ctx context.Context) ([]string, error) {
	keys, err := c.index(ctx)
	if err != nil {
		return nil, err
	}
	if l, ok := c.store.(storage.Lister); ok {
		more, err := l.Keys(ctx)
		if err != nil {
			return nil, fmt.Errorf("client: listing the store's keys: %w", err)
		}
		keys = append(keys, more...)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	out := keys[:0]
	for _, k := range keys {
		if isReserved(k) {
			continue
		}
		_, err := c.store.Load(ctx, k)
		switch {
		case err == nil:
			out = append(out, k)
		case !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("client: reading account %q: %w", k, err)
		}
	}
	return out, nil
}

// index returns the keys in the client's index of accounts.
func (c *Client) index(ctx context.Context) ([]string, error) {
	rec, err := c.store.Load(ctx, accountsKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: reading the index of accounts: %w", err)
	}
	var keys []string
	if rec.TokenType != accountsType || json.Unmarshal([]byte(rec.AccessToken), &keys) != nil {
		return nil, errors.New("client: the index of accounts is malformed")
	}
	return keys, nil
}

// indexSet adds key to the index of accounts (add) or removes it.
// Failures are logged: the index only serves Accounts.
func (c *Client) indexSet(ctx context.Context, key string, add bool) {
	c.indexMu.Lock()
	defer c.indexMu.Unlock()
	keys, err := c.index(ctx)
	if err != nil {
		keys = nil // a malformed index is rebuilt
	}
	i := slices.Index(keys, key)
	switch {
	case add && i >= 0, !add && i < 0:
		return
	case add:
		keys = append(keys, key)
	default:
		keys = slices.Delete(keys, i, i+1)
	}
	b, _ := json.Marshal(keys)
	if err := c.store.Save(ctx, accountsKey, &storage.Token{TokenType: accountsType, AccessToken: string(b)}); err != nil {
		c.log.Warn("client: updating the index of accounts failed", slog.String("key", key), slog.String("error", err.Error()))
	}
}
