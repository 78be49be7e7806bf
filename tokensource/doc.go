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
// See RFC 6749 §6 (refreshing an access token) and §5.2 (error responses).
package tokensource
