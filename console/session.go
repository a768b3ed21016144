package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
	"github.com/lunas-id/lunas/token"
)

// Cookie names. The session cookie is scoped to /console/; the sign-in
// cookie (the sign-in form's CSRF pair, against login CSRF) to the sign-in
// page.
const (
	sessionCookie = "lunas_console"
	signInCookie  = "lunas_console_signin"
	langCookie    = "lunas_console_lang"
	flashCookie   = "lunas_console_flash"
)

// session is a signed-in user.
type session struct {
	idHash []byte
	caller token.Caller
	csrf   string
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

func hashID(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
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
// idle time starts again); false when there is none, it has been idle for
// IdleTimeout or lived MaxAge (service clock), or its token was withdrawn.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) < 40 || len(c.Value) > 64 {
		return nil, false
	}
	now := s.Clock.Now()
	x := &session{idHash: hashID(c.Value)}
	err = s.Pool.QueryRow(r.Context(), `UPDATE console_sessions SET last_seen_at = $2
		WHERE id_hash = $1 AND last_seen_at > $3 AND created_at > $4 RETURNING role, identity, csrf`,
		x.idHash, now, now.Add(-s.IdleTimeout), now.Add(-s.MaxAge)).Scan(&x.caller.Role, &x.caller.Identity, &x.csrf)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false
	}
	if err != nil {
		s.log.Error("console: read session", "err", err)
		return nil, false
	}
	if x.caller.Role != token.RoleFinance || !s.tokens.Has(x.caller) {
		_, _ = s.Pool.Exec(r.Context(), `DELETE FROM console_sessions WHERE id_hash = $1`, x.idHash)
		return nil, false
	}
	return x, true
}

// startSession stores a new session for caller and returns its cookie
// value; sessions idle or too old are deleted on the way.
func (s *Server) startSession(ctx context.Context, c token.Caller) (string, error) {
	id := random(32)
	now := s.Clock.Now()
	_, err := s.Pool.Exec(ctx, `DELETE FROM console_sessions WHERE last_seen_at <= $1 OR created_at <= $2`,
		now.Add(-s.IdleTimeout), now.Add(-s.MaxAge))
	if err != nil {
		return "", store.Unavailable(err)
	}
	_, err = s.Pool.Exec(ctx, `INSERT INTO console_sessions (id_hash, role, identity, csrf, created_at, last_seen_at)
		VALUES ($1,$2,$3,$4,$5,$5)`, hashID(id), c.Role, c.Identity, random(32), now)
	return id, store.Unavailable(err)
}

// signInPage shows the sign-in form with a fresh sign-in CSRF pair.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.session(w, r); ok {
		http.Redirect(w, r, s.next(r), http.StatusSeeOther)
		return
	}
	v := s.newView(w, r, nil)
	s.renderSignIn(w, r, v, http.StatusOK, "")
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, v *view, status int, problem string) {
	pre := random(24)
	s.setCookie(w, r, signInCookie, pre, "/console/sign-in", 3600)
	v.CSRF = pre
	v.Title = v.T("signin.title")
	if problem != "" {
		v.Flash = &flash{Kind: "error", Text: problem}
	}
	s.render(w, v, status, "signin", map[string]string{"Next": s.next(r)})
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

// signIn checks the form's sign-in CSRF pair, then the token: only a
// finance token signs in (constant-time hash comparison, as the API does).
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	v := s.newView(w, r, nil)
	if err := r.ParseForm(); err != nil {
		s.renderSignIn(w, r, v, http.StatusBadRequest, v.T("error.bad_form"))
		return
	}
	pre, err := r.Cookie(signInCookie)
	form := r.PostForm.Get("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(form), []byte(pre.Value)) != 1 {
		s.log.Warn("console: sign-in without its CSRF pair refused")
		s.renderSignIn(w, r, v, http.StatusForbidden, v.T("error.csrf"))
		return
	}
	c, ok := s.tokens.Lookup(strings.TrimSpace(r.PostForm.Get("token")))
	switch {
	case !ok:
		s.log.Warn("console: sign-in with an unknown token refused")
		s.renderSignIn(w, r, v, http.StatusUnauthorized, v.T("signin.unknown"))
		return
	case c.Role != token.RoleFinance:
		s.log.Warn("console: sign-in refused: not a finance token", "identity", c.Identity)
		s.renderSignIn(w, r, v, http.StatusForbidden, v.T("signin.not_finance"))
		return
	}
	id, err := s.startSession(r.Context(), c)
	if err != nil {
		s.log.Error("console: start session", "err", err)
		s.renderSignIn(w, r, v, http.StatusServiceUnavailable, v.T("error.unavailable"))
		return
	}
	s.setCookie(w, r, signInCookie, "", "/console/sign-in", -1)
	s.setCookie(w, r, sessionCookie, id, "/console/", 0)
	s.log.Info("console: signed in", "by", c.Identity)
	http.Redirect(w, r, s.next(r), http.StatusSeeOther)
}

// signOut ends the session here and for every process (the row goes).
func (s *Server) signOut(w http.ResponseWriter, r *http.Request, v *view) {
	_, err := s.Pool.Exec(r.Context(), `DELETE FROM console_sessions WHERE id_hash = $1`, v.sess.idHash)
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
