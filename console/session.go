package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lunas-id/lunas/people"
)

// Cookie names. The session cookie is scoped to /console/; the sign-in
// cookie (the sign-in form's CSRF pair, against login CSRF) to the sign-in
// page.
const (
	sessionCookie = "lunas_console"
	signInCookie  = "lunas_console_signin"
	langCookie    = "lunas_console_lang"
	flashCookie   = "lunas_console_flash"
	// challengeCookie holds the pending TOTP step between the password and
	// the code (people.ChallengeTTL), scoped to the sign-in pages.
	challengeCookie = "lunas_console_challenge"
	// welcomeCookie is the welcome form's CSRF pair (no session yet).
	welcomeCookie = "lunas_console_welcome"
)

// session is a signed-in person (people.Users keeps it; only the
// token's hash is stored).
type session struct {
	token string // the cookie's value
	user  people.User
	csrf  string
}

func (x *session) validCSRF(form string) bool {
	return form != "" && subtle.ConstantTimeCompare([]byte(form), []byte(x.csrf)) == 1
}

// random is n random bytes, base64url.
func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secure reports whether cookies must be Secure: the request came over
// HTTPS (directly or, as a proxy says, to it), or the public URL is https.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || strings.HasPrefix(s.PublicURL, "https://")
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure(r)})
}

// session returns the request's live session and marks it seen now (its
// idle time starts again); false when there is none, it has been idle or
// lived too long (service clock), or its user is no longer active.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	x, err := s.People.Session(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, people.ErrNoSession) {
			s.log.Error("console: read session", "err", err)
		}
		return nil, false
	}
	return &session{token: c.Value, user: x.User, csrf: x.CSRF}, true
}

// signInPage shows the sign-in form with a fresh sign-in CSRF pair.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(w, r); ok {
		http.Redirect(w, r, s.next(r), http.StatusSeeOther)
		return
	}
	v := s.newView(w, r, nil)
	s.renderSignIn(w, r, v, http.StatusOK, "", "signin")
}

// renderSignIn shows the password form (page "signin") or the code form
// (page "signin_totp"), each with a fresh pre-session CSRF pair: a cookie
// scoped to the sign-in pages and the same value in the form (against
// login CSRF).
func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, v *view, status int, problem, page string) {
	pre := random(24)
	s.setCookie(w, r, signInCookie, pre, "/console/sign-in", 3600)
	v.CSRF = pre
	v.Title = v.T(page + ".title")
	v.Nav = "signin"
	if problem != "" {
		v.Flash = &flash{Kind: "error", Text: problem}
	}
	s.render(w, v, status, page, map[string]string{"Next": s.next(r), "Email": r.PostFormValue("email")})
}

// next is where to go after sign-in: ?next= when it is a console path.
func (s *Server) next(r *http.Request) string {
	n := r.FormValue("next")
	if n == "" {
		n = r.URL.Query().Get("next")
	}
	if safeNext(n) {
		return n
	}
	return "/console/"
}

// signInForm reads a sign-in form and checks its pre-session CSRF pair;
// false when it has answered already.
func (s *Server) signInForm(w http.ResponseWriter, r *http.Request, v *view, page string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderSignIn(w, r, v, http.StatusBadRequest, v.T("error.bad_form"), page)
		return false
	}
	pre, err := r.Cookie(signInCookie)
	form := r.PostForm.Get("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(form), []byte(pre.Value)) != 1 {
		s.log.Warn("console: sign-in without its CSRF pair refused")
		s.renderSignIn(w, r, v, http.StatusForbidden, v.T("error.csrf"), page)
		return false
	}
	return true
}

// signIn checks e-mail and password (people.Users.SignIn: throttled, and
// every refusal alike). A person whose role has TOTP goes on to the code
// step with a short-lived challenge in a cookie; the others get a session.
// API tokens never sign in here: there is no field for one.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	v := s.newView(w, r, nil)
	if !s.signInForm(w, r, v, "signin") {
		return
	}
	st, err := s.People.SignIn(r.Context(), r.PostForm.Get("email"), r.PostForm.Get("password"), r.RemoteAddr)
	if err != nil {
		s.signInRefused(w, r, v, err, "signin")
		return
	}
	if st.NeedsTOTP() {
		s.setCookie(w, r, challengeCookie, st.Challenge, "/console/sign-in", int(people.ChallengeTTL/time.Second))
		http.Redirect(w, r, "/console/sign-in/totp?next="+urlQueryEscape(s.next(r)), http.StatusSeeOther)
		return
	}
	s.signedIn(w, r, st)
}

// signInTOTPPage asks for the code after the password; without a pending
// challenge it goes back to the password form.
func (s *Server) signInTOTPPage(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(challengeCookie); err != nil {
		http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
		return
	}
	s.renderSignIn(w, r, s.newView(w, r, nil), http.StatusOK, "", "signin_totp")
}

// signInTOTP checks the authenticator's code, or a recovery code once.
func (s *Server) signInTOTP(w http.ResponseWriter, r *http.Request) {
	v := s.newView(w, r, nil)
	if !s.signInForm(w, r, v, "signin_totp") {
		return
	}
	var challenge string
	if c, err := r.Cookie(challengeCookie); err == nil {
		challenge = c.Value
	}
	st, err := s.People.SignInTOTP(r.Context(), challenge, r.PostForm.Get("code"), r.RemoteAddr)
	if err != nil {
		s.signInRefused(w, r, v, err, "signin_totp")
		return
	}
	s.setCookie(w, r, challengeCookie, "", "/console/sign-in", -1)
	s.signedIn(w, r, st)
}

func (s *Server) signInRefused(w http.ResponseWriter, r *http.Request, v *view, err error, page string) {
	if errors.Is(err, people.ErrSignIn) {
		s.log.Warn("console: sign-in refused", "step", page)
		s.renderSignIn(w, r, v, http.StatusUnauthorized, v.T("signin.failed"), page)
		return
	}
	s.log.Error("console: sign-in", "err", err)
	s.renderSignIn(w, r, v, http.StatusServiceUnavailable, v.T("error.unavailable"), page)
}

func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, st people.Step) {
	s.setCookie(w, r, signInCookie, "", "/console/sign-in", -1)
	s.setCookie(w, r, sessionCookie, st.Session, "/console/", 0)
	s.log.Info("console: signed in", "by", st.User.Email, "role", st.User.Role)
	http.Redirect(w, r, s.next(r), http.StatusSeeOther)
}

// signOut ends the session here and for every process (the row goes).
func (s *Server) signOut(w http.ResponseWriter, r *http.Request, v *view) {
	err := s.People.SignOut(r.Context(), v.sess.token, r.RemoteAddr)
	s.logAction(r.Context(), v, "sign-out", err)
	s.setCookie(w, r, sessionCookie, "", "/console/", -1)
	http.Redirect(w, r, "/console/sign-in", http.StatusSeeOther)
}

// setLang remembers the user's language (id or en) in a cookie and goes
// back where the user was. It changes nothing but the display.
func (s *Server) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("to")
	if l != "id" && l != "en" {
		l = "id"
	}
	s.setCookie(w, r, langCookie, l, "/console/", 365*24*3600)
	back := r.URL.Query().Get("next")
	if !safeNext(back) && back != "/console/sign-in" {
		back = "/console/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// flash is a one-time message shown on the next page.
type flash struct {
	Kind string // "ok" or "error"
	Text string
}

func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	if len(text) > 600 {
		text = text[:600] + "…"
	}
	s.setCookie(w, r, flashCookie, url.QueryEscape(kind+"|"+text), "/console/", 60)
}

// takeFlash reads and clears the flash cookie.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	s.setCookie(w, r, flashCookie, "", "/console/", -1)
	raw, err := url.QueryUnescape(c.Value)
	kind, text, ok := strings.Cut(raw, "|")
	if err != nil || !ok || (kind != "ok" && kind != "error") {
		return nil
	}
	return &flash{Kind: kind, Text: text}
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
