package nodeop

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// deviceAuth starts a device authorization for clientID; form adds the
// client authentication.
func deviceAuth(t *testing.T, s *Server, form url.Values) answer {
	t.Helper()
	form.Set("scope", "openid offline_access")
	a := send(t, http.MethodPost, s.Endpoints().DeviceAuthorization, form, nil)
	if a.status != http.StatusOK || a.str("device_code") == "" || a.str("user_code") == "" {
		t.Fatalf("device authorization: got %d %v", a.status, a)
	}
	if a.json["interval"] != float64(1) || a.str("verification_uri") != s.Issuer()+"/device" {
		t.Errorf("interval %v, verification_uri %q; want 1 and the issuer's /device", a.json["interval"], a.str("verification_uri"))
	}
	return a
}

// TestDeviceDPoP: the public DPoP client's device authorization, approved
// on the provider's pages, yields DPoP tokens to a poll with a proof.
func TestDeviceDPoP(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	da := deviceAuth(t, s, url.Values{"client_id": {NativeDPoPClientID}})
	poll := url.Values{"grant_type": {deviceGrant}, "client_id": {NativeDPoPClientID}, "device_code": {da.str("device_code")}}
	p := newProver(t)
	if _, a := p.sendDPoP(t, http.MethodPost, s.Endpoints().Token, fixed(poll), ""); a.str("error") != "authorization_pending" {
		t.Fatalf("poll before approval: got %d %v, want authorization_pending", a.status, a)
	}
	if err := s.ApproveDevice(t.Context(), da.str("user_code"), "alice", true); err != nil {
		t.Fatal(err)
	}
	if a := send(t, http.MethodPost, s.Endpoints().Token, poll, nil); a.status != http.StatusBadRequest || a.str("error") != "invalid_grant" {
		t.Errorf("poll without a proof: got %d %v, want 400 invalid_grant", a.status, a)
	}
	_, a := p.sendDPoP(t, http.MethodPost, s.Endpoints().Token, fixed(poll), "")
	if a.status != http.StatusOK || a.str("token_type") != "DPoP" || a.str("refresh_token") == "" {
		t.Fatalf("poll after approval: got %d %v, want DPoP tokens with a refresh token", a.status, a)
	}
	if err := s.ApproveDevice(t.Context(), da.str("user_code"), "alice", true); err == nil {
		t.Error("a used user code was approved again")
	}
}

// TestDeviceDeny: a denied device authorization fails the poll with
// access_denied; an unknown user cannot approve.
func TestDeviceDeny(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	auth := func() url.Values {
		f := url.Values{}
		if err := s.ClientAssertion().AuthenticateForm(f, ServiceClientID, s.Issuer(), time.Now()); err != nil {
			t.Fatal(err)
		}
		return f
	}
	// A user code can be confirmed once, even when the login then fails.
	if err := s.ApproveDevice(t.Context(), deviceAuth(t, s, auth()).str("user_code"), "mallory", true); !errors.Is(err, ErrLoginRejected) {
		t.Fatalf("unknown user: got %v, want ErrLoginRejected", err)
	}
	da := deviceAuth(t, s, auth())
	if err := s.ApproveDevice(t.Context(), da.str("user_code"), "bob", false); err != nil {
		t.Fatal(err)
	}
	poll := auth()
	poll.Set("grant_type", deviceGrant)
	poll.Set("device_code", da.str("device_code"))
	if a := send(t, http.MethodPost, s.Endpoints().Token, poll, nil); a.str("error") != "access_denied" {
		t.Fatalf("poll after denial: got %d %v, want access_denied", a.status, a)
	}
	if err := s.ApproveDevice(t.Context(), "WRONG-CODE", "bob", true); err == nil {
		t.Error("an unknown user code was accepted")
	}
}
