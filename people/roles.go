package people

import (
	"slices"

	"github.com/lunas-id/lunas"
)

// Role is what a person may do. Roles are ordered: each may do everything
// the one before it may, and more.
type Role string

// The roles, lowest first (API.md "People, roles and approvals").
const (
	RoleViewer   Role = "viewer"   // every page, no action
	RoleReviewer Role = "reviewer" // + review proofs, resolve flagged events, bulk sendings
	RoleApprover Role = "approver" // + money by hand, approving others' requests
	RoleAdmin    Role = "admin"    // + users, webhook endpoints, plans
)

// Roles lists every role, lowest first.
func Roles() []Role { return []Role{RoleViewer, RoleReviewer, RoleApprover, RoleAdmin} }

// rank orders the roles by their place in Roles; 0 is not a role.
func (r Role) rank() int { return slices.Index(Roles(), r) + 1 }

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// AtLeast reports whether r is min or above it.
func (r Role) AtLeast(min Role) bool { return r.Valid() && min.Valid() && r.rank() >= min.rank() }

// NeedsTOTP reports whether people of this role sign in with a second
// factor: those who can move money or change who may.
func (r Role) NeedsTOTP() bool { return r.AtLeast(RoleApprover) }

// Can reports whether r may take action a; an unknown action is refused.
func (r Role) Can(a Action) bool {
	min, ok := a.MinRole()
	return ok && r.AtLeast(min)
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", lunas.E(lunas.KindInvalid, "unknown role %q (viewer, reviewer, approver or admin)", s)
	}
	return r, nil
}

// Action is something a person does in the console or through the API.
// The console and API map every route to one of these and check it with
// Role.Can, so the rule for each lives here, in rules.
type Action string

// The actions; rules says which role may take each.
const (
	ActionView Action = "view" // read any page or list (viewer)

	ActionReviewProofs  Action = "review_proofs"  // accept or reject a transfer proof (reviewer)
	ActionResolveEvents Action = "resolve_events" // mark a flagged gateway event resolved (reviewer)
	ActionBulkSend      Action = "bulk_send"      // start, pause or cancel a bulk sending (reviewer)

	ActionAdjust    Action = "adjust"    // request a balance adjustment by hand (approver)
	ActionReconcile Action = "reconcile" // request a reconciliation (approver)
	ActionRefund    Action = "refund"    // request a refund by hand (approver)
	ActionApprove   Action = "approve"   // decide on someone else's approval request (approver)

	ActionManageUsers    Action = "manage_users"    // add, disable, reset people (admin)
	ActionManageWebhooks Action = "manage_webhooks" // webhook endpoints of the app (admin)
	ActionManagePlans    Action = "manage_plans"    // subscription plans (admin)
	ActionViewAudit      Action = "view_audit"      // the audit log page (admin)
)

// rule is one row of the table of who may do what.
type rule struct {
	action Action
	min    Role
}

// rules is that table, in one place: every action and the lowest role
// that may take it (API.md "People, roles and approvals").
func rules() []rule {
	return []rule{
		{ActionView, RoleViewer},
		{ActionReviewProofs, RoleReviewer}, {ActionResolveEvents, RoleReviewer}, {ActionBulkSend, RoleReviewer},
		{ActionAdjust, RoleApprover}, {ActionReconcile, RoleApprover}, {ActionRefund, RoleApprover}, {ActionApprove, RoleApprover},
		{ActionManageUsers, RoleAdmin}, {ActionManageWebhooks, RoleAdmin}, {ActionManagePlans, RoleAdmin}, {ActionViewAudit, RoleAdmin},
	}
}

// Actions lists every action, for tests that check each route has a rule.
func Actions() []Action {
	var out []Action
	for _, r := range rules() {
		out = append(out, r.action)
	}
	return out
}

// MinRole is the lowest role that may take a; false for an unknown action.
func (a Action) MinRole() (Role, bool) {
	for _, r := range rules() {
		if r.action == a {
			return r.min, true
		}
	}
	return "", false
}
