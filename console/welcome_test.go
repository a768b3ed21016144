package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lunas-id/lunas/internal/peopletest"
	"github.com/lunas-id/lunas/people"
)

var secretText = regexp.MustCompile(`id="totp-secret" class="mono">([A-Z2-7]+)<`)

// The welcome link sets the password (every broken rule reported at once)
// and, for an approver, enrols TOTP with the secret the page shows; it
// works once.
func TestTheWelcomeLink(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, tok := peopletest.Invite(t, e.pool, e.people, "dewi@lunas.test", people.RoleApprover)
	c := e.client()
	res, body := c.get("/console/welcome/" + tok)
	m := secretText.FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
		t.Fatalf("welcome page: %d, no secret or QR\n%s", res.StatusCode, tail(body, 2000))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") {
		t.Errorf("the QR is inline but the CSP says %q", csp)
	}
	secret := m[1]
	csrf := csrfField.FindStringSubmatch(body)[1]
	// Too short, not alike, and a wrong code: all three at once.
	res, body = c.post("/console/welcome/"+tok, url.Values{"csrf": {csrf}, "password": {"short"}, "password_confirm": {"other"},
		"secret": {secret}, "code": {"000000"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "password:") || !strings.Contains(body, "password_confirm:") || !strings.Contains(body, "code:") {
		t.Errorf("broken rules: %d\n%s", res.StatusCode, tail(body, 2000))
	}
	if m := secretText.FindStringSubmatch(body); m == nil || m[1] != secret {
		t.Error("a retry shows another secret than the one scanned")
	}
	csrf = csrfField.FindStringSubmatch(body)[1]
	res, body = c.post("/console/welcome/"+tok, url.Values{"csrf": {csrf}, "password": {peopletest.Password}, "password_confirm": {peopletest.Password},
		"secret": {secret}, "code": {e.real.Code(t, secret)}})
	if res.StatusCode != 200 || strings.Count(body, "<li>") < people.RecoveryCodes {
		t.Fatalf("set the password: %d\n%s", res.StatusCode, tail(body, 2000))
	}
	if res, _ := c.get("/console/welcome/" + tok); res.StatusCode != http.StatusNotFound {
		t.Errorf("a used link: %d, want 404", res.StatusCode)
	}
	// Without the page's CSRF pair nothing is set.
	_, tok2 := peopletest.Invite(t, e.pool, e.people, "eko@lunas.test", people.RoleViewer)
	if res, _ := e.client().post("/console/welcome/"+tok2, url.Values{"csrf": {"guess"}, "password": {peopletest.Password}, "password_confirm": {peopletest.Password}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF pair: %d, want 403", res.StatusCode)
	}
}

// An admin's new user and reset are mailed the link, in the transaction
// that issued it; once the SMTP server has it, the row no longer holds it.
func TestAnAdminMailsTheLink(t *testing.T) {
	e := newEnv(t, envOptions{worker: true})
	c := e.client()
	c.mustSignIn()
	res, body := c.post("/console/users", url.Values{"csrf": {c.csrf("/console/users")}, "email": {"fitri@lunas.test"}, "name": {"Fitri"}, "role": {"reviewer"}})
	m := regexp.MustCompile(`id="welcome-link">[^<]*/console/welcome/([A-Za-z0-9_-]{43})<`).FindStringSubmatch(body)
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("add: %d\n%s", res.StatusCode, tail(body, 2000))
	}
	tok := m[1]
	soft := strings.NewReplacer("=\r\n", "", "=3D", "=")
	eventually(t, 30*time.Second, "the welcome mail with the link", func() bool {
		for _, msg := range e.sink.Messages() {
			if len(msg.To) == 1 && msg.To[0] == "fitri@lunas.test" && strings.Contains(soft.Replace(string(msg.Data)), "/console/welcome/"+tok) {
				return true
			}
		}
		return false
	})
	eventually(t, 10*time.Second, "the sent mail to forget the link", func() bool {
		return e.count(`SELECT count(*) FROM mails WHERE kind = 'people_link' AND to_addr = 'fitri@lunas.test' AND status = 'sent' AND data IS NULL`) == 1
	})
	if n := e.count(`SELECT count(*) FROM mails WHERE data::text LIKE '%' || $1 || '%'`, tok); n != 0 {
		t.Error("a sent mail row still holds the link")
	}
}
