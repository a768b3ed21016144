// Package token knows lunas's bearer tokens (LUNAS_API_TOKENS): which role
// a presented token has, and the identity an action is recorded under.
// api authenticates requests with it and console authenticates sign-ins,
// so both record the same actor for the same person.
package token

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// Roles.
const (
	RoleApp     = "app"
	RoleFinance = "finance"
)

// Caller is who presented a token: its role and its identity, role + ":" +
// the first 4 bytes of the token's SHA-256 in hex (never the token itself),
// as reviews, adjustments and resolutions record it.
type Caller struct {
	Role, Identity string
}

type entry struct {
	hash   [32]byte
	caller Caller
}

// Set is the configured tokens, kept as hashes.
type Set struct{ entries []entry }

// NewSet keeps the hashes of tokens (token → role).
func NewSet(tokens map[string]string) *Set {
	s := &Set{}
	for tok, role := range tokens {
		h := sha256.Sum256([]byte(tok))
		s.entries = append(s.entries, entry{hash: h, caller: Caller{Role: role, Identity: role + ":" + hex.EncodeToString(h[:4])}})
	}
	return s
}

// Lookup compares the token's hash with every known token's hash in
// constant time, so timing reveals nothing about any token.
func (s *Set) Lookup(tok string) (Caller, bool) {
	if tok == "" {
		return Caller{}, false
	}
	h := sha256.Sum256([]byte(tok))
	var found Caller
	matched := 0
	for _, e := range s.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found, matched = e.caller, 1
		}
	}
	return found, matched == 1
}

// Has reports whether a token of this identity and role is still
// configured (a console session ends when its token is withdrawn).
func (s *Set) Has(c Caller) bool {
	for _, e := range s.entries {
		if e.caller == c {
			return true
		}
	}
	return false
}
