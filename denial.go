package cobalt

// Denial is a request a service refused because its caller lacked a role:
// who (PrincipalID), what (Action), where (Scope), through which service
// ("arm", "blob", "batch", "registry"). It holds no token or secret. The
// RBAC authorizer records denials in the audit trail.
type Denial struct {
	Service     string
	PrincipalID string
	Action      string
	Scope       string
}
