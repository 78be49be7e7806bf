// Package tokensource keeps an account's OAuth 2.0 access token fresh.
//
// A [Source] is an [oauth2.TokenSource] built on a [storage.Store]. It
// hands out the cached access token without locking, allocating or doing
// I/O while the token is fresh; refreshes it once, however many goroutines
// ask, in the background before it expires; serialises refreshes between
// processes when the store is also a [storage.Locker]; saves every rotated
// refresh token before any caller sees the new access token; and reports
// a refresh token the provider no longer accepts as [ErrLoginRequired].
//
// Errors from the token endpoint are [*Error] values: Code, Description
// and StatusCode say what the provider answered, and Temporary reports
// whether trying again later may succeed. Every "log in again" case
// (provider rejected the refresh token, nothing stored, session too old,
// refresh token expired) is a [*LoginRequiredError] that matches
// errors.Is(err, ErrLoginRequired) and carries its [Reason].
//
// # Use
//
// [New] makes a Source from a [Config]: the token endpoint and client
// credentials (an [oauth2.Config]), the [storage.Store] and the account's
// key in it. After an interactive login (package client runs one, or your
// own code does), [Source.SetToken] stores its tokens; the next start of
// the program finds them in the store. Put the Source in package
// transport's Transport for an *http.Client, or pass it wherever an
// [oauth2.TokenSource] goes. [Config.OnEvent] reports every refresh,
// rotation and failure as an [Event]; [Source.Close] stops the background
// refresh. [Exchange] sends a single token request, for grants the Source
// does not run itself.
//
// See RFC 6749 §6 (refreshing an access token) and §5.2 (error responses).
package tokensource
