package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
)

// The record file format, version 1. All integers are big-endian.
//
//	offset  size  field
//	0       8     magic "TKSTORE\x00"
//	8       2     header length H, nonce included: 44 (no KDF) or 70 (Argon2id)
//	10      4     CRC-32C of the header with this field left out
//	14      1     format version, 1
//	15      1     KDF: 0 the key is used as given, 1 Argon2id from a passphrase
//	16      8     key id: HMAC-SHA256(key, "tokenkeeper storage key id v1")[:8]
//	24      8     account digest: SHA-256(account key)[:8]
//	32      26    Argon2id only: time u32, memory KiB u32, threads u8,
//	              salt length u8 (16), salt
//	H-12    12    AES-GCM nonce, random for every write
//	H       ...   AES-256-GCM ciphertext and 16-byte tag of the JSON record,
//	              with the header followed by the account key as
//	              associated data
//
// The GCM tag authenticates everything. The CRC, key id and account digest
// only tell failures apart: a damaged header is ErrCorrupt, a file of
// another key is ErrWrongKey, a file of another account is ErrCorrupt
// saying so, before any key is derived.
const (
	fileMagic      = "TKSTORE\x00"
	fileVersion    = 1
	fixedHeaderLen = 32
	argonParamsLen = 4 + 4 + 1 + 1 + saltSize
	nonceLen       = 12
	tagLen         = 16
	maxFileSize    = 1 << 20 // records are a few KiB; anything larger is not ours
)

// fileHeader is the parsed header of a record file.
type fileHeader struct {
	raw     []byte // the header bytes, nonce included
	kdf     kdfKind
	keyID   [keyIDLen]byte
	account [8]byte
	params  kdfParams // kdf == kdfArgon2id
	nonce   []byte
}

func headerLen(kdf kdfKind) int {
	if kdf == kdfArgon2id {
		return fixedHeaderLen + argonParamsLen + nonceLen
	}
	return fixedHeaderLen + nonceLen
}

func accountDigest(account string) [8]byte {
	sum := sha256.Sum256([]byte(account))
	return [8]byte(sum[:8])
}

// headerCRC is the CRC-32C of header h without its checksum field.
func headerCRC(h []byte) uint32 {
	table := crc32.MakeTable(crc32.Castagnoli) // cached by hash/crc32
	c := crc32.Update(0, table, h[:10])
	return crc32.Update(c, table, h[14:])
}

// parseHeader parses and checks the header of data, a whole record file,
// without deriving any key. limits caps Argon2id parameters.
func parseHeader(data []byte, limits kdfLimits) (*fileHeader, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than any record", ErrCorrupt, len(data))
	}
	if m := data[:min(len(data), len(fileMagic))]; string(m) != fileMagic[:len(m)] {
		return nil, fmt.Errorf("%w: not a tokenkeeper record file", ErrCorrupt)
	}
	if len(data) < len(fileMagic)+2 {
		return nil, fmt.Errorf("%w: truncated at %d bytes", ErrCorrupt, len(data))
	}
	n := int(binary.BigEndian.Uint16(data[8:10]))
	if n < fixedHeaderLen+nonceLen {
		return nil, fmt.Errorf("%w: header length %d", ErrCorrupt, n)
	}
	if len(data) < n+tagLen {
		return nil, fmt.Errorf("%w: truncated at %d bytes", ErrCorrupt, len(data))
	}
	h := &fileHeader{raw: data[:n:n]}
	if binary.BigEndian.Uint32(data[10:14]) != headerCRC(h.raw) {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if v := data[14]; v != fileVersion {
		return nil, fmt.Errorf("%w: version %d, this program reads version %d", ErrUnsupportedVersion, v, fileVersion)
	}
	h.kdf = kdfKind(data[15])
	if h.kdf != kdfNone && h.kdf != kdfArgon2id {
		return nil, fmt.Errorf("%w: unknown key derivation %d", ErrCorrupt, h.kdf)
	}
	if n != headerLen(h.kdf) {
		return nil, fmt.Errorf("%w: header length %d for key derivation %d", ErrCorrupt, n, h.kdf)
	}
	h.keyID = [keyIDLen]byte(data[16:24])
	h.account = [8]byte(data[24:32])
	if h.kdf == kdfArgon2id {
		p := data[fixedHeaderLen:]
		if p[9] != saltSize {
			return nil, fmt.Errorf("%w: salt length %d", ErrCorrupt, p[9])
		}
		h.params = kdfParams{
			time:      binary.BigEndian.Uint32(p[0:4]),
			memoryKiB: binary.BigEndian.Uint32(p[4:8]),
			threads:   p[8],
			salt:      [saltSize]byte(p[10 : 10+saltSize]),
		}
		if err := limits.check(h.params); err != nil {
			return nil, err
		}
	}
	h.nonce = data[n-nonceLen : n]
	return h, nil
}

// seal encrypts plaintext as the record file of account.
func (k *fileKey) seal(account string, plaintext []byte) ([]byte, error) {
	key, id, p := k.raw, k.id, kdfParams{}
	if k.kind == kdfArgon2id {
		p = k.writeParams()
		key, id = k.derive(p)
	}
	n := headerLen(k.kind)
	out := make([]byte, n, n+len(plaintext)+tagLen)
	copy(out, fileMagic)
	binary.BigEndian.PutUint16(out[8:10], uint16(n))
	out[14] = fileVersion
	out[15] = byte(k.kind)
	copy(out[16:24], id[:])
	ad := accountDigest(account)
	copy(out[24:32], ad[:])
	if k.kind == kdfArgon2id {
		q := out[fixedHeaderLen:]
		binary.BigEndian.PutUint32(q[0:4], p.time)
		binary.BigEndian.PutUint32(q[4:8], p.memoryKiB)
		q[8] = p.threads
		q[9] = saltSize
		copy(q[10:], p.salt[:])
	}
	if _, err := rand.Read(out[n-nonceLen : n]); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	binary.BigEndian.PutUint32(out[10:14], headerCRC(out))
	nonce := [nonceLen]byte(out[n-nonceLen : n])
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce[:], plaintext, additionalData(out, account)), nil
}

// open decrypts data, the record file of account, and returns the
// plaintext. Its errors match ErrCorrupt, ErrUnsupportedVersion or
// ErrWrongKey.
func (k *fileKey) open(account string, data []byte) ([]byte, error) {
	h, err := parseHeader(data, k.limits)
	if err != nil {
		return nil, err
	}
	if h.account != accountDigest(account) {
		return nil, fmt.Errorf("%w: the file belongs to another account (was it copied or renamed?)", ErrCorrupt)
	}
	if h.kdf != k.kind {
		if h.kdf == kdfArgon2id {
			return nil, fmt.Errorf("%w: the file was encrypted with a passphrase, this store has a key", ErrWrongKey)
		}
		return nil, fmt.Errorf("%w: the file was encrypted with a key (id %x), this store has a passphrase", ErrWrongKey, h.keyID)
	}
	key, id := k.raw, k.id
	if k.kind == kdfArgon2id {
		key, id = k.derive(h.params)
	}
	if id != h.keyID {
		if k.kind == kdfArgon2id {
			return nil, fmt.Errorf("%w: the file was encrypted with another passphrase", ErrWrongKey)
		}
		return nil, fmt.Errorf("%w: the file was encrypted with key id %x, this store's key has id %s",
			ErrWrongKey, h.keyID, hex.EncodeToString(id[:]))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, h.nonce, data[len(h.raw):], additionalData(h.raw, account))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (the file was modified or damaged)", ErrCorrupt)
	}
	if k.kind == kdfArgon2id {
		k.adopt(h.params)
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// additionalData binds a record to its header and account key. The header
// is self-delimiting, so the concatenation is unambiguous.
func additionalData(header []byte, account string) []byte {
	ad := make([]byte, 0, len(header)+len(account))
	ad = append(ad, header...)
	return append(ad, account...)
}
