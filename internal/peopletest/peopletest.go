// Package peopletest seeds finance people for tests that need someone
// signed in to the console: a user made through package people's own
// calls (Add, the welcome link's SetPassword with a TOTP code for the roles
// that need one) and signed in through SignIn / SignInTOTP, so the
// session is exactly what the sign-in form gives.
//
// TOTP codes are checked against "real time" (people.Options.RealNow).
// Each step's code is accepted once, so a test passes RealClock.Now as
// RealNow and the helpers move it a step on before every code: enrolment
// and sign-ins in quick succession never reuse a step, and no test waits
// 30 seconds.
package peopletest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"

	"github.com/lunas-id/lunas/people"
	"github.com/lunas-id/lunas/store"
)

// Password is every seeded person's password (≥ 12 characters, not common).
const Password = "kopi-tubruk-Sabang-42"

// RealClock is the authenticator's time for tests: real time plus the
// steps moved on.
type RealClock struct {
	mu  sync.Mutex
	off time.Duration
}

// Now is real time plus the steps moved on.
func (c *RealClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Code moves the clock on one TOTP step and returns secret's code for it.
func (c *RealClock) Code(t testing.TB, secret string) string {
	t.Helper()
	c.mu.Lock()
	c.off += 30 * time.Second
	c.mu.Unlock()
	code, err := totp.GenerateCode(secret, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// Person is a seeded user and what signs them in.
type Person struct {
	people.User
	Password string
	Secret   string   // TOTP secret (roles with TOTP)
	Codes    []string // recovery codes (roles with TOTP)
}

// Invite adds an invited user and returns the welcome link's token.
func Invite(t testing.TB, db *store.DB, users *people.Users, email string, role people.Role) (people.User, string) {
	t.Helper()
	ctx := context.Background()
	var u people.User
	var tok string
	err := store.InTx(ctx, db, func(tx pgx.Tx) error {
		var err error
		u, tok, err = users.Add(ctx, tx, email, "Test "+string(role), role)
		return err
	})
	if err != nil {
		t.Fatalf("add %s: %v", email, err)
	}
	return u, tok
}

// Seed adds an active user with Password (and TOTP enrolled when the role
// needs it).
func Seed(t testing.TB, db *store.DB, users *people.Users, real *RealClock, email string, role people.Role) Person {
	t.Helper()
	ctx := context.Background()
	u, tok := Invite(t, db, users, email, role)
	w, err := users.Welcome(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	f := people.SetPasswordForm{Password: Password, PasswordConfirm: Password, Addr: "127.0.0.1"}
	if w.NeedsTOTP {
		f.TOTPSecret, f.Code = w.Secret, real.Code(t, w.Secret)
	}
	codes, err := users.SetPassword(ctx, tok, f)
	if err != nil {
		t.Fatalf("set the password of %s: %v", email, err)
	}
	u.Status, u.TOTP = people.UserActive, w.NeedsTOTP
	return Person{User: u, Password: Password, Secret: w.Secret, Codes: codes}
}

// SignIn signs p in (password, then a TOTP code when p has one) and
// returns the session token: the console's session cookie value.
func SignIn(t testing.TB, users *people.Users, real *RealClock, p Person) string {
	t.Helper()
	ctx := context.Background()
	st, err := users.SignIn(ctx, p.Email, p.Password, "127.0.0.1")
	if err != nil {
		t.Fatalf("sign in %s: %v", p.Email, err)
	}
	if st.NeedsTOTP() {
		if st, err = users.SignInTOTP(ctx, st.Challenge, real.Code(t, p.Secret), "127.0.0.1"); err != nil {
			t.Fatalf("sign in %s, code: %v", p.Email, err)
		}
	}
	return st.Session
}
