package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

// fileRecord is the JSON form of a [Token] inside a record file. Its field
// names are the format, independent of Token's Go field names.
type fileRecord struct {
	AccessToken   string    `json:"access_token,omitempty"`
	TokenType     string    `json:"token_type,omitempty"`
	RefreshToken  string    `json:"refresh_token,omitempty"`
	IDToken       string    `json:"id_token,omitempty"`
	Scope         string    `json:"scope,omitempty"`
	Expiry        time.Time `json:"expiry,omitzero"`
	RefreshExpiry time.Time `json:"refresh_expiry,omitzero"`
	AuthTime      time.Time `json:"auth_time,omitzero"`
	DPoPKey       string    `json:"dpop_key,omitempty"`
	Version       uint64    `json:"version,omitempty"`

	// Lineage names the chain of records that one Save started and later
	// Saves continued, a random id; see [File]. Records written before it
	// existed have none, and programs that predate it ignore it.
	Lineage string `json:"lineage,omitempty"`
}

func encodeRecord(t *Token, lineage string) ([]byte, error) {
	return json.Marshal(fileRecord{
		AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken,
		IDToken: t.IDToken, Scope: t.Scope, Expiry: t.Expiry, RefreshExpiry: t.RefreshExpiry,
		AuthTime: t.AuthTime, DPoPKey: t.DPoPKey, Version: t.Version, Lineage: lineage,
	})
}

// decodeRecord parses a decrypted record and returns it with its lineage
// ("" for records written before lineages). A record that decrypts but
// does not parse was not written by this package: ErrCorrupt. The JSON
// error is not quoted, since it could hold a piece of a token.
func decodeRecord(b []byte) (*Token, string, error) {
	var r fileRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, "", fmt.Errorf("%w: the decrypted record is not valid JSON", ErrCorrupt)
	}
	return &Token{
		AccessToken: r.AccessToken, TokenType: r.TokenType, RefreshToken: r.RefreshToken,
		IDToken: r.IDToken, Scope: r.Scope, Expiry: r.Expiry, RefreshExpiry: r.RefreshExpiry,
		AuthTime: r.AuthTime, DPoPKey: r.DPoPKey, Version: r.Version,
	}, r.Lineage, nil
}
