package oidctest

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"github.com/zitadel/schema"
)

// authCallbackSuffix is where zitadel's login page sends the browser after a successful
// login: the authorization endpoint's path plus this suffix, with ?id=<auth request>.
const authCallbackSuffix = "/callback"

// consentDenied is the error_description the consent page's Deny button sends.
const consentDenied = "The user denied the request."

// consentCallback reports whether r is the OP's authorize callback, which [Options.Consent]
// puts the consent page in front of.
func (p *Provider) consentCallback(r *http.Request) bool {
	return p.opts.Consent && r.URL.Path == p.endpoints.authorizePath+authCallbackSuffix
}

// serveConsent shows the consent page after a successful login and acts on the user's
// decision: Allow lets the OP's own callback issue the code, Deny sends access_denied to the
// redirect URI (RFC 6749 §4.1.2.1) as zitadel sends its own authorization errors and forgets
// the request. A request that is unknown or whose login is not done goes to the OP, which
// answers it as it does without consent.
func (p *Provider) serveConsent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "oidctest: cannot parse the consent form", http.StatusBadRequest)
		return
	}
	id := r.Form.Get("id")
	authReq, err := p.store.AuthRequestByID(r.Context(), id)
	if err != nil || !authReq.Done() || p.consented(id) {
		p.op.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = consentPage.Execute(w, struct{ ID, Client, Scopes string }{id, authReq.GetClientID(), strings.Join(authReq.GetScopes(), " ")})
		return
	}
	switch r.Form.Get("decision") {
	case "allow":
		p.mu.Lock()
		p.consents[id] = true
		p.mu.Unlock()
		http.Redirect(w, r, r.URL.Path+"?id="+id, http.StatusFound)
	case "deny":
		e := oidc.ErrAccessDenied().WithDescription(consentDenied)
		e.State = authReq.GetState()
		target, err := op.AuthResponseURL(authReq.GetRedirectURI(), authReq.GetResponseType(), authReq.GetResponseMode(), e, schema.NewEncoder())
		if err != nil {
			http.Error(w, "oidctest: consent: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_ = p.store.DeleteAuthRequest(r.Context(), id) // the request is over: no code for it
		p.log.Info("oidctest: the user denied consent", "client_id", authReq.GetClientID())
		http.Redirect(w, r, target, http.StatusFound)
	default:
		http.Error(w, "oidctest: the consent form has no decision", http.StatusBadRequest)
	}
}

func (p *Provider) consented(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.consents[id]
}

// consentPage asks the user to allow or deny the client; html/template escapes every field.
var consentPage = template.Must(template.New("consent").Parse(`<!DOCTYPE html>
<html><head><meta charset="UTF-8"><title>Consent</title></head>
<body style="font-family:sans-serif;margin:3em">
<form method="POST">
<input type="hidden" name="id" value="{{.ID}}">
<p><b>{{.Client}}</b> asks for access to your account (<code>{{.Scopes}}</code>).</p>
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
</body></html>
`))
