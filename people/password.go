package people

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/lunas-id/lunas"
)

// Argon2Params are the argon2id costs of new password hashes. A stored
// hash carries its own parameters (PHC string), so changing these never
// locks anyone out.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultArgon2 is OWASP's first recommended argon2id setting (Password
// Storage Cheat Sheet: m=19 MiB, t=2, p=1): about 20–40 ms per hash on one
// core, so a burst of sign-ins does not starve the API.
func DefaultArgon2() Argon2Params { return Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
	// MinPasswordLen is the shortest password accepted, in characters.
	MinPasswordLen = 12
	// maxPasswordLen bounds what is hashed (bytes); NIST SP 800-63B asks
	// for at least 64 characters to be allowed.
	maxPasswordLen = 1024
)

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=…,t=…,p=…$salt$hash (unpadded standard base64).
func hashPassword(password string, p Argon2Params) string {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errBadHash = errors.New("people: not an argon2id PHC string")

// parseHash reads a PHC string written by hashPassword.
func parseHash(phc string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<22 || p.Time > 64 {
		return p, nil, nil, errBadHash
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// verifyPassword reports whether password matches the PHC string, with a
// constant-time comparison of the derived keys. A malformed hash matches
// nothing.
func verifyPassword(phc, password string) bool {
	p, salt, key, err := parseHash(phc)
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

//go:embed common-passwords.txt
var commonPasswordsFile []byte // read-only data: parsed per Users by loadCommon

// loadCommon parses the embedded list (comments start with "#").
func loadCommon() map[string]struct{} {
	set := make(map[string]struct{}, 5000)
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordsFile))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[line] = struct{}{}
	}
	return set
}

// checkPassword adds every rule password breaks to v, on the form's
// fields `password` and `password_confirm`:
//   - at least MinPasswordLen characters (runes, not bytes);
//   - equal to confirm;
//   - not one of the common passwords (case-insensitive);
//   - not containing the e-mail's local part (case-insensitive; a local
//     part shorter than 3 characters is not checked, or it would refuse
//     most passwords for a@…).
func checkPassword(v *lunas.ValidationError, common map[string]struct{}, email, password, confirm string) {
	n := utf8.RuneCountInString(password)
	lower := strings.ToLower(password)
	switch {
	case password == "":
		v.Add("password", "is required")
	case n < MinPasswordLen:
		v.Add("password", "must be at least %d characters", MinPasswordLen)
	case len(password) > maxPasswordLen:
		v.Add("password", "must be at most %d bytes", maxPasswordLen)
	}
	if password != "" {
		if _, ok := common[lower]; ok {
			v.Add("password", "is one of the most common passwords")
		}
		local, _, _ := strings.Cut(strings.ToLower(email), "@")
		if utf8.RuneCountInString(local) >= 3 && strings.Contains(lower, local) {
			v.Add("password", "must not contain your e-mail address's name")
		}
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(confirm)) != 1 {
		v.Add("password_confirm", "does not match the password")
	}
}
