package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the record file decoder with a raw
// key and a passphrase key. It must never panic, allocate without bound
// or return an untyped error, and only files this package sealed may
// decode. With fixCRC the header checksum is recomputed first, so that the
// fuzzer gets past it to the version, KDF and parameter checks.
func FuzzDecode(f *testing.F) {
	rawK, err := KeyFromBytes(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	passK := passKey(f, testPassphrase)
	keys := []*fileKey{rawK.k, passK.k}
	for _, k := range keys {
		plain, _ := encodeRecord(testToken(3, 100), "")
		valid, err := k.seal("acct", plain)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(valid, false)
		for _, n := range []int{0, 1, 8, 9, 10, 14, 31, 32, headerLen(k.kind), headerLen(k.kind) + tagLen, len(valid) - 1} {
			f.Add(valid[:n], false)
		}
		for _, at := range []int{0, 9, 14, 15, 16, 24, fixedHeaderLen + 4, len(valid) - 1} {
			b := bytes.Clone(valid)
			b[at] ^= 0xff
			f.Add(b, true)
		}
		huge := bytes.Clone(valid)
		binary.BigEndian.PutUint32(huge[fixedHeaderLen+4:], 0xffffffff)
		f.Add(huge, true)
	}
	f.Add([]byte("not a record file"), false)
	f.Add([]byte(fileMagic+"\xff\xff"), false)

	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC && len(data) >= 14 {
			if n := int(binary.BigEndian.Uint16(data[8:10])); n >= 14 && n <= len(data) {
				binary.BigEndian.PutUint32(data[10:14], headerCRC(data[:n]))
			}
		}
		for _, k := range keys {
			plain, err := k.open("acct", data)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrUnsupportedVersion) {
					t.Fatalf("got untyped error %v", err)
				}
				continue
			}
			if _, _, err := decodeRecord(plain); err != nil {
				t.Fatalf("a file that authenticates does not decode: %v", err)
			}
		}
	})
}
