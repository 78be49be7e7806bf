package storage

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// readEntry reads key's entry from the keyring; its fk is nil if there is
// none.
func (k *Keyring) readEntry(ctx context.Context, key string) (keyEntry, error) {
	v, err := k.call(ctx, "get", key, func() (string, error) { return k.backend.Get(k.service, key) })
	if errors.Is(err, ErrNotFound) {
		return keyEntry{}, nil
	}
	if err != nil {
		return keyEntry{}, err
	}
	e, err := parseKeyringValue(v)
	if err != nil {
		return keyEntry{}, fmt.Errorf("storage: keyring: %q: %w", key, err)
	}
	return e, nil
}

// createKey creates key's file key in the keyring. The caller holds
// lockEntry and found no entry, so processes creating the same account's
// key all end with the same key.
func (k *Keyring) createKey(ctx context.Context, key string) (keyEntry, error) {
	if err := k.noKey(key); !errors.Is(err, ErrNotFound) {
		return keyEntry{}, err // a record exists without a key: never replace it
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return keyEntry{}, fmt.Errorf("storage: keyring: %w", err)
	}
	if err := k.writeEntry(ctx, key, formatKeyringValue(raw, 0)); err != nil {
		return keyEntry{}, err
	}
	fk, err := KeyFromBytes(raw)
	if err != nil {
		return keyEntry{}, err
	}
	return keyEntry{fk: fk.k}, nil
}

// writeEntry sets key's entry to value and reads it back.
func (k *Keyring) writeEntry(ctx context.Context, key, value string) error {
	if _, err := k.call(ctx, "set", key, func() (string, error) { return "", k.backend.Set(k.service, key, value) }); err != nil {
		return err
	}
	got, err := k.call(ctx, "read back", key, func() (string, error) { return k.backend.Get(k.service, key) })
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(value)) != 1 {
		return fmt.Errorf("storage: keyring: %q: the key read back differs from the key written", key)
	}
	return nil
}

// Keyring values: the prefix, the file key in unpadded base64 and, since
// v2, ":" and the newest version saved under it in decimal.
const (
	keyringValuePrefix   = "tokenkeeper-file-key-v2:"
	keyringValuePrefixV1 = "tokenkeeper-file-key-v1:"
)

func formatKeyringValue(raw []byte, version uint64) string {
	return keyringValuePrefix + base64.RawStdEncoding.EncodeToString(raw) + ":" + strconv.FormatUint(version, 10)
}

func parseKeyringValue(v string) (keyEntry, error) {
	var e keyEntry
	enc, ok := strings.CutPrefix(v, keyringValuePrefixV1)
	if !ok {
		var mark string
		if enc, ok = strings.CutPrefix(v, keyringValuePrefix); ok {
			enc, mark, ok = strings.Cut(enc, ":")
		}
		var err error
		if e.mark, err = strconv.ParseUint(mark, 10, 64); !ok || err != nil {
			return keyEntry{}, fmt.Errorf("%w: the keyring entry is not a tokenkeeper file key", ErrCorrupt)
		}
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil || len(raw) != KeySize {
		return keyEntry{}, fmt.Errorf("%w: the keyring entry holds a malformed file key", ErrCorrupt)
	}
	fk, err := KeyFromBytes(raw)
	e.fk = fk.k
	return e, err
}
