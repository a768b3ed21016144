package people

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/lunas-id/lunas"
	"github.com/lunas-id/lunas/clock"
	"github.com/lunas-id/lunas/store"
)

// UserStatus is where a person stands.
type UserStatus string

// The statuses.
const (
	UserInvited  UserStatus = "invited"  // added; the welcome link has not been used yet
	UserActive   UserStatus = "active"   // has a password (and TOTP when the role needs it)
	UserDisabled UserStatus = "disabled" // may no longer sign in; sessions ended
)

// UserStatuses lists every status.
func UserStatuses() []UserStatus { return []UserStatus{UserInvited, UserActive, UserDisabled} }

// Valid reports whether s is one of the statuses.
func (s UserStatus) Valid() bool { return slices.Contains(UserStatuses(), s) }

// User is a person of the finance team. It carries no secret.
type User struct {
	ID            string     `json:"id"`
	Email         string     `json:"email"` // lower-case; the actor of the person's audit rows
	Name          string     `json:"name"`
	Role          Role       `json:"role"`
	Status        UserStatus `json:"status"`
	TOTP          bool       `json:"totp"` // a TOTP secret is enrolled
	CreatedAt     time.Time  `json:"created_at"`
	PasswordSetAt *time.Time `json:"password_set_at,omitempty"`
	DisabledAt    *time.Time `json:"disabled_at,omitempty"`
}

// Durations of the rules (API.md).
const (
	LinkTTL         = 24 * time.Hour   // a welcome or reset link
	ChallengeTTL    = 5 * time.Minute  // between the password and the TOTP step
	ThrottleWindow  = 15 * time.Minute // failures are counted over this
	LockOut         = 15 * time.Minute // how long tries are refused once over the limit
	MaxEmailFailure = 5                // failures for one e-mail within the window
	MaxAddrFailure  = 20               // failures from one address within the window
)

// Errors the console compares with errors.Is.
var (
	// ErrSignIn answers every refused sign-in alike: unknown e-mail, wrong
	// password, wrong or reused code, disabled user, throttled. Telling
	// them apart would tell an attacker which e-mails exist.
	ErrSignIn = lunas.E(lunas.KindInvalid, "wrong e-mail, password or code")
	// ErrNoSession: the session token is unknown, ended or expired, or its
	// user is no longer active. The console redirects to sign-in.
	ErrNoSession = lunas.E(lunas.KindNotFound, "no session")
	// ErrLink: the welcome or reset link is unknown, expired, used, or its
	// user disabled.
	ErrLink = lunas.E(lunas.KindNotFound, "this link has expired or has already been used")
)

// Options configure Users. Clock is required.
type Options struct {
	Clock clock.Clock // the service clock: links, sessions, throttling, audit times
	// RealNow is the time TOTP codes are checked against: real time, the
	// authenticator's. Default time.Now. Tests fix it; never the service
	// clock.
	RealNow func() time.Time
	Issuer  string       // shown in the authenticator app; default "lunas"
	Argon2  Argon2Params // cost of new password hashes; zero: DefaultArgon2
	// SessionIdle ends a session this long after its last request
	// (default 30 min); SessionMaxAge ends it anyway (default 12 h), as the
	// console's token sessions did.
	SessionIdle, SessionMaxAge time.Duration
}

// Users manages people, their passwords and TOTP, sign-in and sessions.
type Users struct {
	pool    *store.DB
	clock   clock.Clock
	realNow func() time.Time
	issuer  string
	argon   Argon2Params
	idle    time.Duration
	maxAge  time.Duration
	common  map[string]struct{}
	dummy   string // hash of a random password: unknown e-mails are checked against it
	audit   *AuditLog
}

// NewUsers returns Users on pool.
func NewUsers(pool *store.DB, o Options) *Users {
	if o.RealNow == nil {
		o.RealNow = time.Now
	}
	if o.Issuer == "" {
		o.Issuer = "lunas"
	}
	if o.Argon2 == (Argon2Params{}) {
		o.Argon2 = DefaultArgon2()
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = 30 * time.Minute
	}
	if o.SessionMaxAge <= 0 {
		o.SessionMaxAge = 12 * time.Hour
	}
	tok, _ := newSecret()
	return &Users{pool: pool, clock: o.Clock, realNow: o.RealNow, issuer: o.Issuer, argon: o.Argon2,
		idle: o.SessionIdle, maxAge: o.SessionMaxAge, common: loadCommon(),
		dummy: hashPassword(tok, o.Argon2), audit: NewAuditLog(pool, o.Clock)}
}

// newSecret returns 256 random bits as base64url (43 characters: a link
// token, session token or challenge) and the SHA-256 that is stored.
func newSecret() (string, []byte) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	return s, hashSecret(s)
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// normEmail is how e-mails are compared and stored: trimmed, lower-case.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// scanUser reads a User from the columns u.id, u.email, u.name, u.role,
// u.status, u.created_at, u.password_set_at, u.disabled_at and whether a
// TOTP secret is enrolled (EXISTS … user_totp), then extra. The columns
// are written out in each query: SQL is literals only (security_test.go).
func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &u.Status, &u.CreatedAt, &u.PasswordSetAt, &u.DisabledAt, &u.TOTP}, extra...)
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, err
	}
	if err != nil {
		return u, store.Unavailable(err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// auditView is what the audit log keeps of a user (no secrets).
func auditView(u User) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"email": u.Email, "name": u.Name, "role": u.Role, "status": u.Status, "totp": u.TOTP})
	return b
}

// Add creates an invited user and returns the welcome token for the link
// LUNAS_PUBLIC_URL/console/welcome/{token} (valid LinkTTL, used once).
// The e-mail is stored lower-case and is unique: a second user with it is
// a conflict. Runs in the caller's tx (record the audit row there too).
func (s *Users) Add(ctx context.Context, tx pgx.Tx, email, name string, role Role) (User, string, error) {
	email, name = normEmail(email), strings.TrimSpace(name)
	var v lunas.ValidationError
	if email == "" {
		v.Add("email", "is required")
	} else if a, err := mail.ParseAddress(email); err != nil || a.Address != email || a.Name != "" {
		v.Add("email", "is not an e-mail address")
	}
	switch {
	case name == "":
		v.Add("name", "is required")
	case utf8.RuneCountInString(name) > 200:
		v.Add("name", "must be at most 200 characters")
	}
	if !role.Valid() {
		v.Add("role", "must be viewer, reviewer, approver or admin")
	}
	if err := v.Err(); err != nil {
		return User{}, "", err
	}
	now := s.clock.Now().UTC()
	id := store.NewID("usr")
	u, err := scanUser(tx.QueryRow(ctx, `
		INSERT INTO users AS u (id, email, name, role, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'invited', $5, $5)
		ON CONFLICT (email) DO NOTHING
		RETURNING u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id)`, id, email, name, role, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, "", lunas.E(lunas.KindConflict, "a user with the e-mail %s already exists", email)
	}
	if err != nil {
		return User{}, "", err
	}
	tok, err := s.issueLink(ctx, tx, u, now)
	return u, tok, err
}

// issueLink voids the user's unused links and stores a new one.
func (s *Users) issueLink(ctx context.Context, tx pgx.Tx, u User, now time.Time) (string, error) {
	if _, err := tx.Exec(ctx, `UPDATE user_tokens SET used_at = $2, void = true WHERE user_id = $1 AND used_at IS NULL`,
		u.ID, now); err != nil {
		return "", store.Unavailable(err)
	}
	purpose := "reset"
	if u.Status == UserInvited {
		purpose = "welcome"
	}
	tok, hash := newSecret()
	_, err := tx.Exec(ctx, `INSERT INTO user_tokens (hash, user_id, purpose, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)`,
		hash, u.ID, purpose, now, now.Add(LinkTTL))
	return tok, store.Unavailable(err)
}

// Get returns the user with id.
func (s *Users) Get(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id) FROM users u WHERE u.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, lunas.E(lunas.KindNotFound, "no user %s", id)
	}
	return u, err
}

// ByEmail returns the user with the e-mail (any case).
func (s *Users) ByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id) FROM users u WHERE u.email = $1`, normEmail(email)))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, lunas.E(lunas.KindNotFound, "no user with the e-mail %s", normEmail(email))
	}
	return u, err
}

// List returns every user, by e-mail (a finance team is small).
func (s *Users) List(ctx context.Context) ([]User, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id) FROM users u ORDER BY u.email`)
	if err != nil {
		return nil, store.Unavailable(err)
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, store.Unavailable(rows.Err())
}

// Disable stops a user for good: every session ends at once (the rows
// go, and Session also refuses any user not active), pending sign-in
// challenges and unused links are void. Disabling a disabled user is a
// conflict. Runs in the caller's tx.
func (s *Users) Disable(ctx context.Context, tx pgx.Tx, id string) (User, error) {
	now := s.clock.Now().UTC()
	u, err := scanUser(tx.QueryRow(ctx, `
		UPDATE users u SET status = 'disabled', disabled_at = $2, updated_at = $2
		WHERE u.id = $1 AND u.status <> 'disabled'
		RETURNING u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
			EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id)`, id, now))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, gerr := s.get(ctx, tx, id); gerr != nil {
			return User{}, gerr
		}
		return User{}, lunas.E(lunas.KindConflict, "user %s is already disabled", id)
	}
	if err != nil {
		return User{}, err
	}
	if err := endAccess(ctx, tx, id); err != nil {
		return User{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE user_tokens SET used_at = $2, void = true WHERE user_id = $1 AND used_at IS NULL`,
		id, now); err != nil {
		return User{}, store.Unavailable(err)
	}
	return u, nil
}

// endAccess ends every session and pending sign-in challenge of a user.
func endAccess(ctx context.Context, tx pgx.Tx, userID string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, userID); err != nil {
		return store.Unavailable(err)
	}
	_, err := tx.Exec(ctx, `DELETE FROM sign_in_challenges WHERE user_id = $1`, userID)
	return store.Unavailable(err)
}

// get reads a user inside tx and locks the row.
func (s *Users) get(ctx context.Context, tx pgx.Tx, id string) (User, error) {
	u, err := scanUser(tx.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id)
		FROM users u WHERE u.id = $1 FOR UPDATE OF u`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, lunas.E(lunas.KindNotFound, "no user %s", id)
	}
	return u, err
}

// Reset issues a new one-time link (valid LinkTTL) for a user who forgot
// their password or lost their authenticator, and voids the earlier ones.
// Nothing else changes until the link is used: the old password (and TOTP)
// keep working, so a reset nobody asked for locks no one out; using the
// link sets a new password and, for a role with TOTP, enrols a new secret
// and new recovery codes (the admin who issued the link vouches for the
// person), and ends the user's sessions. A disabled user cannot be reset.
// Runs in the caller's tx.
func (s *Users) Reset(ctx context.Context, tx pgx.Tx, id string) (User, string, error) {
	u, err := s.get(ctx, tx, id)
	if err != nil {
		return User{}, "", err
	}
	if u.Status == UserDisabled {
		return User{}, "", lunas.E(lunas.KindConflict, "user %s is disabled", id)
	}
	tok, err := s.issueLink(ctx, tx, u, s.clock.Now().UTC())
	return u, tok, err
}

// WelcomeView is what the welcome (or reset) page shows.
type WelcomeView struct {
	User      User
	Reset     bool      // a reset link (the user had a password)
	ExpiresAt time.Time // of the link
	// NeedsTOTP: the role signs in with TOTP, so the page shows a fresh
	// secret as a QR code (QRCodePNG(OTPAuthURL)) and as base32 text, keeps
	// Secret in the form (it comes back to SetPassword) and asks for the
	// first `code`.
	NeedsTOTP  bool
	Secret     string // base32, no padding
	OTPAuthURL string // otpauth://totp/lunas:{email}?secret=…&issuer=lunas&algorithm=SHA1&digits=6&period=30
}

// linkUser reads the live link tok and its user; ErrLink when there is
// none, it expired, was used, or the user is disabled.
func (s *Users) linkUser(ctx context.Context, q store.Querier, tok string, now time.Time, lock bool) (User, string, time.Time, error) {
	if len(tok) != 43 {
		return User{}, "", time.Time{}, ErrLink
	}
	var row pgx.Row
	if lock {
		row = q.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id), t.purpose, t.expires_at
			FROM user_tokens t JOIN users u ON u.id = t.user_id
			WHERE t.hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND u.status <> 'disabled'
			FOR UPDATE OF t, u`, hashSecret(tok), now)
	} else {
		row = q.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
		EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id), t.purpose, t.expires_at
			FROM user_tokens t JOIN users u ON u.id = t.user_id
			WHERE t.hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 AND u.status <> 'disabled'`, hashSecret(tok), now)
	}
	var purpose string
	var exp time.Time
	u, err := scanUser(row, &purpose, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, "", time.Time{}, ErrLink
	}
	return u, purpose, exp.UTC(), err
}

// Welcome tells the page for link tok what to show. For a role with TOTP
// every call makes a new secret (nothing is stored until SetPassword):
// reloading the page shows a new QR code.
func (s *Users) Welcome(ctx context.Context, tok string) (WelcomeView, error) {
	u, purpose, exp, err := s.linkUser(ctx, s.pool, tok, s.clock.Now().UTC(), false)
	if err != nil {
		return WelcomeView{}, err
	}
	v := WelcomeView{User: u, Reset: purpose == "reset", ExpiresAt: exp, NeedsTOTP: u.Role.NeedsTOTP()}
	if v.NeedsTOTP {
		key, err := newTOTPKey(s.issuer, u.Email)
		if err != nil {
			return WelcomeView{}, lunas.Wrap(lunas.KindInternal, err, "make a TOTP secret")
		}
		v.Secret, v.OTPAuthURL = key.Secret(), key.URL()
	}
	return v, nil
}

// SetPasswordForm is the welcome page's form.
type SetPasswordForm struct {
	Password        string // field `password`
	PasswordConfirm string // field `password_confirm`
	TOTPSecret      string // WelcomeView.Secret, carried by the form (TOTP roles)
	Code            string // field `code`: the first code of the authenticator (TOTP roles)
	Addr            string // the client's address, for the audit row
}

// SetPassword uses link tok: it sets the password and, for a role with
// TOTP, enrols form.TOTPSecret once form.Code verifies against it (real
// time, one step of skew), returning RecoveryCodes one-time recovery codes
// to show once (nil for a role without TOTP). Every broken rule is
// reported at once (fields password, password_confirm, code). The link is
// then used up, the user active, and the user's sessions ended (a reset
// replaces the password they were opened with).
func (s *Users) SetPassword(ctx context.Context, tok string, f SetPasswordForm) ([]string, error) {
	var codes []string
	err := store.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		codes = nil
		now := s.clock.Now().UTC()
		u, _, _, err := s.linkUser(ctx, tx, tok, now, true)
		if err != nil {
			return err
		}
		var v lunas.ValidationError
		checkPassword(&v, s.common, u.Email, f.Password, f.PasswordConfirm)
		var step int64
		totpRole := u.Role.NeedsTOTP()
		secret := strings.ToUpper(strings.TrimRight(strings.TrimSpace(f.TOTPSecret), "="))
		if totpRole {
			code := normalizeCode(f.Code)
			switch {
			case !validSecret(secret):
				v.Add("code", "the secret shown is no longer valid: reload the page and scan the new code")
			case code == "":
				v.Add("code", "is required: enter the 6-digit code your authenticator app shows")
			default:
				var ok bool
				if step, ok = totpStep(secret, code, s.realNow()); !ok {
					v.Add("code", "is not the code your authenticator shows now (check the phone's time)")
				}
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		before := auditView(u)
		after, err := scanUser(tx.QueryRow(ctx, `
			UPDATE users u SET password_hash = $2, password_set_at = $3, updated_at = $3,
				status = CASE WHEN u.status = 'invited' THEN 'active' ELSE u.status END
			WHERE u.id = $1
			RETURNING u.id, u.email, u.name, u.role, u.status, u.created_at, u.password_set_at, u.disabled_at,
				EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id)`, u.ID, hashPassword(f.Password, s.argon), now))
		if err != nil {
			return err
		}
		if totpRole {
			if _, err := tx.Exec(ctx, `
				INSERT INTO user_totp (user_id, secret, last_step, enrolled_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, last_step = EXCLUDED.last_step,
					enrolled_at = EXCLUDED.enrolled_at`, u.ID, secret, step, now); err != nil {
				return store.Unavailable(err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM user_recovery_codes WHERE user_id = $1`, u.ID); err != nil {
				return store.Unavailable(err)
			}
			for range RecoveryCodes {
				c := newRecoveryCode()
				if _, err := tx.Exec(ctx, `INSERT INTO user_recovery_codes (user_id, code_hash, created_at) VALUES ($1,$2,$3)`,
					u.ID, recoveryHash(u.ID, c), now); err != nil {
					return store.Unavailable(err)
				}
				codes = append(codes, c)
			}
			after.TOTP = true
		}
		if _, err := tx.Exec(ctx, `UPDATE user_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`,
			u.ID, now); err != nil {
			return store.Unavailable(err)
		}
		if err := endAccess(ctx, tx, u.ID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, AuditEntry{Actor: u.Email, At: now, Addr: f.Addr, Action: "user.set_password",
			Object: u.ID, Before: before, After: auditView(after)})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}
