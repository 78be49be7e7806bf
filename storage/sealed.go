package storage

import (
	"errors"
	"fmt"
)

// MaxSealedSize is the largest sealed record [SealRecord] returns and
// [OpenRecord] accepts: 1 MiB, the limit of a record file.
const MaxSealedSize = maxFileSize

// SealRecord encrypts t for account with k in the encrypted file format
// that [File] writes (AES-256-GCM, the account key in the associated data,
// versioned), for stores that keep records elsewhere, such as the Redis
// store in the module github.com/tokenkeeper/tokenkeeper/storage/redis.
// The result holds no readable token. It returns an error matching
// [ErrTooBig] when the sealed record would exceed [MaxSealedSize]. A zero
// k or a nil t is an error. SealRecord is safe for concurrent use; it
// does not retain t.
func SealRecord(k FileKey, account string, t *Token) ([]byte, error) {
	if k.k == nil {
		return nil, errors.New("storage: seal: the zero FileKey")
	}
	if t == nil {
		return nil, errors.New("storage: seal: nil token")
	}
	plain, err := encodeRecord(t, "")
	if err != nil {
		return nil, fmt.Errorf("storage: seal: %w", err)
	}
	data, err := k.k.seal(account, plain)
	if err != nil {
		return nil, fmt.Errorf("storage: seal: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("storage: seal: %w: %d bytes encrypted, more than the %d a record may hold (the ID token alone is %d bytes)",
			ErrTooBig, len(data), maxFileSize, len(t.IDToken))
	}
	return data, nil
}

// OpenRecord decrypts data, a record [SealRecord] sealed for account, and
// returns the Token. Its errors match [ErrWrongKey] (sealed with another
// key or passphrase), [ErrCorrupt] (damaged, too big, not a record, or
// sealed for another account) or [ErrUnsupportedVersion], as [File]'s do,
// and never hold a key or token. A zero k is an error. OpenRecord is safe
// for concurrent use; it does not retain data.
func OpenRecord(k FileKey, account string, data []byte) (*Token, error) {
	if k.k == nil {
		return nil, errors.New("storage: open: the zero FileKey")
	}
	plain, err := k.k.open(account, data)
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	t, _, err := decodeRecord(plain)
	if err != nil {
		return nil, fmt.Errorf("storage: open: %w", err)
	}
	return t, nil
}
