package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// health is what /healthz reports, gathered from token events and API
// calls.
type health struct {
	account string

	mu               sync.Mutex // guards the fields below
	refreshes        int
	rotations        int
	lastRefresh      time.Time
	lastRefreshError string // the last failed refresh's error, "" after a success
	loginRequired    string // why the account must log in again, "" if it need not
	calls, failures  int
	lastCall         time.Time
	lastStatus       int
}

func (h *health) event(ev tokensource.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch ev.Kind {
	case tokensource.EventRefreshed, tokensource.EventAdopted:
		h.refreshes++
		h.lastRefresh = ev.Time
		h.lastRefreshError, h.loginRequired = "", ""
	case tokensource.EventRotated:
		h.rotations++
	case tokensource.EventRefreshFailed:
		h.lastRefreshError = ev.Err.Error()
	case tokensource.EventLoginRequired:
		h.loginRequired = ev.Err.Error()
	}
}

func (h *health) called(status int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	h.lastCall, h.lastStatus = time.Now(), status
	if err != nil || status >= 400 {
		h.failures++
	}
}

// report is the /healthz response. It holds no token.
type report struct {
	Status           string     `json:"status"` // ok, degraded, login_required
	Action           string     `json:"action,omitempty"`
	Account          string     `json:"account"`
	AccessExpiresIn  float64    `json:"access_token_expires_in_seconds"`
	RefreshToken     bool       `json:"refresh_token"`
	RefreshExpiresAt *time.Time `json:"refresh_token_expires_at,omitempty"`
	SessionAge       float64    `json:"session_age_seconds,omitempty"`
	Refreshes        int        `json:"refreshes"`
	Rotations        int        `json:"rotations"`
	LastRefresh      *time.Time `json:"last_refresh,omitempty"`
	LastRefreshError string     `json:"last_refresh_error,omitempty"`
	LoginRequired    string     `json:"login_required,omitempty"`
	APICalls         int        `json:"api_calls"`
	APIFailures      int        `json:"api_failures"`
	LastAPIStatus    int        `json:"last_api_status,omitempty"`
}

// healthz answers 200 while the account has a usable token (ok, or
// degraded: a refresh is failing but the current token still works) and
// 503 once it must log in again or has no valid token.
func (s *service) healthz(w http.ResponseWriter, r *http.Request) {
	rec, err := s.acct.TokenSource().Current(r.Context()) // never refreshes
	h := s.health
	h.mu.Lock()
	rep := report{
		Status: "ok", Account: h.account,
		Refreshes: h.refreshes, Rotations: h.rotations, LastRefreshError: h.lastRefreshError, LoginRequired: h.loginRequired,
		APICalls: h.calls, APIFailures: h.failures, LastAPIStatus: h.lastStatus,
	}
	if !h.lastRefresh.IsZero() {
		t := h.lastRefresh
		rep.LastRefresh = &t
	}
	h.mu.Unlock()

	now := time.Now()
	switch {
	case errors.Is(err, tokensource.ErrLoginRequired):
		rep.Status = "login_required"
		if rep.LoginRequired == "" {
			rep.LoginRequired = err.Error()
		}
	case err != nil:
		rep.Status, rep.LastRefreshError = "degraded", err.Error()
	default:
		rep.AccessExpiresIn = rec.Expiry.Sub(now).Seconds()
		rep.RefreshToken = rec.RefreshToken != ""
		if !rec.RefreshExpiry.IsZero() {
			rep.RefreshExpiresAt = &rec.RefreshExpiry
		}
		if !rec.AuthTime.IsZero() {
			rep.SessionAge = now.Sub(rec.AuthTime).Seconds()
		}
		if rep.LastRefreshError != "" {
			rep.Status = "degraded"
		}
	}
	code := http.StatusOK
	if rep.Status == "login_required" || (rep.Status == "degraded" && rep.AccessExpiresIn <= 0) {
		code = http.StatusServiceUnavailable
	}
	if rep.Status == "login_required" {
		rep.Action = "an operator must run `service -login`"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(rep)
}
