package login

import (
	"bytes"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// The sign-in pages are plain HTML with no script; the page may not be
// framed (clickjacking) and sends no referrer (the query carries the
// client's state).
const signInCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:; frame-ancestors 'none'"

var signInTmpl = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to your account</title>
<style>
body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;padding:2rem;max-width:24rem;width:calc(100% - 2rem);box-shadow:0 2px 6px rgba(0,0,0,.2)}
label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;margin-top:.25rem}
button{margin-top:1.5rem;padding:.6rem 2rem;font-size:1rem;background:#0067b8;color:#fff;border:0;cursor:pointer}
button:focus,input:focus{outline:3px solid #ffb900}
.error{color:#a80000;margin-top:1rem}
</style></head>
<body><main>
<h1>Sign in</h1>
<p>Cobalt tenant {{.Tenant}}</p>
{{if .Error}}<p class="error" role="alert" id="error">{{.Error}}</p>{{end}}
<form method="post" action="">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus value="{{.Username}}" placeholder="name@{{.Domain}}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
</main></body></html>
`))

var messageTmpl = template.Must(template.New("message").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main><h1>{{.Title}}</h1><p role="alert">{{.Message}}</p></main></body></html>
`))

var formPostTmpl = template.Must(template.New("formpost").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Working...</title></head>
<body onload="document.forms[0].submit()"><form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><button type="submit">Continue</button></noscript></form></body></html>
`))

type field struct{ Name, Value string }

func fields(v url.Values) []field {
	var out []field
	for k, vs := range v {
		for _, x := range vs {
			out = append(out, field{k, x})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func writeHTML(w http.ResponseWriter, status int, t *template.Template, data any, csp string) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeSignInPage shows the sign-in form, which posts the authorization
// parameters back with the credentials; errMsg, if not nil, is the last
// attempt's error with its AADSTS code.
func (s *Service) writeSignInPage(w http.ResponseWriter, tenant string, params url.Values, username string, errMsg error) {
	data := struct {
		Tenant, Domain, Username, Error string
		Hidden                          []field
	}{Tenant: tenant, Domain: s.TenantDomain(tenant), Username: username, Hidden: fields(params)}
	if errMsg != nil {
		code, _ := aadCode(errMsg)
		data.Error = "AADSTS" + aadNum(code) + ": " + cobalt.ErrorMessage(errMsg)
	}
	writeHTML(w, http.StatusOK, signInTmpl, data, signInCSP)
}

// writeSignInError shows an error that must not be redirected to the client.
func (s *Service) writeSignInError(w http.ResponseWriter, r *http.Request, err error) {
	code, ok := aadCode(err)
	msg := cobalt.ErrorMessage(err)
	if !ok {
		code, msg = aadTransient, "A transient error has occurred. Please try again."
		s.log.Error("login: sign-in failed", logkey.Path, r.URL.Path, logkey.Err, err)
	}
	writeHTML(w, aadTable[code].status, messageTmpl, struct{ Title, Message string }{
		"Sorry, but we're having trouble signing you in.", "AADSTS" + aadNum(code) + ": " + msg,
	}, signInCSP)
}

func (s *Service) writeSignedOutPage(w http.ResponseWriter) {
	writeHTML(w, http.StatusOK, messageTmpl, struct{ Title, Message string }{
		"You signed out of your account", "It's a good idea to close all browser windows.",
	}, signInCSP)
}

// writeFormPost answers response_mode=form_post: a page whose script posts
// the result to the client.
func (s *Service) writeFormPost(w http.ResponseWriter, action string, result url.Values) {
	writeHTML(w, http.StatusOK, formPostTmpl, struct {
		Action string
		Fields []field
	}{action, fields(result)}, "default-src 'none'; script-src 'unsafe-inline'; form-action "+action+"; frame-ancestors 'none'")
}

func aadNum(n int) string { return strconv.Itoa(n) }

// auditSignIn is the audit record of a successful sign-in.
func auditSignIn(now time.Time, objectID, clientID, addr string) store.AuditRecord {
	return store.AuditRecord{Time: now, Kind: "user.signin", Actor: objectID, Subject: objectID,
		Fields: map[string]string{"client_id": clientID, "address": addr}}
}
