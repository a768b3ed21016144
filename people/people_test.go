package people_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/internal/lunastest"
	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/store"
)

// env is a fresh database with Users on it: the service clock and the
// real-time clock TOTP is checked against are both fixed and apart (a
// test clock set a year ahead must not change which code is valid).
type env struct {
	t     *testing.T
	ctx   context.Context
	pool  *store.DB
	clock *clock.Fixed
	mu    sync.Mutex
	real  time.Time
	users *people.Users
	audit *people.AuditLog
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool, _ := lunastest.Pool(t)
	e := &env{t: t, ctx: context.Background(), pool: pool,
		clock: clock.NewFixed(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)),
		real:  time.Date(2026, 5, 1, 10, 0, 5, 0, time.UTC)}
	e.users = people.NewUsers(pool, people.Options{Clock: e.clock, RealNow: e.realNow,
		// The production cost is tested in unit_test.go; here many sign-ins
		// run under -race on a shared machine.
		Argon2: people.Argon2Params{Memory: 1024, Time: 1, Threads: 1}})
	e.audit = people.NewAuditLog(pool, e.clock)
	return e
}

func (e *env) realNow() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.real }

// tick moves real time by d (the service clock stays).
func (e *env) tick(d time.Duration) { e.mu.Lock(); e.real = e.real.Add(d); e.mu.Unlock() }

// later moves the service clock by d.
func (e *env) later(d time.Duration) { e.clock.Set(e.clock.Now().Add(d)) }

func (e *env) code(secret string, at time.Time) string {
	e.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) tx(fn func(pgx.Tx) error) error { return store.InTx(e.ctx, e.pool, fn) }

// add adds a user and returns the welcome token.
func (e *env) add(email string, role people.Role) (people.User, string) {
	e.t.Helper()
	var u people.User
	var tok string
	if err := e.tx(func(tx pgx.Tx) error {
		var err error
		u, tok, err = e.users.Add(e.ctx, tx, email, "Person "+email, role)
		return err
	}); err != nil {
		e.t.Fatalf("add %s: %v", email, err)
	}
	return u, tok
}

const pw = "tiga kucing makan nasi"

// active adds a user and sets the password (enrolling TOTP when the role
// needs it); it returns the user, the TOTP secret and recovery codes.
func (e *env) active(email string, role people.Role) (people.User, string, []string) {
	e.t.Helper()
	u, tok := e.add(email, role)
	v, err := e.users.Welcome(e.ctx, tok)
	if err != nil {
		e.t.Fatal(err)
	}
	f := people.SetPasswordForm{Password: pw, PasswordConfirm: pw, Addr: "10.0.0.1"}
	if v.NeedsTOTP {
		f.TOTPSecret, f.Code = v.Secret, e.code(v.Secret, e.realNow())
	}
	codes, err := e.users.SetPassword(e.ctx, tok, f)
	if err != nil {
		e.t.Fatalf("set password of %s: %v", email, err)
	}
	u, err = e.users.Get(e.ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return u, v.Secret, codes
}

func fieldsOf(err error) string {
	var ve *lunas.ValidationError
	if !errors.As(err, &ve) {
		return "not a validation error: " + errString(err)
	}
	var f []string
	for _, x := range ve.Fields {
		f = append(f, x.Field)
	}
	return strings.Join(f, ",")
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestAddListGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, tok := e.add("  Rina.S@Lunas.ID ", people.RoleReviewer)
	if u.Email != "rina.s@lunas.id" || u.Status != people.UserInvited || u.Role != people.RoleReviewer || u.TOTP ||
		!strings.HasPrefix(u.ID, "usr_") || !u.CreatedAt.Equal(e.clock.Now()) || len(tok) != 43 {
		t.Fatalf("added %+v, token %q", u, tok)
	}
	// The same e-mail in another case is a conflict, and the caller's
	// transaction stays usable (it can still record the refusal).
	err := e.tx(func(tx pgx.Tx) error {
		_, _, err := e.users.Add(e.ctx, tx, "RINA.S@lunas.id", "Other", people.RoleAdmin)
		if lunas.KindOf(err) != lunas.KindConflict {
			t.Errorf("duplicate e-mail: %v", err)
		}
		_, err = tx.Exec(e.ctx, `SELECT 1`)
		return err
	})
	if err != nil {
		t.Fatalf("the transaction broke after a conflict: %v", err)
	}
	err = e.tx(func(tx pgx.Tx) error {
		_, _, err := e.users.Add(e.ctx, tx, "Rina <x@y.id>", "", "root")
		return err
	})
	if got := fieldsOf(err); got != "email,name,role" {
		t.Errorf("invalid add: fields %q (%v)", got, err)
	}
	e.add("adi@lunas.id", people.RoleAdmin)
	list, err := e.users.List(e.ctx)
	if err != nil || len(list) != 2 || list[0].Email != "adi@lunas.id" || list[1].Email != "rina.s@lunas.id" {
		t.Fatalf("list %+v %v", list, err)
	}
	if g, err := e.users.ByEmail(e.ctx, "RINA.S@LUNAS.ID"); err != nil || g.ID != u.ID {
		t.Errorf("by e-mail: %+v %v", g, err)
	}
	if _, err := e.users.Get(e.ctx, "usr_nope"); lunas.KindOf(err) != lunas.KindNotFound {
		t.Errorf("get unknown: %v", err)
	}
	// An invited user cannot sign in (no password yet).
	if _, err := e.users.SignIn(e.ctx, "rina.s@lunas.id", pw, "10.0.0.1"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("invited user signed in: %v", err)
	}
}

func TestWelcomeSignInSignOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, tok := e.add("rina@lunas.id", people.RoleReviewer)
	v, err := e.users.Welcome(e.ctx, tok)
	if err != nil || v.NeedsTOTP || v.Secret != "" || v.Reset || v.User.ID != u.ID || !v.ExpiresAt.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("welcome %+v %v", v, err)
	}
	// Every broken rule at once; nothing changes.
	_, err = e.users.SetPassword(e.ctx, tok, people.SetPasswordForm{Password: "rina1234", PasswordConfirm: "rina12345"})
	if got := fieldsOf(err); got != "password,password,password_confirm" {
		t.Errorf("bad password: fields %q (%v)", got, err)
	}
	codes, err := e.users.SetPassword(e.ctx, tok, people.SetPasswordForm{Password: pw, PasswordConfirm: pw, Addr: "10.0.0.1:5555"})
	if err != nil || codes != nil {
		t.Fatalf("set password: %v %v", codes, err)
	}
	// The link works once.
	if _, err := e.users.Welcome(e.ctx, tok); !errors.Is(err, people.ErrLink) {
		t.Errorf("used link: %v", err)
	}
	if _, err := e.users.SetPassword(e.ctx, tok, people.SetPasswordForm{Password: pw, PasswordConfirm: pw}); !errors.Is(err, people.ErrLink) {
		t.Errorf("used link set a password again: %v", err)
	}
	got, _ := e.users.Get(e.ctx, u.ID)
	if got.Status != people.UserActive || got.PasswordSetAt == nil {
		t.Fatalf("after welcome: %+v", got)
	}
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw+"x", "10.0.0.1"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("wrong password: %v", err)
	}
	st, err := e.users.SignIn(e.ctx, "RINA@lunas.id", pw, "10.0.0.1:4000")
	if err != nil || st.NeedsTOTP() || len(st.Session) != 43 || st.CSRF == "" || st.User.ID != u.ID {
		t.Fatalf("sign in: %+v %v", st, err)
	}
	s, err := e.users.Session(e.ctx, st.Session)
	if err != nil || s.User.ID != u.ID || s.CSRF != st.CSRF || !s.ExpiresAt.Equal(e.clock.Now().Add(12*time.Hour)) {
		t.Fatalf("session: %+v %v", s, err)
	}
	if !s.ValidCSRF(st.CSRF) || s.ValidCSRF("") || s.ValidCSRF(st.CSRF+"x") || s.ValidCSRF(st.Session) {
		t.Error("ValidCSRF")
	}
	var stored int
	_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM user_sessions WHERE hash = $1::text::bytea OR csrf = $1`, st.Session).Scan(&stored)
	if stored != 0 {
		t.Error("the session token is stored as given")
	}
	if err := e.users.SignOut(e.ctx, st.Session, "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.Session(e.ctx, st.Session); !errors.Is(err, people.ErrNoSession) {
		t.Errorf("session after sign-out: %v", err)
	}
	if err := e.users.SignOut(e.ctx, st.Session, "10.0.0.1"); err != nil {
		t.Errorf("second sign-out: %v", err)
	}
	page, err := e.audit.List(e.ctx, people.AuditFilter{Actor: "rina@lunas.id"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range page.Entries {
		actions = append(actions, en.Action+"@"+en.Addr+">"+en.Object)
	}
	want := "session.sign_out@10.0.0.1>" + u.ID + " session.sign_in@10.0.0.1>" + u.ID + " user.set_password@10.0.0.1>" + u.ID
	if strings.Join(actions, " ") != want {
		t.Errorf("audit rows %q, want %q", actions, want)
	}
}

func TestLinkValidity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, tok := e.add("rina@lunas.id", people.RoleViewer)
	for _, bad := range []string{"", "x", tok[:42], strings.ToUpper(tok)} {
		if _, err := e.users.Welcome(e.ctx, bad); !errors.Is(err, people.ErrLink) {
			t.Errorf("link %q: %v", bad, err)
		}
	}
	e.later(24*time.Hour - time.Second)
	if _, err := e.users.Welcome(e.ctx, tok); err != nil {
		t.Errorf("a link of 23:59:59 is refused: %v", err)
	}
	e.later(time.Second)
	if _, err := e.users.Welcome(e.ctx, tok); !errors.Is(err, people.ErrLink) {
		t.Errorf("a link of 24 h is accepted: %v", err)
	}
	if _, err := e.users.SetPassword(e.ctx, tok, people.SetPasswordForm{Password: pw, PasswordConfirm: pw}); !errors.Is(err, people.ErrLink) {
		t.Errorf("an expired link set a password: %v", err)
	}
}

func TestTOTPEnrolmentAndSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, tok := e.add("adi@lunas.id", people.RoleApprover)
	v, err := e.users.Welcome(e.ctx, tok)
	if err != nil || !v.NeedsTOTP || len(v.Secret) != 32 || !strings.Contains(v.OTPAuthURL, "secret="+v.Secret) {
		t.Fatalf("welcome %+v %v", v, err)
	}
	if v2, _ := e.users.Welcome(e.ctx, tok); v2.Secret == v.Secret {
		t.Error("a reload shows the same secret")
	}
	form := people.SetPasswordForm{Password: pw, PasswordConfirm: pw, TOTPSecret: v.Secret}
	if _, err := e.users.SetPassword(e.ctx, tok, form); fieldsOf(err) != "code" {
		t.Errorf("no code: %v", err)
	}
	form.Code = e.code(v.Secret, e.realNow().Add(-90*time.Second))
	if _, err := e.users.SetPassword(e.ctx, tok, form); fieldsOf(err) != "code" {
		t.Errorf("an old code: %v", err)
	}
	// The code is checked against real time, never the service clock: a
	// code made for the service clock's instant is refused.
	form.Code = e.code(v.Secret, e.clock.Now())
	if _, err := e.users.SetPassword(e.ctx, tok, form); fieldsOf(err) != "code" {
		t.Errorf("a code of the service clock: %v", err)
	}
	weak := form
	weak.TOTPSecret, weak.Code = "JBSWY3DPEHPK3PXP", e.code("JBSWY3DPEHPK3PXP", e.realNow())
	if _, err := e.users.SetPassword(e.ctx, tok, weak); fieldsOf(err) != "code" {
		t.Errorf("an 80-bit secret was enrolled: %v", err)
	}
	form.Code = e.code(v.Secret, e.realNow())
	codes, err := e.users.SetPassword(e.ctx, tok, form)
	if err != nil || len(codes) != 10 {
		t.Fatalf("enrol: %v %v", codes, err)
	}
	if got, _ := e.users.Get(e.ctx, u.ID); !got.TOTP || got.Status != people.UserActive {
		t.Fatalf("after enrolment: %+v", got)
	}

	st, err := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.2")
	if err != nil || !st.NeedsTOTP() || st.Session != "" || len(st.Challenge) != 43 {
		t.Fatalf("password step: %+v %v", st, err)
	}
	// The enrolment's code (same step) is not accepted again.
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, form.Code, "10.0.0.2"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("the enrolment's code was reused: %v", err)
	}
	// A wrong code leaves the challenge usable.
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, "000000", "10.0.0.2"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("a wrong code: %v", err)
	}
	e.tick(30 * time.Second)
	next := e.code(v.Secret, e.realNow())
	done, err := e.users.SignInTOTP(e.ctx, st.Challenge, next[:3]+" "+next[3:], "10.0.0.2")
	if err != nil || done.Session == "" || done.NeedsTOTP() || done.User.ID != u.ID {
		t.Fatalf("TOTP step: %+v %v", done, err)
	}
	if _, err := e.users.Session(e.ctx, done.Session); err != nil {
		t.Fatal(err)
	}
	// The challenge is used once.
	e.tick(30 * time.Second)
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, e.code(v.Secret, e.realNow()), "10.0.0.2"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("a used challenge: %v", err)
	}
	// One step of skew either way; a step at or before the last used is refused.
	st2, _ := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.2")
	if _, err := e.users.SignInTOTP(e.ctx, st2.Challenge, e.code(v.Secret, e.realNow().Add(-30*time.Second)), "10.0.0.2"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("the step already used was accepted again: %v", err)
	}
	if _, err := e.users.SignInTOTP(e.ctx, st2.Challenge, e.code(v.Secret, e.realNow().Add(30*time.Second)), "10.0.0.2"); err != nil {
		t.Errorf("the next step (skew +1): %v", err)
	}
	e.tick(5 * time.Minute)
	st3, _ := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.2")
	if _, err := e.users.SignInTOTP(e.ctx, st3.Challenge, e.code(v.Secret, e.realNow().Add(60*time.Second)), "10.0.0.2"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("two steps ahead was accepted: %v", err)
	}
	if _, err := e.users.SignInTOTP(e.ctx, st3.Challenge, e.code(v.Secret, e.realNow().Add(-30*time.Second)), "10.0.0.2"); err != nil {
		t.Errorf("the previous step (skew -1): %v", err)
	}
	// A challenge lives ChallengeTTL (service clock).
	st4, _ := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.2")
	e.later(people.ChallengeTTL)
	e.tick(time.Minute)
	if _, err := e.users.SignInTOTP(e.ctx, st4.Challenge, e.code(v.Secret, e.realNow()), "10.0.0.2"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("an expired challenge: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, _, codes := e.active("adi@lunas.id", people.RoleAdmin)
	st, _ := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.3")
	done, err := e.users.SignInTOTP(e.ctx, st.Challenge, " "+strings.ToUpper(codes[3])+" ", "10.0.0.3")
	if err != nil || done.Session == "" {
		t.Fatalf("recovery code: %v", err)
	}
	st, _ = e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.3")
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, codes[3], "10.0.0.3"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("a recovery code worked twice: %v", err)
	}
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, "abcd-efgh-ijkl-mnop", "10.0.0.3"); !errors.Is(err, people.ErrSignIn) {
		t.Errorf("an unknown recovery code: %v", err)
	}
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, codes[4], "10.0.0.3"); err != nil {
		t.Errorf("another recovery code: %v", err)
	}
	var stored int
	_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM user_recovery_codes WHERE code_hash = convert_to($1, 'UTF8')`, codes[0]).Scan(&stored)
	if stored != 0 {
		t.Error("a recovery code is stored as given")
	}
	page, _ := e.audit.List(e.ctx, people.AuditFilter{Actor: "adi@lunas.id", Limit: 1})
	if len(page.Entries) != 1 || string(page.Entries[0].After) != `{"method": "recovery_code", "recovery_codes_left": 8}` {
		t.Errorf("audit of a recovery code: %+v", page.Entries)
	}
}

func TestThrottleByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.active("rina@lunas.id", people.RoleViewer)
	// Four failures, then the window passes: the count starts again.
	for i := range 4 {
		if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", "wrong password "+string(rune('a'+i)), "10.1.0.1"); !errors.Is(err, people.ErrSignIn) {
			t.Fatal(err)
		}
	}
	e.later(people.ThrottleWindow)
	for i := range 4 {
		if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", "wrong again "+string(rune('a'+i)), "10.1.0.2"); !errors.Is(err, people.ErrSignIn) {
			t.Fatal(err)
		}
	}
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.1.0.2"); err != nil {
		t.Fatalf("4 + 4 failures in two windows locked the user out: %v", err)
	}
	// A success clears the count; then five failures within the window
	// lock the e-mail out (from any address), answered as a wrong password.
	for i := range 5 {
		e.later(time.Minute)
		if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", "wrong", "10.1.0."+string(rune('3'+i))); !errors.Is(err, people.ErrSignIn) {
			t.Fatal(err)
		}
	}
	_, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.9.9.9")
	if err != people.ErrSignIn {
		t.Fatalf("right password while locked: %v (want the very value of a wrong password)", err)
	}
	e.later(people.LockOut - time.Second)
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.9.9.9"); err != people.ErrSignIn {
		t.Fatalf("locked 14:59 after: %v", err)
	}
	e.later(time.Second)
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.9.9.9"); err != nil {
		t.Fatalf("15 minutes after the lock-out: %v", err)
	}
	// An unknown e-mail is throttled the same way (no enumeration).
	for range 5 {
		if _, err := e.users.SignIn(e.ctx, "nobody@lunas.id", "whatever", "10.2.0.1"); err != people.ErrSignIn {
			t.Fatal(err)
		}
	}
	var locked int
	_ = e.pool.QueryRow(e.ctx, `SELECT count(*) FROM sign_in_locks WHERE key = 'email:nobody@lunas.id'`).Scan(&locked)
	if locked != 1 {
		t.Error("an unknown e-mail is not throttled like a known one")
	}
	// Wrong TOTP codes count too.
	_, secret, _ := e.active("adi@lunas.id", people.RoleApprover)
	st, err := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.3.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, "123456", "10.3.0.1"); err != people.ErrSignIn {
			t.Fatal(err)
		}
	}
	e.tick(30 * time.Second)
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, e.code(secret, e.realNow()), "10.3.0.1"); err != people.ErrSignIn {
		t.Errorf("the right code after five wrong ones: %v", err)
	}
}

// Parallel tries cannot outrun the count: each takes its slot before its
// password is checked, so of twelve at once exactly five are checked.
func TestThrottleParallel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.active("rina@lunas.id", people.RoleViewer)
	errs := make(chan error, 12)
	for i := range 12 {
		go func() {
			_, err := e.users.SignIn(e.ctx, "rina@lunas.id", "wrong password", "10.4.0."+string(rune('a'+i)))
			errs <- err
		}()
	}
	for range 12 {
		if err := <-errs; err != people.ErrSignIn {
			t.Errorf("parallel try: %v", err)
		}
	}
	var failures, locks int
	_ = e.pool.QueryRow(e.ctx, `SELECT (SELECT count(*) FROM sign_in_failures WHERE email = 'rina@lunas.id'),
		(SELECT count(*) FROM sign_in_locks WHERE key = 'email:rina@lunas.id')`).Scan(&failures, &locks)
	if failures != people.MaxEmailFailure || locks != 1 {
		t.Errorf("%d tries were checked and %d locks set, want %d and 1", failures, locks, people.MaxEmailFailure)
	}
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.4.0.1"); err != people.ErrSignIn {
		t.Errorf("the right password after the parallel burst: %v", err)
	}
}

func TestThrottleByAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.active("rina@lunas.id", people.RoleReviewer)
	for i := range 20 {
		e.later(30 * time.Second)
		email := "guess" + string(rune('a'+i)) + "@lunas.id"
		if _, err := e.users.SignIn(e.ctx, email, "wrong", "192.0.2.7:"+string(rune('1'+i%9))+"000"); err != people.ErrSignIn {
			t.Fatal(err)
		}
	}
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "192.0.2.7"); err != people.ErrSignIn {
		t.Fatalf("the 21st try from one address: %v", err)
	}
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "192.0.2.8"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	e.later(people.LockOut)
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "192.0.2.7"); err != nil {
		t.Fatalf("after the lock-out: %v", err)
	}
}

func TestAPITokenNeverSignsIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.active("rina@lunas.id", people.RoleAdmin)
	for _, c := range [][2]string{{"dev-finance-token", "dev-finance-token"}, {"finance", "dev-finance-token"}, {"rina@lunas.id", "dev-finance-token"}} {
		if _, err := e.users.SignIn(e.ctx, c[0], c[1], "10.0.0.9"); err != people.ErrSignIn {
			t.Errorf("sign in as %q: %v", c[0], err)
		}
	}
}

func TestSessionsEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, _, _ := e.active("rina@lunas.id", people.RoleReviewer)
	st, _ := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.0.0.1")
	// Requests keep a session alive until its maximum age.
	for range 24 { // to 11 h 36 min
		e.later(29 * time.Minute)
		if _, err := e.users.Session(e.ctx, st.Session); err != nil {
			t.Fatalf("a used session ended early: %v", err)
		}
	}
	e.later(29 * time.Minute) // 12 h 05 min, idle 29 min
	if _, err := e.users.Session(e.ctx, st.Session); !errors.Is(err, people.ErrNoSession) {
		t.Errorf("a session past its maximum age: %v", err)
	}
	st, _ = e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.0.0.1")
	e.later(30 * time.Minute)
	if _, err := e.users.Session(e.ctx, st.Session); !errors.Is(err, people.ErrNoSession) {
		t.Errorf("a session idle for 30 min: %v", err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 43)} {
		if _, err := e.users.Session(e.ctx, bad); !errors.Is(err, people.ErrNoSession) {
			t.Errorf("session %q: %v", bad, err)
		}
	}

	// Disabling ends every session at once.
	a, _ := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.0.0.1")
	b, _ := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.0.0.2")
	other, _, _ := e.active("adi@lunas.id", people.RoleViewer)
	o, _ := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.3")
	var disabled people.User
	if err := e.tx(func(tx pgx.Tx) error {
		var err error
		disabled, err = e.users.Disable(e.ctx, tx, u.ID)
		return err
	}); err != nil || disabled.Status != people.UserDisabled || disabled.DisabledAt == nil {
		t.Fatalf("disable: %+v %v", disabled, err)
	}
	for _, tok := range []string{a.Session, b.Session} {
		if _, err := e.users.Session(e.ctx, tok); !errors.Is(err, people.ErrNoSession) {
			t.Errorf("a disabled user's session: %v", err)
		}
	}
	if s, err := e.users.Session(e.ctx, o.Session); err != nil || s.User.ID != other.ID {
		t.Errorf("another user's session ended: %v", err)
	}
	if _, err := e.users.SignIn(e.ctx, "rina@lunas.id", pw, "10.0.0.1"); err != people.ErrSignIn {
		t.Errorf("a disabled user signed in: %v", err)
	}
	err := e.tx(func(tx pgx.Tx) error { _, err := e.users.Disable(e.ctx, tx, u.ID); return err })
	if lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("disable twice: %v", err)
	}
	err = e.tx(func(tx pgx.Tx) error { _, _, err := e.users.Reset(e.ctx, tx, u.ID); return err })
	if lunas.KindOf(err) != lunas.KindConflict {
		t.Errorf("reset a disabled user: %v", err)
	}
	err = e.tx(func(tx pgx.Tx) error { _, err := e.users.Disable(e.ctx, tx, "usr_nope"); return err })
	if lunas.KindOf(err) != lunas.KindNotFound {
		t.Errorf("disable unknown: %v", err)
	}
	// Session also checks the user: a session row left behind (another
	// writer, a crash between statements) is refused for a user not active.
	if _, err := e.pool.Exec(e.ctx, `UPDATE users SET status = 'disabled', disabled_at = $2 WHERE id = $1`, other.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.Session(e.ctx, o.Session); !errors.Is(err, people.ErrNoSession) {
		t.Errorf("a session of a user disabled behind the package's back: %v", err)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, oldSecret, oldCodes := e.active("adi@lunas.id", people.RoleApprover)
	st, _ := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.1")
	e.tick(30 * time.Second)
	sess, err := e.users.SignInTOTP(e.ctx, st.Challenge, e.code(oldSecret, e.realNow()), "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var first, tok string
	for i := range 2 {
		if err := e.tx(func(tx pgx.Tx) error {
			var err error
			_, tok, err = e.users.Reset(e.ctx, tx, u.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok
		}
	}
	if _, err := e.users.Welcome(e.ctx, first); !errors.Is(err, people.ErrLink) {
		t.Errorf("an earlier reset link still works: %v", err)
	}
	// Until the new password is set, the old one and the session stand.
	if _, err := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.1"); err != nil {
		t.Errorf("the old password stopped working at the reset: %v", err)
	}
	if _, err := e.users.Session(e.ctx, sess.Session); err != nil {
		t.Errorf("the reset ended a session: %v", err)
	}
	v, err := e.users.Welcome(e.ctx, tok)
	if err != nil || !v.Reset || !v.NeedsTOTP || v.Secret == oldSecret {
		t.Fatalf("reset page: %+v %v", v, err)
	}
	const newPW = "lima ekor bebek berenang"
	e.tick(30 * time.Second)
	codes, err := e.users.SetPassword(e.ctx, tok, people.SetPasswordForm{Password: newPW, PasswordConfirm: newPW,
		TOTPSecret: v.Secret, Code: e.code(v.Secret, e.realNow())})
	if err != nil || len(codes) != 10 {
		t.Fatalf("reset: %v %v", codes, err)
	}
	if _, err := e.users.Session(e.ctx, sess.Session); !errors.Is(err, people.ErrNoSession) {
		t.Errorf("a session outlived the reset: %v", err)
	}
	if _, err := e.users.SignIn(e.ctx, "adi@lunas.id", pw, "10.0.0.1"); err != people.ErrSignIn {
		t.Errorf("the old password still works: %v", err)
	}
	st, err = e.users.SignIn(e.ctx, "adi@lunas.id", newPW, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.tick(30 * time.Second)
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, oldCodes[0], "10.0.0.1"); err != people.ErrSignIn {
		t.Errorf("an old recovery code works after the reset: %v", err)
	}
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, e.code(oldSecret, e.realNow()), "10.0.0.1"); err != people.ErrSignIn {
		t.Errorf("the old secret works after the reset: %v", err)
	}
	if _, err := e.users.SignInTOTP(e.ctx, st.Challenge, e.code(v.Secret, e.realNow()), "10.0.0.1"); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	err = e.tx(func(tx pgx.Tx) error { _, _, err := e.users.Reset(e.ctx, tx, "usr_nope"); return err })
	if lunas.KindOf(err) != lunas.KindNotFound {
		t.Errorf("reset unknown: %v", err)
	}
}
