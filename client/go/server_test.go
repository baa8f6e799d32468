package tldb

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests run against a real tldb-server: TLDB_SERVER names its binary (tools/test.sh sets
// it). Most tests share one server; the restart and token tests start their own.

func serverBinary(t testing.TB) string {
	t.Helper()
	p := os.Getenv("TLDB_SERVER")
	if p == "" {
		t.Skip("TLDB_SERVER is not set: set it to a tldb-server binary (e.g. build/server/tldb-server) to run the Go client tests against a real server")
	}
	if !filepath.IsAbs(p) {
		if _, err := os.Stat(p); err != nil {
			p = filepath.Join("..", "..", p) // relative to the repository root
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("TLDB_SERVER=%s: %v", os.Getenv("TLDB_SERVER"), err)
	}
	return abs
}

type testServer struct {
	bin     string
	dataDir string
	addr    string
	args    []string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// startServer starts tldb-server on a free loopback port with a fresh data directory.
func startServer(t testing.TB, dataDir string, extra ...string) *testServer {
	t.Helper()
	s := &testServer{bin: serverBinary(t), dataDir: dataDir, addr: "127.0.0.1:0", args: extra}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *testServer) start() error {
	args := append([]string{"--data-dir", s.dataDir, "--listen", s.addr}, s.args...)
	s.cmd = exec.Command(s.bin, args...)
	s.logPath = s.dataDir + ".log"
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd.Stderr = logf
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case l := <-lines:
		const prefix = "tldb-server listening on "
		if !strings.HasPrefix(l, prefix) {
			return fmt.Errorf("tldb-server printed %q", l)
		}
		s.addr = strings.TrimPrefix(l, prefix)
		return nil
	case <-s.exited:
		log, _ := os.ReadFile(s.logPath)
		return fmt.Errorf("tldb-server exited at start: %s", log)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("tldb-server did not report its address within 60 s")
	}
}

// stop sends SIGTERM (a graceful stop) and waits for the process to end.
func (s *testServer) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("tldb-server did not stop within 60 s of SIGTERM")
	}
}

var (
	sharedOnce sync.Once
	shared     *testServer
	sharedErr  error
	sharedDir  string
)

// sharedServer is one server for the tests that need nothing special; TestMain stops it.
func sharedServer(t *testing.T) *testServer {
	t.Helper()
	bin := serverBinary(t)
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "tldb-go-test-")
		if sharedErr != nil {
			return
		}
		shared = &testServer{bin: bin, dataDir: filepath.Join(sharedDir, "data"), addr: "127.0.0.1:0"}
		sharedErr = shared.start()
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil && shared.cmd != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

func dial(t *testing.T, addr string, mod ...func(*Options)) *Client {
	t.Helper()
	opts := Options{Addr: addr, ClientName: "go-test"}
	for _, f := range mod {
		f(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testCtx is a generous bound for calls that must not hang.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var timelineSeq atomic.Uint64

// uniqueTimeline names a timeline no other test uses.
func uniqueTimeline(prefix string) string {
	return fmt.Sprintf("%s:%d:%d", prefix, time.Now().UnixNano(), timelineSeq.Add(1))
}

// proxy forwards TCP connections to target. With tlsConfig it terminates TLS. dropReplies
// makes it swallow what the server sends on the current connections and then cut them.
type proxy struct {
	ln          net.Listener
	target      string
	dropReplies atomic.Bool
	mu          sync.Mutex
	conns       []net.Conn
	accepted    atomic.Int32
}

func startProxy(t *testing.T, target string, tlsConfig *tls.Config) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.cutAll()
	})
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); out.Close() }()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := out.Read(buf)
				if n > 0 {
					if p.dropReplies.Load() {
						// The request reached the server; its answer is lost with the connection.
						in.Close()
						out.Close()
						return
					}
					if _, werr := in.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					in.Close()
					return
				}
			}
		}()
	}
}

func (p *proxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
