//go:build !unix

package upstream

import "net"

// idleAlive cannot peek at a socket here; a connection closed while idle
// is found when used (see RoundTrip's retry rule).
func idleAlive(net.Conn) bool { return true }
