// Package login holds the building blocks of admin sign-in: argon2id password hashing
// (password.go), the throttle for failed attempts keyed by IP or account (package
// throttle, named here as Throttle), and an OpenID Connect relying party for single
// sign-on (oidc.go).
//
// The package has no storage and no HTTP routes of its own: the admin API owns users,
// sessions and routes, and calls these pieces.
package login
