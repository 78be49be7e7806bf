package transport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// String describes t by the types of Source and Base and the rules it
// applies (whether Rejected and Allow are set, Hosts, AllowInsecureHTTP),
// never by their contents: a Source may hold a token, a Base credentials,
// and a description must not reveal them.
func (t Transport) String() string {
	return fmt.Sprintf("transport.Transport{Source:%T Base:%T Rejected:%t Hosts:%q Allow:%t AllowInsecureHTTP:%t}",
		t.Source, t.Base, t.Rejected != nil, t.Hosts, t.Allow != nil, t.AllowInsecureHTTP)
}

// Format implements [fmt.Formatter]: every verb, flags included (%v, %+v,
// %#v, %s, %q, %x, ...), prints [Transport.String], for a Transport, a
// *Transport (nil prints "<nil>") and one nested in another value. It has a
// value receiver so that a Transport value has it too.
func (t Transport) Format(f fmt.State, verb rune) { io.WriteString(f, t.String()) }

// MarshalJSON implements [encoding/json.Marshaler], so that JSON (and the
// [log/slog.JSONHandler]) gets the same description as
// [Transport.Format], never the fields of Source or Base.
func (t Transport) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<nil>" as is; an encoder that escapes HTML still escapes it
	err := enc.Encode(struct {
		Source, Base      string
		Rejected          bool
		Hosts             []string
		Allow             bool
		AllowInsecureHTTP bool
	}{
		Source:            fmt.Sprintf("%T", t.Source),
		Base:              fmt.Sprintf("%T", t.Base),
		Rejected:          t.Rejected != nil,
		Hosts:             t.Hosts,
		Allow:             t.Allow != nil,
		AllowInsecureHTTP: t.AllowInsecureHTTP,
	})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}
