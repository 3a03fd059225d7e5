package cobalt

// Registry is what the registry service needs of a container
// registry (Microsoft.ContainerRegistry/registries): the management plane
// owns the resource; the registry service serves its content on LoginServer
// and authorizes each request at ID's scope.
type Registry struct {
	// ID is the registry's resource ID, the root of its RBAC scopes.
	ID ResourceID
	// Name is the registry's name as created (registry names are
	// case-insensitive; lookups fold case).
	Name string
	// LoginServer is the registry's "host:port", its own HTTPS listener.
	LoginServer string
	// AdminUserEnabled enables the admin user: Name as the username with
	// either of Passwords.
	AdminUserEnabled bool
	// Passwords are the admin user's two passwords ("password" and
	// "password2"); empty when the admin user was never enabled.
	Passwords [2]string
}
