package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/mail"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/store"
)

// People in the console: the welcome (or reset) link that sets a password
// and enrols TOTP, the admin's users page and the audit log page. The
// rules are package people's; these are its pages.

// welcomeData is what the welcome page shows.
type welcomeData struct {
	Token string
	View  people.WelcomeView
	QR    template.URL // data: URI of the QR code (TOTP roles): ours, so trusted

	Codes    []string // the recovery codes, shown once after success
	Done     bool
	Problems []lunas.FieldError
}

// welcomePage shows the form of a live link; a used or expired link is a
// 404 page that says so.
func (s *Server) welcomePage(w http.ResponseWriter, r *http.Request) {
	v := s.newView(w, r, nil)
	tok := r.PathValue("token")
	wv, err := s.People.Welcome(r.Context(), tok)
	if err != nil {
		s.welcomeFailed(w, r, v, err)
		return
	}
	s.renderWelcome(w, r, v, http.StatusOK, welcomeData{Token: tok, View: wv})
}

func (s *Server) welcomeFailed(w http.ResponseWriter, r *http.Request, v *view, err error) {
	if errors.Is(err, people.ErrLink) {
		s.fail(w, r, v, http.StatusNotFound, v.T("welcome.gone"))
		return
	}
	s.failErr(w, r, v, err)
}

// renderWelcome shows the welcome form with a fresh CSRF pair (there is no
// session yet: a cookie scoped to the link's path and the same value in
// the form). The QR code is inline, so this page alone allows data: images.
func (s *Server) renderWelcome(w http.ResponseWriter, r *http.Request, v *view, status int, d welcomeData) {
	if !d.Done {
		pre := random(24)
		s.setCookie(w, r, welcomeCookie, pre, "/console/welcome/", 3600)
		v.CSRF = pre
	}
	if d.View.NeedsTOTP && d.View.OTPAuthURL != "" && !d.Done {
		png, err := people.QRCodePNG(d.View.OTPAuthURL, 240)
		if err != nil {
			s.failErr(w, r, v, err)
			return
		}
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)) //nolint:gosec // a data: URL of our own PNG in base64, nothing of the caller's
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "+
			"form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	}
	v.Title = v.T("welcome.title")
	v.Nav = "welcome"
	s.render(w, v, status, "welcome", d)
}

// welcome sets the password (and enrols TOTP) through the link, then
// shows the recovery codes once. Every broken rule is shown at once; the
// secret typed into the authenticator stays the same across a retry.
func (s *Server) welcome(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	v := s.newView(w, r, nil)
	tok := r.PathValue("token")
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, v, http.StatusBadRequest, v.T("error.bad_form"))
		return
	}
	pre, err := r.Cookie(welcomeCookie)
	if form := r.PostForm.Get("csrf"); err != nil || !(&session{csrf: pre.Value}).validCSRF(form) {
		s.log.Warn("console: welcome form without its CSRF pair refused")
		s.fail(w, r, v, http.StatusForbidden, v.T("error.csrf"))
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("secret"))
	codes, err := s.People.SetPassword(r.Context(), tok, people.SetPasswordForm{Password: r.PostForm.Get("password"),
		PasswordConfirm: r.PostForm.Get("password_confirm"), TOTPSecret: secret, Code: r.PostForm.Get("code"), Addr: r.RemoteAddr})
	var ve *lunas.ValidationError
	if errors.As(err, &ve) {
		wv, werr := s.People.Welcome(r.Context(), tok)
		if werr != nil {
			s.welcomeFailed(w, r, v, werr)
			return
		}
		if wv.NeedsTOTP && secret != "" {
			// Keep the secret already scanned: only the code was wrong.
			if u, perr := url.Parse(wv.OTPAuthURL); perr == nil {
				q := u.Query()
				q.Set("secret", secret)
				u.RawQuery = q.Encode()
				wv.Secret, wv.OTPAuthURL = secret, u.String()
			}
		}
		s.renderWelcome(w, r, v, http.StatusBadRequest, welcomeData{Token: tok, View: wv, Problems: ve.Fields})
		return
	}
	if err != nil {
		s.welcomeFailed(w, r, v, err)
		return
	}
	s.setCookie(w, r, welcomeCookie, "", "/console/welcome/", -1)
	s.renderWelcome(w, r, v, http.StatusOK, welcomeData{Done: true, Codes: codes})
}

// usersPage lists everyone with the add form (admin).
func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, v *view) {
	s.renderUsers(w, r, v, http.StatusOK, "", "")
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, v *view, status int, link, linkFor string) {
	list, err := s.People.List(r.Context())
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	s.render(w, v, status, "users", map[string]any{"Users": list, "Roles": people.Roles(), "Link": link, "LinkFor": linkFor})
}

// mailLink queues the link mail to the person in tx, the transaction that
// issued the link, in the admin's language.
func (s *Server) mailLink(ctx context.Context, tx pgx.Tx, v *view, u people.User, tok string, reset bool) error {
	now := s.Clock.Now()
	return mail.QueuePeopleLink(ctx, tx, u.Email, v.L, mail.PeopleLink{Name: u.Name, Role: string(u.Role), Link: s.welcomeLink(tok),
		Reset: reset, TOTP: u.Role.NeedsTOTP(), ExpiresAt: now.Add(people.LinkTTL)}, now)
}

// welcomeLink is the one-time link for token.
func (s *Server) welcomeLink(tok string) string {
	return strings.TrimRight(s.PublicURL, "/") + "/console/welcome/" + tok
}

// audited runs change in one transaction with its audit row: the person
// signed in is the actor, before and after are the user's views.
func (s *Server) auditedUser(ctx context.Context, r *http.Request, v *view, action string,
	change func(tx pgx.Tx) (before *people.User, after people.User, err error)) error {
	return store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		before, after, err := change(tx)
		if err != nil {
			return err
		}
		e := people.AuditEntry{Actor: v.Caller.Identity, Addr: r.RemoteAddr, Action: action, Object: after.ID}
		if before != nil {
			e.Before, _ = json.Marshal(before)
		}
		e.After, _ = json.Marshal(after)
		return s.Audit.Record(ctx, tx, e)
	})
}

// audited records a console action that its domain call already
// committed (review, resolve, reconcile, bulk sending): those services run
// their own transaction, so the row follows it at once rather than inside
// it; a failure to record is logged, never shown as the action failing.
func (s *Server) audited(ctx context.Context, r *http.Request, v *view, action, object string, after any) {
	b, err := json.Marshal(after)
	if err == nil {
		err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
			return s.Audit.Record(ctx, tx, people.AuditEntry{Actor: v.Caller.Identity, Addr: r.RemoteAddr, Action: action, Object: object, After: b})
		})
	}
	if err != nil {
		s.log.ErrorContext(ctx, "console: audit row not recorded", "action", action, "object", object, "by", v.Caller.Identity, "err", err)
	}
}

// addUser adds a person and shows the one-time link once, on this page.
func (s *Server) addUser(w http.ResponseWriter, r *http.Request, v *view) {
	var tok, email string
	err := s.auditedUser(r.Context(), r, v, "user.add", func(tx pgx.Tx) (*people.User, people.User, error) {
		u, t, err := s.People.Add(r.Context(), tx, r.PostForm.Get("email"), r.PostForm.Get("name"), people.Role(r.PostForm.Get("role")))
		if err != nil {
			return nil, u, err
		}
		tok, email = t, u.Email
		return nil, u, s.mailLink(r.Context(), tx, v, u, t, false)
	})
	s.logAction(r.Context(), v, "user.add", err, "email", email)
	if err != nil {
		s.done(w, r, v, "/console/users", err, "")
		return
	}
	s.renderUsers(w, r, v, http.StatusOK, s.welcomeLink(tok), email)
}

// disableUser disables a person: their sessions end at once.
func (s *Server) disableUser(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	err := s.auditedUser(r.Context(), r, v, "user.disable", func(tx pgx.Tx) (*people.User, people.User, error) {
		before, err := s.People.Get(r.Context(), id)
		if err != nil {
			return nil, before, err
		}
		after, err := s.People.Disable(r.Context(), tx, id)
		return &before, after, err
	})
	s.logAction(r.Context(), v, "user.disable", err, "user_id", id)
	s.done(w, r, v, "/console/users", err, "done.user_disable")
}

// resetUser issues a new one-time link and shows it once.
func (s *Server) resetUser(w http.ResponseWriter, r *http.Request, v *view) {
	id := r.PathValue("id")
	var tok, email string
	err := s.auditedUser(r.Context(), r, v, "user.reset", func(tx pgx.Tx) (*people.User, people.User, error) {
		u, t, err := s.People.Reset(r.Context(), tx, id)
		if err != nil {
			return &u, u, err
		}
		tok, email = t, u.Email
		return &u, u, s.mailLink(r.Context(), tx, v, u, t, true)
	})
	s.logAction(r.Context(), v, "user.reset", err, "user_id", id)
	if err != nil {
		s.done(w, r, v, "/console/users", err, "")
		return
	}
	s.renderUsers(w, r, v, http.StatusOK, s.welcomeLink(tok), email)
}

// auditPage lists the audit log by actor and object (admin).
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	f := people.AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), Object: strings.TrimSpace(q.Get("object")), Cursor: q.Get("cursor"), Limit: 100}
	page, err := s.Audit.List(r.Context(), f)
	if err != nil {
		s.failErr(w, r, v, err)
		return
	}
	s.render(w, v, http.StatusOK, "audit", map[string]any{"Entries": page.Entries, "Actor": f.Actor, "Object": f.Object,
		"Next": page.NextCursor})
}
