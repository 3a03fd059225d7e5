// Package rbac implements Azure role-based access control: the built-in role
// definitions with their real GUIDs and permissions, Azure's wildcard matching
// of actions and data actions, and checks of a principal's role assignments at
// a scope or any scope above it.
package rbac
