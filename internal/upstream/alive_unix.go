//go:build unix

package upstream

import (
	"crypto/tls"
	"net"
	"syscall"
)

// idleAlive reports whether an idle connection may carry a request: the
// peer has neither closed it nor sent anything since its last answer. It
// peeks at the socket without blocking (one system call); a connection the
// server closed while idle shows its end of file here, before a request is
// written to it and lost.
func idleAlive(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn() // unread TLS records (a close_notify) are bytes too
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read: the connection is open and quiet. Bytes, an end
		// of file (n == 0, no error) or an error all mean it is not.
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // never wait for readiness
	})
	return err == nil && alive
}
