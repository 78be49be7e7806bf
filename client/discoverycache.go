package client

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper/storage"
)

// DefaultDiscoveryMaxAge is how long a cached discovery document is used
// before it is fetched again in the background, when the provider's
// answer has no Cache-Control max-age. A max-age is honoured between
// one minute and a week.
const DefaultDiscoveryMaxAge = 24 * time.Hour

const (
	discoveryPrefix = ReservedKeyPrefix + "discovery:"
	discoveryType   = "tokenkeeper-discovery/1" // TokenType of a cache record
)

// discoveryCache keeps the provider's discovery document and JWK set in
// the Client's store, under discoveryPrefix+issuer, so that the next New
// needs no request: a storage.Token whose TokenType is discoveryType,
// AccessToken the document (only the members the client reads, checked
// again when loaded), IDToken the JWK set, AuthTime when the document was
// fetched and Expiry when it is due for a refresh. It is encrypted like
// every record of the store.
type discoveryCache struct {
	store storage.Store
	key   string
	log   *slog.Logger

	mu      sync.Mutex // guards the fields below, and orders saves
	doc     []byte     // the document's JSON, nil until known
	jwks    []byte     // the JWK set's JSON, nil until fetched
	fetched time.Time
	maxAge  time.Duration
}

// save updates the cached document (doc not nil) or JWK set (jwks not
// nil) and writes the record. Failures are logged: the cache only spares
// requests.
func (d *discoveryCache) save(ctx context.Context, doc []byte, fetched time.Time, maxAge time.Duration, jwks []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if doc != nil {
		d.doc, d.fetched, d.maxAge = doc, fetched, maxAge
	}
	if jwks != nil {
		d.jwks = jwks
	}
	if d.doc == nil {
		return
	}
	rec := &storage.Token{TokenType: discoveryType, AccessToken: string(d.doc), IDToken: string(d.jwks), AuthTime: d.fetched, Expiry: d.fetched.Add(d.maxAge)}
	if err := d.store.Save(ctx, d.key, rec); err != nil {
		d.log.Debug("client: caching the discovery document failed", slog.String("error", err.Error()))
	}
}

// discoverCached sets the Client up from the cached discovery document,
// without any request, and reports whether it could. A cached document
// that fails the checks of a fetched one (issuer, https endpoints, token
// endpoint, jwks_uri) is deleted and not used. A document older than its
// max-age is used and fetched again in the background.
func (c *Client) discoverCached(ctx context.Context) bool {
	rec, err := c.cache.store.Load(ctx, c.cache.key)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			c.log.Warn("client: reading the cached discovery document failed", slog.String("error", err.Error()))
		}
		return false
	}
	var doc *discoveryDoc
	if rec.TokenType == discoveryType {
		doc, err = parseDiscovery([]byte(rec.AccessToken), c.cfg.Issuer)
	} else {
		err = errors.New("not a discovery cache record")
	}
	if err != nil {
		c.log.Warn("client: discarding the cached discovery document", slog.String("error", err.Error()))
		_ = c.cache.store.Delete(ctx, c.cache.key)
		return false
	}
	c.useDiscovery(doc)
	c.cache.doc, c.cache.fetched = []byte(rec.AccessToken), rec.AuthTime
	c.cache.maxAge = rec.Expiry.Sub(rec.AuthTime)
	if rec.IDToken != "" && c.ids.keys.preload([]byte(rec.IDToken)) == nil {
		c.cache.jwks = []byte(rec.IDToken)
	}
	if !c.now().Before(rec.Expiry) {
		c.refreshDiscovery()
	}
	return true
}

// refreshDiscovery fetches the discovery document again in the background
// and caches it when it passes the checks. The running Client keeps its
// endpoints; the next New uses the new document. Close waits for it.
func (c *Client) refreshDiscovery() {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(c.bgCtx, DefaultHTTPTimeout)
		defer cancel()
		body, maxAge, err := fetchDiscovery(ctx, c.get, c.cfg.Issuer)
		var doc *discoveryDoc
		if err == nil {
			doc, err = parseDiscovery(body, c.cfg.Issuer)
		}
		if err != nil {
			c.log.Info("client: refreshing the cached discovery document failed; keeping it", slog.String("error", err.Error()))
			return
		}
		c.cacheDiscovery(ctx, doc, maxAge)
	}()
}

// cacheDiscovery saves doc, fetched now, in the cache.
func (c *Client) cacheDiscovery(ctx context.Context, doc *discoveryDoc, maxAge time.Duration) {
	b, err := json.Marshal(doc)
	if err != nil {
		return
	}
	c.cache.save(ctx, b, c.now().Round(0), maxAge, nil)
}

// maxAge returns the Cache-Control max-age of h, within [1 min, 1 week],
// or DefaultDiscoveryMaxAge.
func maxAge(h http.Header) time.Duration {
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(name, "max-age") {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(val, `"`))
		if err != nil || n < 0 {
			break
		}
		return min(max(time.Duration(n)*time.Second, time.Minute), 7*24*time.Hour)
	}
	return DefaultDiscoveryMaxAge
}
