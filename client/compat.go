package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// retrieveError returns what code written for golang.org/x/oauth2 expects
// from errors.As(err, **oauth2.RetrieveError): the provider's status,
// error code, description and URI. Response carries only the status (no
// header, no body) and Body is nil, so nothing the server echoed (a token,
// the client secret) is copied into it.
func retrieveError(status int, code, desc, uri string) *oauth2.RetrieveError {
	return &oauth2.RetrieveError{
		Response:         &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status))},
		ErrorCode:        code,
		ErrorDescription: desc,
		ErrorURI:         uri,
	}
}

// As lets errors.As(err, **oauth2.RetrieveError) find an EndpointError
// that got an answer from the provider (StatusCode not 0), as
// golang.org/x/oauth2 reports failed requests: Response holds only the
// status, Body is empty, ErrorCode and ErrorDescription are Code and
// Description.
func (e *EndpointError) As(target any) bool {
	p, ok := target.(**oauth2.RetrieveError)
	if !ok || e.StatusCode == 0 {
		return false
	}
	*p = retrieveError(e.StatusCode, e.Code, e.Description, "")
	return true
}

// compatError wraps an error holding a [*tokensource.Error] from an answer
// of the token endpoint so that errors.As(err, **oauth2.RetrieveError)
// also finds it (see retrieveError). Its message is the wrapped error's;
// errors.Is and errors.As see through it.
type compatError struct{ err error }

// retrieveCompat returns err wrapped in a compatError when a
// *tokensource.Error with an HTTP status is in its chain, else err.
func retrieveCompat(err error) error {
	var te *tokensource.Error
	if err == nil || !errors.As(err, &te) || te.StatusCode == 0 {
		return err
	}
	var ce *compatError
	if errors.As(err, &ce) {
		return err
	}
	return &compatError{err: err}
}

func (e *compatError) Error() string { return e.err.Error() }
func (e *compatError) Unwrap() error { return e.err }

// Format implements fmt.Formatter: every verb prints Error.
func (e *compatError) Format(f fmt.State, verb rune) { fmt.Fprint(f, e.Error()) }

// As builds the *oauth2.RetrieveError from the wrapped *tokensource.Error.
func (e *compatError) As(target any) bool {
	p, ok := target.(**oauth2.RetrieveError)
	if !ok {
		return false
	}
	var te *tokensource.Error
	if !errors.As(e.err, &te) {
		return false
	}
	*p = retrieveError(te.StatusCode, te.Code, te.Description, te.URI)
	return true
}

// compatSource is the account's token source as its HTTP client's
// transport sees it: the same tokens, with errors from the token endpoint
// also matching *oauth2.RetrieveError (see retrieveCompat).
type compatSource struct{ src *tokensource.Source }

func (s compatSource) Token() (*oauth2.Token, error) {
	t, err := s.src.Token()
	return t, retrieveCompat(err)
}

func (s compatSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	t, err := s.src.TokenContext(ctx)
	return t, retrieveCompat(err)
}

func (s compatSource) RefreshRejected(ctx context.Context, rejected *oauth2.Token) (*oauth2.Token, error) {
	t, err := s.src.RefreshRejected(ctx, rejected)
	return t, retrieveCompat(err)
}
