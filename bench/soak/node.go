package soak

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Node is a `nexus serve` process on a data directory and an address that
// stay the same across restarts.
type Node struct {
	bin, dir, addr string
	extra          []string
	cmd            *exec.Cmd
	log            *lockedBuffer
	exited         chan struct{}
	URL            string
}

// FreeAddr returns a loopback address nothing listens on.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartNode starts bin serve on dir (extra flags after) and waits until it
// is ready.
func StartNode(bin, dir string, extra ...string) (*Node, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	n := &Node{bin: bin, dir: dir, addr: addr, extra: extra, log: &lockedBuffer{}, URL: "http://" + addr}
	return n, n.Start()
}

// Launch starts the process (again) without waiting for it.
func (n *Node) Launch() error {
	args := append([]string{"serve", "--data-dir", n.dir, "--addr", n.addr}, n.extra...)
	n.cmd = exec.Command(n.bin, args...)
	n.cmd.Stderr = n.log
	n.cmd.Stdout = n.log
	if err := n.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		close(exited)
	}(n.cmd)
	n.exited = exited
	return nil
}

// Start starts the process (again) and waits until /readyz answers 200.
func (n *Node) Start() error {
	if err := n.Launch(); err != nil {
		return err
	}
	exited := n.exited
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("nexus serve exited at start: %s\n%s", n.cmd.ProcessState, n.tail())
		default:
		}
		resp, err := http.Get(n.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.Kill()
	return fmt.Errorf("nexus serve did not become ready in 90 s:\n%s", n.tail())
}

// Kill sends SIGKILL and waits until the process is gone.
func (n *Node) Kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

// Stop sends SIGTERM and waits until the process is gone (a clean stop:
// on the embedded default it writes the datastore's snapshot); after 60 s
// it kills it.
func (n *Node) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(60 * time.Second):
		n.Kill()
	}
}

// AdminKey is the key the first start wrote to the data directory.
func (n *Node) AdminKey() (string, error) {
	b, err := os.ReadFile(filepath.Join(n.dir, "admin.key"))
	return strings.TrimSpace(string(b)), err
}

// tail is the end of the process's output, for errors.
func (n *Node) tail() string {
	s := n.log.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// ErrorLines returns the first error lines the process logged (all its
// starts).
func (n *Node) ErrorLines() []string {
	n.log.mu.Lock()
	defer n.log.mu.Unlock()
	return append([]string{}, n.log.errors...)
}

// lockedBuffer is a buffer a subprocess writes to while we read it; it
// also keeps the first error lines.
type lockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	errors  []string
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if len(l.errors) < 30 && (strings.Contains(line, " ERROR ") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic")) {
			l.errors = append(l.errors, line)
		}
	}
	if l.buf.Len() > 1<<20 { // keep the last MiB or so
		rest := append([]byte{}, l.buf.Bytes()[l.buf.Len()-256<<10:]...)
		l.buf.Reset()
		l.buf.Write(rest)
	}
	return l.buf.Write(b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitCtx sleeps d or until ctx is done.
func waitCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
