package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// kubectl's exec credential plugin protocol
// (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins).
// kubectl runs `tkcli kubectl` with KUBERNETES_EXEC_INFO set to an
// ExecCredential holding the apiVersion it wants and spec.interactive
// (whether the plugin may use the terminal), and reads an ExecCredential
// with status.token and status.expirationTimestamp from stdout; it runs the
// plugin again after that time.

const (
	execV1      = "client.authentication.k8s.io/v1"
	execV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// execCredential is an ExecCredential of either API version: their JSON
// forms are the same for the fields tkcli uses.
type execCredential struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Interactive bool `json:"interactive"`
	} `json:"spec"`
	Status *execStatus `json:"status,omitempty"`
}

type execStatus struct {
	ExpirationTimestamp string `json:"expirationTimestamp,omitempty"` // RFC 3339
	Token               string `json:"token"`
}

// parseExecInfo reads KUBERNETES_EXEC_INFO. Without it (tkcli kubectl run
// by hand, or by a kubectl too old to set it) the answer is v1 and the
// plugin is not interactive.
func parseExecInfo(env string) (execCredential, error) {
	var in execCredential
	if env == "" {
		in.APIVersion = execV1
		return in, nil
	}
	if err := json.Unmarshal([]byte(env), &in); err != nil {
		return in, usageError("$KUBERNETES_EXEC_INFO is not an ExecCredential: " + err.Error())
	}
	switch in.APIVersion {
	case execV1, execV1beta1:
		return in, nil
	case "":
		in.APIVersion = execV1
		return in, nil
	default:
		return in, usageError(fmt.Sprintf("$KUBERNETES_EXEC_INFO asks for %q: want %s or %s", in.APIVersion, execV1, execV1beta1))
	}
}

// kubectl prints an ExecCredential with the access token (the ID token
// with --id-token). It logs in only when kubectl says it is interactive.
func (a *app) kubectl(ctx context.Context, cfg *config) error {
	info, err := parseExecInfo(a.getenv("KUBERNETES_EXEC_INFO"))
	if err != nil {
		return err
	}
	cred, err := a.credentials(cfg)(ctx, credentialRequest{IDToken: cfg.idToken, Interactive: info.Spec.Interactive})
	if err != nil {
		return err
	}
	out := execCredential{APIVersion: info.APIVersion, Kind: "ExecCredential", Status: &execStatus{Token: cred.Secret}}
	out.Spec.Interactive = info.Spec.Interactive
	if !cred.Expiry.IsZero() {
		out.Status.ExpirationTimestamp = cred.Expiry.UTC().Format(time.RFC3339)
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
