package depsprobe

import (
	_ "github.com/cli/browser"
	_ "github.com/coreos/go-oidc/v3/oidc"
	_ "github.com/gofrs/flock"
	_ "github.com/zalando/go-keyring"
	_ "github.com/zitadel/oidc/v3/example/server/exampleop"
	_ "github.com/zitadel/oidc/v3/example/server/storage"
	_ "github.com/zitadel/oidc/v3/pkg/client/rp"
	_ "github.com/zitadel/oidc/v3/pkg/op"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/oauth2/clientcredentials"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sync/singleflight"
)
