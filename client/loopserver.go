package client

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// callbackPath is the only path the loopback listener serves.
const callbackPath = "/callback"

// loopback is the listener of a native login: it hands each authorization
// response on callbackPath to the login and answers the browser with the
// login's outcome.
type loopback struct {
	redirectURI string
	srv         *http.Server
	served      chan struct{} // closed when Serve returned
	callbacks   chan callback // unbuffered: received only by the waiting login
	done        chan struct{} // closed by close: handlers stop waiting
}

// callback is one authorization response and where to send its outcome.
type callback struct {
	query url.Values
	reply chan error // buffered: the login never blocks on it
}

// startLoopback listens on 127.0.0.1:port, or [::1]:port when that fails,
// and serves until close.
func startLoopback(port int, log *slog.Logger) (*loopback, error) {
	p := strconv.Itoa(port)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", p))
	if err != nil {
		ln6, err6 := net.Listen("tcp", net.JoinHostPort("::1", p))
		if err6 != nil {
			return nil, fmt.Errorf("client: loopback listener: %w", errors.Join(err, err6))
		}
		ln = ln6
	}
	l := &loopback{
		redirectURI: "http://" + ln.Addr().String() + callbackPath,
		served:      make(chan struct{}),
		callbacks:   make(chan callback),
		done:        make(chan struct{}),
	}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(l.served)
		_ = l.srv.Serve(ln) // ErrServerClosed after close
	}()
	return l, nil
}

// close stops the listener, lets running handlers finish (they stop
// waiting for the login), closes every connection and waits for Serve to
// return.
func (l *loopback) close() {
	close(l.done)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		l.srv.Close()
	}
	<-l.served
}

func (l *loopback) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	if !l.hostAllowed(r.Host) { // DNS rebinding: a page of another origin resolved to 127.0.0.1
		http.Error(w, "unexpected Host header", http.StatusMisdirectedRequest)
		return
	}
	if r.URL.Path != callbackPath {
		http.NotFound(w, r) // favicon.ico and the like: keep waiting
		return
	}
	if r.Method != http.MethodGet {
		h.Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if !q.Has("state") && !q.Has("code") && !q.Has("error") {
		writePage(w, http.StatusBadRequest, page{Title: "Not an authorization response", Message: "This address only receives the login's answer."})
		return
	}
	cb := callback{query: q, reply: make(chan error, 1)}
	select {
	case l.callbacks <- cb:
	case <-l.done:
		writePage(w, http.StatusGone, page{Title: "Login already finished", Message: "You can close this window."})
		return
	case <-r.Context().Done():
		return
	}
	select {
	case err := <-cb.reply: // sent before the login returns, hence before done
		writeOutcome(w, err)
	case <-r.Context().Done():
	}
}

// hostAllowed reports whether host, a request's Host header, names the
// listener: its address and port as in the redirect URI, or localhost
// with that port. Any other name is a page of another site whose name
// resolves to the loopback address (DNS rebinding).
func (l *loopback) hostAllowed(host string) bool {
	u, err := url.Parse(l.redirectURI)
	if err != nil {
		return false
	}
	return strings.EqualFold(host, u.Host) || strings.EqualFold(host, net.JoinHostPort("localhost", u.Port()))
}

// writeOutcome shows the login's result. The provider's error, if any, is
// shown HTML-escaped; other errors are described in the application.
func writeOutcome(w http.ResponseWriter, err error) {
	var ce *CallbackError
	switch {
	case err == nil:
		writePage(w, http.StatusOK, page{Title: "Logged in", Message: "You are logged in. You can close this window and return to the application."})
	case errors.Is(err, ErrStateMismatch):
		writePage(w, http.StatusBadRequest, page{Title: "Not the expected login response", Message: "This response does not belong to the login in progress, which keeps waiting for its own."})
	case errors.As(err, &ce):
		writePage(w, http.StatusOK, page{Title: "Login failed", Message: "The provider refused the login:", Code: ce.Code, Detail: ce.Description})
	default:
		writePage(w, http.StatusBadRequest, page{Title: "Login failed", Message: "The login could not be completed. The application shows why."})
	}
}

// page is what the loopback listener shows; html/template escapes every
// field.
type page struct {
	Title, Message, Code, Detail string
}

// pageTemplate is parsed on first use, not at package initialisation:
// most runs of a program never show a page (a CLI answering from its
// cache), and every start would pay for the parse.
var pageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:sans-serif;margin:3em">
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Code}}<p><code>{{.Code}}</code>{{if .Detail}}: {{.Detail}}{{end}}</p>{{end}}
</body></html>
`))
})

func writePage(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTemplate().Execute(w, p) // the browser went away: nothing to do
}
