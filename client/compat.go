package client

import (
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
)

// Errors of the token endpoint (a *tokensource.Error) match
// *oauth2.RetrieveError themselves; an EndpointError of another endpoint
// does through its As.

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
