package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/proforma"
)

// view is what every page template gets: who is signed in, the language,
// the CSRF token for its forms, a one-time message, and the page's data.
type view struct {
	L      string // "id" or "en"
	Caller caller
	CSRF   string
	Title  string
	Nav    string // the menu entry to mark current
	Path   string // this page's request URI (language switch returns here)
	Flash  *flash
	Data   any
	sess   *session
}

// caller is who is signed in: Identity (the e-mail) is the actor of
// their actions; the header shows it with the role.
type caller struct {
	Identity string
	Name     string
	Role     people.Role
}

// Can reports whether the signed-in role may take action a (templates
// hide the forms a role may not use; the route checks it anyway).
func (c caller) Can(a string) bool { return c.Role.Can(people.Action(a)) }

// T translates key into the view's language.
func (v *view) T(key string) string { return translate(v.L, key) }

// newView starts a view in the user's language: the language cookie, else
// the browser's preference, else Indonesian.
func (s *Server) newView(w http.ResponseWriter, r *http.Request, sess *session) *view {
	v := &view{L: "id", Path: r.URL.RequestURI(), sess: sess}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "id") {
		v.L = c.Value
	} else if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en") {
		v.L = "en"
	}
	if sess != nil {
		v.Caller = caller{Identity: sess.user.Email, Name: sess.user.Name, Role: sess.user.Role}
		v.CSRF = sess.csrf
		if r.Method == http.MethodGet {
			v.Flash = s.takeFlash(w, r)
		}
	}
	return v
}

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"tax", "signin", "signin_totp", "welcome", "users", "audit", "approvals", "error", "overview", "orders", "order", "reviews", "events", "accounts", "account",
	"subscriptions", "overdue", "sendings"}

func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", path.Join("templates", name+".html"))
		if err != nil {
			return nil, fmt.Errorf("console: templates: %w", err)
		}
		pages[name] = t
	}
	if _, err := fs.Stat(staticFS, "static/console.css"); err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	return pages, nil
}

// funcs are the template helpers: translation, Rupiah, times in the
// business zone (WIB), and small formatting aids.
func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"t": translate,
		"adjustment": func(lang string, note any) string {
			s, _ := note.(string)
			return adjustment(lang, s)
		},
		"unit":        func(unit, lang string) string { return proforma.UnitName(unit, lang) },
		"localmethod": func(m, lang string) string { return proforma.LocalMethodName(m, lang) },
		"percent": func(rate any, lang string) string {
			d, ok := rate.(decimal.Decimal)
			if !ok || d.IsZero() {
				return ""
			}
			return proforma.Percent(d, lang)
		},
		"outcome": func(lang string, line any) string {
			s, _ := line.(string)
			return outcome(lang, s)
		},
		"rp": proforma.Rupiah,
		"wib": func(t any) string {
			switch x := t.(type) {
			case time.Time:
				if x.IsZero() {
					return "—"
				}
				return proforma.LocalTime(x, s.Location)
			case *time.Time:
				if x == nil {
					return "—"
				}
				return proforma.LocalTime(*x, s.Location)
			}
			return "—"
		},
		"date": func(t time.Time) string { return t.In(s.Location).Format("02-01-2006") },
		"deref": func(p any) any {
			switch x := p.(type) {
			case *string:
				if x == nil {
					return ""
				}
				return *x
			case *int64:
				if x == nil {
					return int64(0)
				}
				return *x
			}
			return p
		},
		"method":   proforma.MethodName,
		"product":  func(p, l string) string { return proforma.ProductName(p, l) },
		"num":      proforma.Number,
		"freelist": freeList,
		"add":      func(a, b int) int { return a + b },
		"list":     func(xs ...string) []string { return xs },
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
	}
}

// render writes page name with data into the layout, buffered, so a
// template failure is a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, v *view, status int, name string, data any) {
	v.Data = data
	if v.Title == "" {
		v.Title = v.T("nav." + name)
	}
	if v.Nav == "" {
		v.Nav = name
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail renders an error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *view, status int, msg string) {
	v.Title = v.T("error.title")
	v.Nav = "-"
	s.render(w, v, status, "error", map[string]any{"Status": status, "Message": msg})
}

// failErr renders a domain error: its status by kind, its message when it
// is not internal (never SQL or a cause).
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, v *view, err error) {
	status, msg := s.explain(v, err)
	if status >= 500 {
		s.log.Error("console: request failed", "path", r.URL.Path, "err", err)
	}
	s.fail(w, r, v, status, msg)
}

// explain maps an error to a status and a message fit to show.
func (s *Server) explain(v *view, err error) (int, string) {
	var ve *lunas.ValidationError
	if errors.As(err, &ve) {
		var parts []string
		for _, f := range ve.Fields {
			parts = append(parts, f.Field+": "+f.Message)
		}
		return http.StatusBadRequest, strings.Join(parts, "; ")
	}
	var de *lunas.Error
	switch k := lunas.KindOf(err); k {
	case lunas.KindNotFound, lunas.KindConflict, lunas.KindInvalid, lunas.KindForbidden, lunas.KindTooLarge, lunas.KindGateway:
		status := map[lunas.Kind]int{lunas.KindNotFound: 404, lunas.KindConflict: 409, lunas.KindInvalid: 400,
			lunas.KindForbidden: 403, lunas.KindTooLarge: 413, lunas.KindGateway: 502}[k]
		if errors.As(err, &de) {
			return status, de.Message
		}
		return status, v.T("error.title")
	case lunas.KindUnavailable:
		return http.StatusServiceUnavailable, v.T("error.unavailable")
	}
	return http.StatusInternalServerError, v.T("error.internal")
}

// done ends an action: a one-time message and 303 back to a page (the
// browser's reload never posts twice).
func (s *Server) done(w http.ResponseWriter, r *http.Request, v *view, back string, err error, okKey string) {
	if err != nil {
		_, msg := s.explain(v, err)
		s.setFlash(w, r, "error", msg)
	} else {
		s.setFlash(w, r, "ok", v.T(okKey))
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
