package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

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
