package proc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Child is a process started by the benchmark. Only Stop ends it, by its PID.
type Child struct {
	Name string
	Addr string // host:port it serves on
	Log  string // file holding its stdout and stderr

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status; read after done is closed
}

// Spec describes a child to start.
type Spec struct {
	Name string
	Bin  string
	Args []string
	Env  []string // added to this process's environment
	Addr string   // where it will listen
	Log  string   // file for its stdout and stderr
	// Health is the path polled until it answers 200 (default /healthz).
	Health string
	// Ready bounds the wait for Health (default 30 s).
	Ready time.Duration
}

// Start starts the child and waits until GET http://Addr+Health is 200. The
// child gets SIGKILL if this process dies first (Pdeathsig), so a crashed
// benchmark leaves nothing behind.
func Start(ctx context.Context, s Spec) (*Child, error) {
	if s.Health == "" {
		s.Health = "/healthz"
	}
	if s.Ready <= 0 {
		s.Ready = 30 * time.Second
	}
	logf, err := os.Create(s.Log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(s.Bin, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Name, err)
	}
	c := &Child{Name: s.Name, Addr: s.Addr, Log: s.Log, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := c.waitHealthy(ctx, s.Health, s.Ready); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%s not ready: %w (log: %s)", s.Name, err, s.Log)
	}
	return c, nil
}

func (c *Child) waitHealthy(ctx context.Context, path string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + c.Addr + path
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		last = err
		select {
		case <-c.done:
			return fmt.Errorf("exited: %v", c.err)
		case <-ctx.Done():
			return fmt.Errorf("%w; last: %v", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// PID is the child's process id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Exited reports whether the child has exited, and how.
func (c *Child) Exited() (bool, error) {
	select {
	case <-c.done:
		return true, c.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM, waits up to 3 s, then sends SIGKILL, and waits for the
// process to exit.
func (c *Child) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return
	case <-time.After(3 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", err
	}
	return addr, nil
}
