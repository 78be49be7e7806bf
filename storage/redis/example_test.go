package redisstore_test

import (
	"log"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/storage"
	redisstore "github.com/tokenkeeper/tokenkeeper/storage/redis"
	"github.com/tokenkeeper/tokenkeeper/tokensource"
)

// Every replica of a service opens the same Redis with the same key; their
// Sources then refresh the account one at a time and share its newest
// refresh token.
func ExampleNew() {
	opts, err := redis.ParseURL("rediss://tk:password@redis.internal:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	opts.ContextTimeoutEnabled = true // required: lets Timeout and ctx interrupt a call
	client := redis.NewClient(opts)
	defer client.Close()

	key, err := storage.KeyFromEnv("TOKEN_KEY") // 32 bytes, hex or base64, shared by the replicas
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.New(redisstore.Config{Client: client, Key: key, Prefix: "tk:", LeaseTTL: 15 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	src, err := tokensource.New(tokensource.Config{
		OAuth2: &oauth2.Config{ClientID: "my-service", Endpoint: oauth2.Endpoint{TokenURL: "https://idp.example.com/token"}},
		Store:  store,
		Key:    "reports@example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
}
