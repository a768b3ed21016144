package people

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas/store"
)

// Step is the outcome of a sign-in step that succeeded: either a session
// (Session set) or, for a user with TOTP, the challenge to answer with a
// code at SignInTOTP (Challenge set).
type Step struct {
	User      User
	Session   string    // the session token: the cookie's value (only its hash is stored)
	CSRF      string    // the session's CSRF token for its forms
	Challenge string    // single-use token of the pending TOTP step
	ExpiresAt time.Time // when the session, or the challenge, ends at the latest
}

// NeedsTOTP reports whether a code must follow (SignInTOTP).
func (s Step) NeedsTOTP() bool { return s.Challenge != "" }

// ValidCSRF reports whether form (the form's CSRF field) is this
// session's CSRF token, compared in constant time.
func (x Session) ValidCSRF(form string) bool {
	return form != "" && subtle.ConstantTimeCompare([]byte(form), []byte(x.CSRF)) == 1
}

// Session is a live session.
type Session struct {
	User      User
	CSRF      string // compare with the form's field, in constant time
	CreatedAt time.Time
	ExpiresAt time.Time // at the latest; it also ends after Options.SessionIdle without a request
}

// normAddr keeps the host of a client address ("ip:port" → "ip"), so the
// throttle counts by client, not by connection.
func normAddr(addr string) string {
	addr = strings.TrimSpace(addr)
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// lockKeys are the throttle's keys for an e-mail and an address (” for
// an unknown one: not counted).
func lockKeys(email, addr string) []string {
	var keys []string
	if email != "" {
		keys = append(keys, "email:"+email)
	}
	if addr != "" {
		keys = append(keys, "addr:"+addr)
	}
	return keys
}

// The throttle. Every try takes a slot before its secret is checked: a
// row in sign_in_failures, written under an advisory lock per e-mail and
// per address (taken in that order, so never a deadlock), so parallel
// tries from several processes cannot outrun the count. A try is refused
// (ErrSignIn, its secret never checked) when the e-mail or the address is
// locked out, or already has MaxEmailFailure / MaxAddrFailure rows within
// ThrottleWindow (some may be tries still in flight). A try that fails
// keeps its row and, when the count reaches the limit, locks the e-mail
// or address out for LockOut from then; a refused try takes no row, so
// the lock-out ends LockOut after the failure that caused it, and the
// count starts again. A right password keeps no row; a completed sign-in
// clears the e-mail's rows.

// claim takes a slot for a try by email from addr at now, or refuses it
// with ErrSignIn. It returns the slot's id.
func (s *Users) claim(ctx context.Context, email, addr string, now time.Time) (int64, error) {
	var id int64
	refused := false
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		refused, id = false, 0
		keys := lockKeys(email, addr)
		for _, k := range keys {
			// Class 26 (issue 26) keeps these apart from one-key advisory locks.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(26, hashtext($1))`, k); err != nil {
				return err
			}
		}
		since := now.Add(-ThrottleWindow)
		if _, err := tx.Exec(ctx, `DELETE FROM sign_in_failures WHERE at <= $1`, since); err != nil {
			return err
		}
		var locked bool
		var byEmail, byAddr int
		if err := tx.QueryRow(ctx, `SELECT
				EXISTS (SELECT 1 FROM sign_in_locks WHERE key = ANY($3) AND until > $4),
				(SELECT count(*) FROM sign_in_failures WHERE email = $1 AND $1 <> '' AND at > $5),
				(SELECT count(*) FROM sign_in_failures WHERE addr = $2 AND $2 <> '' AND at > $5)`,
			email, addr, keys, now, since).Scan(&locked, &byEmail, &byAddr); err != nil {
			return err
		}
		if locked || byEmail >= MaxEmailFailure || byAddr >= MaxAddrFailure {
			refused = true
			return nil
		}
		return tx.QueryRow(ctx, `INSERT INTO sign_in_failures (email, addr, at) VALUES ($1, $2, $3) RETURNING id`,
			email, addr, now).Scan(&id)
	})
	if err != nil {
		return 0, store.Unavailable(err)
	}
	if refused {
		return 0, ErrSignIn
	}
	return id, nil
}

// failed settles a failed try (its slot stays a failure): when the e-mail
// or the address has reached its limit within the window, further tries
// are refused for LockOut from now. It returns ErrSignIn.
func (s *Users) failed(ctx context.Context, email, addr string, now time.Time) error {
	since := now.Add(-ThrottleWindow)
	var byEmail, byAddr int
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM sign_in_failures WHERE email = $1 AND $1 <> '' AND at > $3),
			(SELECT count(*) FROM sign_in_failures WHERE addr = $2 AND $2 <> '' AND at > $3)`,
		email, addr, since).Scan(&byEmail, &byAddr)
	if err != nil {
		return store.Unavailable(err)
	}
	var keys []string
	if byEmail >= MaxEmailFailure {
		keys = append(keys, "email:"+email)
	}
	if byAddr >= MaxAddrFailure {
		keys = append(keys, "addr:"+addr)
	}
	for _, k := range keys {
		if _, err := s.pool.Exec(ctx, `INSERT INTO sign_in_locks (key, until) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET until = GREATEST(sign_in_locks.until, EXCLUDED.until)`, k, now.Add(LockOut)); err != nil {
			return store.Unavailable(err)
		}
	}
	if len(keys) > 0 {
		if _, err := s.pool.Exec(ctx, `DELETE FROM sign_in_locks WHERE until <= $1`, now); err != nil {
			return store.Unavailable(err)
		}
	}
	return ErrSignIn
}

// SignIn checks an e-mail and password from the client at addr (its IP;
// a port is dropped). A user without TOTP gets a session; a user with TOTP
// gets a challenge for SignInTOTP (valid ChallengeTTL). Every refusal is
// ErrSignIn, the very same value, and takes as long as a wrong password:
// an unknown e-mail, and a throttled try, are checked against a dummy
// hash. Throttled as claim says.
func (s *Users) SignIn(ctx context.Context, email, password, addr string) (Step, error) {
	now := s.clock.Now().UTC()
	email, addr = normEmail(email), normAddr(addr)
	slot, err := s.claim(ctx, email, addr, now)
	if err != nil {
		if errors.Is(err, ErrSignIn) {
			verifyPassword(s.dummy, password)
		}
		return Step{}, err
	}
	var hash *string
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id), u.password_hash FROM users u WHERE u.email = $1`, email), &hash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Step{}, err
	}
	if err != nil || hash == nil || u.Status != UserActive {
		verifyPassword(s.dummy, password)
		return Step{}, s.failed(ctx, email, addr, now)
	}
	if !verifyPassword(*hash, password) {
		return Step{}, s.failed(ctx, email, addr, now)
	}
	if u.TOTP || u.Role.NeedsTOTP() {
		if !u.TOTP { // cannot happen through SetPassword; refuse rather than skip the factor
			return Step{}, s.failed(ctx, email, addr, now)
		}
		// The right password gives its slot back; the e-mail's failures
		// stay until the second factor passes, so a known password buys no
		// more guesses at the code.
		tok, hash := newSecret()
		exp := now.Add(ChallengeTTL)
		err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `DELETE FROM sign_in_failures WHERE id = $1`, slot); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM sign_in_challenges WHERE expires_at <= $1`, now); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO sign_in_challenges (hash, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4)`,
				hash, u.ID, now, exp)
			return err
		})
		if err != nil {
			return Step{}, store.Unavailable(err)
		}
		return Step{User: u, Challenge: tok, ExpiresAt: exp}, nil
	}
	var st Step
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		st, err = s.startSession(ctx, tx, u, addr, now, "password")
		return err
	})
	return st, err
}

// errWrongCode rolls the TOTP step's transaction back; the caller records
// the failure and answers ErrSignIn.
var errWrongCode = errors.New("people: wrong code")

// SignInTOTP answers challenge (from SignIn) with a code: the
// authenticator's current code (real time, one step of skew, a step
// already used refused) or one of the user's recovery codes (each works
// once). A wrong code leaves the challenge usable until it expires and
// counts as a failure for the user's e-mail and the address; the
// challenge is used up by the code that passes.
func (s *Users) SignInTOTP(ctx context.Context, challenge, code, addr string) (Step, error) {
	now := s.clock.Now().UTC()
	addr = normAddr(addr)
	// Whose challenge it is decides which e-mail the try counts for; an
	// unknown challenge counts for the address alone.
	var u User
	var err error = ErrSignIn
	if len(challenge) == 43 {
		u, err = scanUser(s.pool.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
			EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id)
			FROM sign_in_challenges c JOIN users u ON u.id = c.user_id
			WHERE c.hash = $1 AND c.expires_at > $2 AND u.status = 'active'`, hashSecret(challenge), now))
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return Step{}, err
		}
	}
	if _, cerr := s.claim(ctx, u.Email, addr, now); cerr != nil {
		return Step{}, cerr
	}
	if err != nil {
		return Step{}, s.failed(ctx, u.Email, addr, now)
	}
	code = normalizeCode(code)
	var st Step
	err = store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sign_in_challenges WHERE hash = $1 AND expires_at > $2`, hashSecret(challenge), now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 { // another request used it first
			return errWrongCode
		}
		method := "totp"
		if isTOTPCode(code) {
			var secret string
			var last int64
			if err := tx.QueryRow(ctx, `SELECT secret, last_step FROM user_totp WHERE user_id = $1 FOR UPDATE`, u.ID).
				Scan(&secret, &last); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return errWrongCode
				}
				return err
			}
			step, ok := totpStep(secret, code, s.realNow())
			if !ok || step <= last { // RFC 6238 §5.2: a code's step is accepted once
				return errWrongCode
			}
			if _, err := tx.Exec(ctx, `UPDATE user_totp SET last_step = $2 WHERE user_id = $1`, u.ID, step); err != nil {
				return err
			}
		} else {
			method = "recovery_code"
			tag, err := tx.Exec(ctx, `UPDATE user_recovery_codes SET used_at = $3
				WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`, u.ID, recoveryHash(u.ID, code), now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return errWrongCode
			}
		}
		st, err = s.startSession(ctx, tx, u, addr, now, method)
		return err
	})
	if errors.Is(err, errWrongCode) {
		return Step{}, s.failed(ctx, u.Email, addr, now)
	}
	if err != nil {
		return Step{}, store.Unavailable(err)
	}
	return st, nil
}

// startSession stores a new session for u (sessions past their time are
// deleted on the way), clears u's counted failures, and records the
// sign-in in the audit log.
func (s *Users) startSession(ctx context.Context, tx pgx.Tx, u User, addr string, now time.Time, method string) (Step, error) {
	tok, hash := newSecret()
	csrf, _ := newSecret()
	exp := now.Add(s.maxAge)
	if _, err := tx.Exec(ctx, `DELETE FROM user_sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		now, now.Add(-s.idle)); err != nil {
		return Step{}, store.Unavailable(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO user_sessions (hash, user_id, csrf, addr, created_at, last_seen_at, expires_at)
		VALUES ($1,$2,$3,$4,$5,$5,$6)`, hash, u.ID, csrf, addr, now, exp); err != nil {
		return Step{}, store.Unavailable(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sign_in_failures WHERE email = $1`, u.Email); err != nil {
		return Step{}, store.Unavailable(err)
	}
	after := map[string]any{"method": method}
	if method == "recovery_code" {
		var left int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL`, u.ID).
			Scan(&left); err != nil {
			return Step{}, store.Unavailable(err)
		}
		after["recovery_codes_left"] = left
	}
	b, _ := json.Marshal(after)
	if err := s.audit.Record(ctx, tx, AuditEntry{Actor: u.Email, At: now, Addr: addr, Action: "session.sign_in",
		Object: u.ID, After: b}); err != nil {
		return Step{}, err
	}
	return Step{User: u, Session: tok, CSRF: csrf, ExpiresAt: exp}, nil
}

// Session returns the live session of token and marks it seen now (its
// idle time starts again). ErrNoSession when there is none, it is past
// its idle time or its end, or its user is not active: a disabled user's
// sessions end at once even before their rows go.
func (s *Users) Session(ctx context.Context, token string) (Session, error) {
	if len(token) != 43 {
		return Session{}, ErrNoSession
	}
	now := s.clock.Now().UTC()
	var x Session
	u, err := scanUser(s.pool.QueryRow(ctx, `
		UPDATE user_sessions x SET last_seen_at = $2 FROM users u
		WHERE x.hash = $1 AND u.id = x.user_id AND u.status = 'active' AND x.expires_at > $2 AND x.last_seen_at > $3
		RETURNING u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id), x.csrf, x.created_at, x.expires_at`, hashSecret(token), now, now.Add(-s.idle)),
		&x.CSRF, &x.CreatedAt, &x.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, err
	}
	x.User, x.CreatedAt, x.ExpiresAt = u, x.CreatedAt.UTC(), x.ExpiresAt.UTC()
	return x, nil
}

// SignOut ends the session of token (for every process: the row goes) and
// records it. Signing out of no session is not an error.
func (s *Users) SignOut(ctx context.Context, token, addr string) error {
	if len(token) != 43 {
		return nil
	}
	now := s.clock.Now().UTC()
	return store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var id, email string
		err := tx.QueryRow(ctx, `DELETE FROM user_sessions x USING users u WHERE x.hash = $1 AND u.id = x.user_id
			RETURNING u.id, u.email`, hashSecret(token)).Scan(&id, &email)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return store.Unavailable(err)
		}
		return s.audit.Record(ctx, tx, AuditEntry{Actor: email, At: now, Addr: normAddr(addr), Action: "session.sign_out", Object: id})
	})
}
