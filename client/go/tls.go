package tldb

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLSConfigFromFiles returns a TLS configuration for Options.TLSConfig: the server's
// certificate must chain to a CA in caFile (PEM; empty: the system's CAs) and carry serverName
// (empty: the host of Options.Addr, an IP address or a DNS name). certFile and keyFile (PEM,
// both or neither) are the client certificate for a server that requires one
// (tldb-server --tls-client-ca).
func TLSConfigFromFiles(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tldb: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tldb: TLS CA file %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tldb: a TLS client certificate needs its key, and a key its certificate")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tldb: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// isTLSRefusal tells a failed certificate check (ours of the server's, or the server's alert
// about ours) from a network failure: another attempt would fail the same way.
func isTLSRefusal(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "remote error: tls:") ||
		strings.Contains(s, "first record does not look like a TLS handshake")
}

// plainHint explains the error of a TLS client talking to a plain-TCP port.
func plainHint(err error) string {
	if strings.Contains(err.Error(), "first record does not look like a TLS handshake") {
		return " (the server does not speak TLS on this port?)"
	}
	return ""
}
