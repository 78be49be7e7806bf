package tokensource

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/internal/tokentest"
	"github.com/tokenkeeper/tokenkeeper/storage"
)

// BenchmarkToken measures Token() with a fresh cached token against
// x/oauth2's ReuseTokenSource and against the floor: an atomic pointer
// load plus oauth2.Token.Valid. Run with -cpu 1,2,8.
func BenchmarkToken(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "at", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
	b.Run("impl=tokenkeeper", func(b *testing.B) {
		src, err := New(Config{OAuth2: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: "https://idp.example/token"}}})
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		src.publish(src.newEntry(&storage.Token{AccessToken: "at", RefreshToken: "rt", Expiry: tok.Expiry}))
		runParallel(b, src.Token)
	})
	b.Run("impl=oauth2.ReuseTokenSource", func(b *testing.B) {
		runParallel(b, oauth2.ReuseTokenSource(tok, oauth2.StaticTokenSource(tok)).Token)
	})
	b.Run("impl=atomic+Valid", func(b *testing.B) {
		var p atomic.Pointer[oauth2.Token]
		p.Store(tok)
		runParallel(b, func() (*oauth2.Token, error) {
			if t := p.Load(); t.Valid() {
				return t, nil
			}
			return nil, nil
		})
	})
}

func runParallel(b *testing.B, token func() (*oauth2.Token, error)) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if t, err := token(); err != nil || t == nil {
				b.Fatal("no token")
			}
		}
	})
}

// BenchmarkStampede releases 1,000 goroutines on Token() at once, against
// a token endpoint that answers in 50 ms, and reports token requests and
// the callers' p50/p99/max wait per stampede. phase=window: a one-hour
// token with 30 s left, inside tokenkeeper's 1 min refresh lead (x/oauth2
// only refreshes within 10 s of expiry, synchronously); phase=expired: it
// has expired. Run with -benchtime 10x.
func BenchmarkStampede(b *testing.B) {
	for _, phase := range []struct {
		name   string
		expiry time.Duration
	}{{"window", 30 * time.Second}, {"expired", -time.Minute}} {
		for _, impl := range []string{"tokenkeeper", "oauth2.ReuseTokenSource"} {
			b.Run("phase="+phase.name+"/impl="+impl, func(b *testing.B) {
				srv := tokentest.NewServer()
				defer srv.Close()
				srv.Delay = 50 * time.Millisecond
				var waits []time.Duration
				for range b.N {
					b.StopTimer()
					token, done := stampedeSource(b, srv, impl, time.Now().Add(phase.expiry))
					b.StartTimer()
					waits = append(waits, stampede(b, token)...)
					b.StopTimer()
					done()
					b.StartTimer()
				}
				slices.Sort(waits)
				q := func(p float64) float64 { return float64(waits[int(p*float64(len(waits)-1))]) / 1e6 }
				b.ReportMetric(q(0.5), "p50-ms")
				b.ReportMetric(q(0.99), "p99-ms")
				b.ReportMetric(q(1), "max-ms")
				b.ReportMetric(float64(srv.Requests())/float64(b.N), "requests/op")
				blocked := len(waits) - sortedIndex(waits, time.Millisecond)
				b.ReportMetric(float64(blocked)/float64(b.N), "blocked/op")
			})
		}
	}
}

func sortedIndex(waits []time.Duration, d time.Duration) int {
	i, _ := slices.BinarySearch(waits, d)
	return i
}

// stampedeSource returns Token of a source holding a token that expires
// at expiry, and a cleanup that waits for background work to finish.
func stampedeSource(b *testing.B, srv *tokentest.Server, impl string, expiry time.Time) (func() (*oauth2.Token, error), func()) {
	at, rt, _ := srv.Login()
	conf := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	if impl == "tokenkeeper" {
		src, err := New(Config{OAuth2: conf})
		if err != nil {
			b.Fatal(err)
		}
		rec := &storage.Token{AccessToken: at, RefreshToken: rt, Expiry: expiry, Version: 1}
		src.store.Save(context.Background(), DefaultKey, rec)
		// Published when it was issued, an hour before it expires.
		src.publish(newEntry(rec, time.Now().Add(time.Until(expiry)-time.Hour), src.cfg.RefreshBefore, time.Time{}, randN))
		return src.Token, func() {
			for src.bg.Load() && src.record().AccessToken == at { // let the background refresh land
				time.Sleep(time.Millisecond)
			}
			src.Close()
		}
	}
	tok := &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: expiry}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{})
	return oauth2.ReuseTokenSource(tok, conf.TokenSource(ctx, tok)).Token, func() {}
}

// stampede runs 1,000 concurrent Token() calls and returns each one's wait.
func stampede(b *testing.B, token func() (*oauth2.Token, error)) []time.Duration {
	const callers = 1000
	waits := make([]time.Duration, callers)
	var ready, wg sync.WaitGroup
	ready.Add(callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			ready.Done()
			<-start
			t0 := time.Now()
			if _, err := token(); err != nil {
				b.Error(err)
			}
			waits[i] = time.Since(t0)
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	return waits
}
