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
// # What a Source guarantees
//
// One scheduler decides every next attempt. A failed attempt (a token
// request, or the store's lock or read before it) moves it one back-off
// step: 250 ms doubling up to a minute, plus up to a quarter more at
// random so that replicas that failed together spread out, and never less
// than the server's Retry-After (honoured up to an hour). While the token
// is still valid a step is shortened to half its remaining life, never
// below Retry-After. The same schedule serves callers, the background
// refresh and retried saves: however many callers there are, the token
// endpoint sees at most one request per step per account and process.
// Callers without a valid token that arrive during a back-off get the last
// error at once. With an expired token, no caller and a failing endpoint,
// background attempts slow down to one a minute. A refresh itself makes up
// to three attempts, each at the next step, while its waiting budget
// lasts, and holds no lock between them.
//
// Hooks (Config.OnEvent and the logger) run after the waiting callers are
// released and outside every lock; OnEvent may call the Source, Close
// included. Config.CheckRefresh runs inside the refresh: calls back into
// the Source with its context fail with [ErrReentrant].
//
// Every write happens under the store's lock (when the store is a
// [storage.Locker]) and gives the record a Version above the stored one;
// a login's Version is also at least the current time in microseconds.
// A Source never adopts a record with a lower Version than its own. Close
// saves a record whose save failed only if the store holds nothing newer,
// and never after Forget. A Source whose stored record vanished takes the
// account as logged out, and never writes it back.
//
// Waiting and requests have separate budgets (see Config.RefreshTimeout):
// once a request is sent, its answer gets a full RefreshTimeout to arrive
// and be saved. An answer that carries a new refresh token gets it saved
// even if the rest of the answer is refused. No [Error], error string,
// event or log line holds a token or a credential: Body and Header are
// scrubbed of what the request and the answer carried.
//
// After a login became required, calls return that error at once, and
// the Source looks in the store for a new login at most once a second.
// The timer holds the Source weakly: a Source dropped without Close is
// collected.
//
// # How token-endpoint failures are classified
//
//	answer                                          result
//	any 5xx, 408, 429 (whatever the error code),    temporary *Error: retried on the
//	  temporarily_unavailable, server_error,          schedule, refresh token kept
//	  network failure, timeout
//	4xx invalid_grant                               ErrLoginRequired (ReasonRejected);
//	4xx invalid_request on a refresh-token grant      the dead record deleted only if the
//	  (Dex's answer for a spent token)                store still holds it at its Version
//	invalid_client, unauthorized_client             *Error matching ErrInvalidClient: not
//	                                                  temporary, not login required, asked
//	                                                  again only on the back-off schedule
//	other 4xx codes, 3xx, malformed answers         *Error, not temporary, same schedule;
//	                                                  a rotated refresh token in a refused
//	                                                  200 is saved
//	use_dpop_nonce twice in a row (the DPoP          temporary *Error (the first one is
//	  server's nonce moved on again)                  retried at once with the nonce)
//	200 with Bearer tokens to a DPoP request        *Error matching ErrDPoPDowngrade, not
//	  (a downgrade)                                   temporary; the rotated refresh token
//	                                                  is saved, the tokens are not used
//	the store's lock or read fails (a shared        *StoreError, temporary (same schedule)
//	  store unreachable), or its lease was lost       unless the record is unusable (wrong
//	  before the request                              key, corrupt, rolled back): no
//	                                                  request is sent without the lock
//
// Before a dead refresh token is reported, the store is read once more: a
// newer record a peer saved while the request was out is adopted.
//
// # DPoP
//
// Tokens bound to a key with DPoP (RFC 9449) are refreshed with a proof
// made with that key: a record with a [storage.Token].DPoPKey (saved at
// login by package client, or made by a client-credentials Source with
// Config.DPoP) is redeemed with a proof, must come back as DPoP tokens
// (else [ErrDPoPDowngrade]), and keeps its key. The nonces servers ask
// for are remembered per origin by the key ([DPoPKey]); a Source is a
// transport.DPoPProver, so package transport sends its DPoP tokens with
// a proof for each request.
//
// See RFC 6749 §6 (refreshing an access token) and §5.2 (error responses).
package tokensource
