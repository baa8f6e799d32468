package tldb

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI writes, into a temporary directory, a CA with a server certificate (127.0.0.1,
// localhost), an expired server certificate and a client certificate, and a second CA with a
// server certificate of its own: NAME.pem and NAME.key.
type testPKI struct{ dir string }

func (p *testPKI) pem(name string) string { return filepath.Join(p.dir, name+".pem") }
func (p *testPKI) key(name string) string { return filepath.Join(p.dir, name+".key") }

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	serial := int64(1)
	issue := func(name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write := func(path, typ string, b []byte) {
			if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(p.pem(name), "CERTIFICATE", der)
		write(p.key(name), "EC PRIVATE KEY", kb)
		return cert, key
	}
	now := time.Now()
	ca := func(name string) (*x509.Certificate, *ecdsa.PrivateKey) {
		return issue(name, &x509.Certificate{
			Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}, nil, nil)
	}
	server := func(notBefore, notAfter time.Time) *x509.Certificate {
		return &x509.Certificate{
			Subject: pkix.Name{CommonName: "localhost"}, NotBefore: notBefore, NotAfter: notAfter,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
	}
	caCert, caKey := ca("ca")
	issue("server", server(now.Add(-time.Hour), now.Add(24*time.Hour)), caCert, caKey)
	issue("expired", server(now.Add(-48*time.Hour), now.Add(-24*time.Hour)), caCert, caKey)
	issue("client", &x509.Certificate{
		Subject: pkix.Name{CommonName: "go-test-client"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, caKey)
	otherCert, otherKey := ca("other-ca")
	issue("other-server", server(now.Add(-time.Hour), now.Add(24*time.Hour)), otherCert, otherKey)
	return p
}

// startTLSServer starts a tldb-server whose listener speaks TLS with certificate `cert`
// (mutual: client certificates signed by "ca" required); stopped at the end of the test.
func startTLSServer(t *testing.T, p *testPKI, cert string, mutual bool) *testServer {
	t.Helper()
	args := []string{"--tls-cert", p.pem(cert), "--tls-key", p.key(cert)}
	if mutual {
		args = append(args, "--tls-client-ca", p.pem("ca"))
	}
	s := startServer(t, filepath.Join(t.TempDir(), "data"), args...)
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func tlsConfig(t *testing.T, p *testPKI, ca, client string) *tls.Config {
	t.Helper()
	cert, key := "", ""
	if client != "" {
		cert, key = p.pem(client), p.key(client)
	}
	cfg, err := TLSConfigFromFiles(p.pem(ca), cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// dialFails dials once (no retries) and expects an error whose text contains want.
func dialFails(t *testing.T, opts Options, want string) error {
	t.Helper()
	opts.MaxRetries = -1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, opts)
	if err == nil {
		c.Close()
		t.Fatalf("Dial %s succeeded; want an error containing %q", opts.Addr, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("Dial %s: %v; want an error containing %q", opts.Addr, err, want)
	}
	return err
}

func TestServerTLSRoundTrip(t *testing.T) {
	p := newTestPKI(t)
	srv := startTLSServer(t, p, "server", false)
	cfg := tlsConfig(t, p, "ca", "")
	c := dial(t, srv.addr, func(o *Options) { o.TLSConfig = cfg })
	w := dial(t, srv.addr, func(o *Options) { o.TLSConfig = cfg })
	if _, ok := c.cur.nc.(*tls.Conn); !ok {
		t.Fatalf("the connection is a %T, not TLS", c.cur.nc)
	}
	tl := uniqueTimeline("tls")
	sub, err := w.SubscribeLatest(testCtx(t), ns, tl)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, c, tl, 3)
	big := strings.Repeat("x", 200<<10) // many TLS records in one frame
	r, err := c.Append(testCtx(t), ns, tl, []byte(big), nil)
	if err != nil || r.Seq != 4 {
		t.Fatalf("append over TLS: %+v, %v", r, err)
	}
	m, err := c.Get(testCtx(t), ns, tl, 4)
	if err != nil || string(m.Payload) != big {
		t.Fatalf("Get over TLS: seq %d, %d bytes, %v", m.Seq, len(m.Payload), err)
	}
	page, err := c.Scan(testCtx(t), ns, tl, ScanOptions{FromSeq: 1, Limit: 3})
	if err != nil || len(page) != 3 || string(page[2].Payload) != "m3" {
		t.Fatalf("Scan over TLS: %d messages, %v", len(page), err)
	}
	if got := receive(t, sub, 4); !eq(pushSeqs(got), []uint64{1, 2, 3, 4}) {
		t.Fatalf("pushes over TLS: %v", pushSeqs(got))
	}
}

func TestServerMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	srv := startTLSServer(t, p, "server", true)
	c := dial(t, srv.addr, func(o *Options) { o.TLSConfig = tlsConfig(t, p, "ca", "client") })
	if _, err := c.Append(testCtx(t), ns, uniqueTimeline("mtls"), []byte("with a client certificate"), nil); err != nil {
		t.Fatal(err)
	}
	dialFails(t, Options{Addr: srv.addr, TLSConfig: tlsConfig(t, p, "ca", "")}, "certificate required")
	if _, err := c.Ping(testCtx(t), nil); err != nil {
		t.Fatalf("the accepted client after a refused one: %v", err)
	}
}

func TestServerTLSRefusals(t *testing.T) {
	p := newTestPKI(t)
	srv := startTLSServer(t, p, "server", false)
	expired := startTLSServer(t, p, "expired", false)
	other := startTLSServer(t, p, "other-server", false)
	good := tlsConfig(t, p, "ca", "")
	dialFails(t, Options{Addr: other.addr, TLSConfig: good}, "certificate signed by unknown authority")
	dialFails(t, Options{Addr: expired.addr, TLSConfig: good}, "expired")
	named := good.Clone()
	named.ServerName = "db.example.org"
	dialFails(t, Options{Addr: srv.addr, TLSConfig: named}, "db.example.org")
	// A plain-text client on the TLS port gets the server's error in its own protocol.
	err := dialFails(t, Options{Addr: srv.addr}, "TLS required")
	var te *Error
	if !errors.As(err, &te) || te.Code != CodeHandshakeRequired {
		t.Fatalf("plain client on a TLS port: %#v", err)
	}
	// A TLS client on a plain port.
	dialFails(t, Options{Addr: sharedServer(t).addr, TLSConfig: good}, "does not speak TLS")
	// The server still serves.
	c := dial(t, srv.addr, func(o *Options) { o.TLSConfig = good })
	if _, err := c.Ping(testCtx(t), nil); err != nil {
		t.Fatal(err)
	}
}

func TestTLSConfigFromFilesErrors(t *testing.T) {
	p := newTestPKI(t)
	if _, err := TLSConfigFromFiles(p.pem("missing"), "", "", ""); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
	if _, err := TLSConfigFromFiles(p.pem("ca"), p.pem("client"), "", ""); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
	if _, err := TLSConfigFromFiles(p.key("ca"), "", "", ""); err == nil {
		t.Fatal("a key file was accepted as a CA file")
	}
}
