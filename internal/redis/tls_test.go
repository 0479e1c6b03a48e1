package redis

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"github.com/authlayer/authlayer/internal/redistest"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA, a server certificate for 127.0.0.1 and redis.test,
// and a client certificate, in PEM.
type testPKI struct {
	caPEM, serverCertPEM, serverKeyPEM, clientCertPEM, clientKeyPEM string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, caCert, caPEM := makeCert(t, "authlayer test CA", nil, nil, nil)
	_, _, serverPEM, serverKey := makeLeaf(t, "redis.test", caKey, caCert, x509.ExtKeyUsageServerAuth)
	_, _, clientPEM, clientKey := makeLeaf(t, "authlayer", caKey, caCert, x509.ExtKeyUsageClientAuth)
	return testPKI{caPEM: caPEM, serverCertPEM: serverPEM, serverKeyPEM: serverKey, clientCertPEM: clientPEM, clientKeyPEM: clientKey}
}

// makeCert makes a self-signed CA (parent nil) or a certificate signed
// by parent; template fields beyond the basics come from leaf.
func makeCert(t *testing.T, name string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, leaf *x509.Certificate) (*ecdsa.PrivateKey, *x509.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	if leaf != nil {
		tmpl.DNSNames = leaf.DNSNames
		tmpl.IPAddresses = leaf.IPAddresses
		tmpl.ExtKeyUsage = leaf.ExtKeyUsage
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	} else {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func makeLeaf(t *testing.T, name string, caKey *ecdsa.PrivateKey, ca *x509.Certificate, usage x509.ExtKeyUsage) (*ecdsa.PrivateKey, *x509.Certificate, string, string) {
	t.Helper()
	leaf := &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	if usage == x509.ExtKeyUsageServerAuth {
		leaf.DNSNames = []string{name}
		leaf.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	key, cert, certPEM := makeCert(t, name, caKey, ca, leaf)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert, certPEM, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// startTLSRedis starts a TLS-only redis-server that asks for client
// certificates signed by the test CA.
func startTLSRedis(t *testing.T, pki testPKI) *redisServer {
	t.Helper()
	redistest.Need(t)
	dir := t.TempDir()
	files := map[string]string{"ca.pem": pki.caPEM, "server.pem": pki.serverCertPEM, "server.key": pki.serverKeyPEM}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return startRedis(t, "--tls-port", "0",
		"--tls-cert-file", filepath.Join(dir, "server.pem"),
		"--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "yes")
}

func TestTLSWithClientCertificate(t *testing.T) {
	pki := newTestPKI(t)
	s := startTLSRedis(t, pki)
	good := Options{TLS: true, CAPEM: pki.caPEM, CertPEM: pki.clientCertPEM, KeyPEM: pki.clientKeyPEM, DB: 2, DialTimeout: 2 * time.Second}

	c := serverClient(t, s, good)
	must(t, c, "SET", "k", "over TLS")
	if v := must(t, c, "GET", "k"); v.Str != "over TLS" {
		t.Fatalf("GET over TLS: %+v", v)
	}
	vals, err := Pipeline(c, soon(), []string{"INCR", "n"}, []string{"INCR", "n"})
	if err != nil || vals[1].Int != 2 {
		t.Fatalf("pipeline over TLS: %+v, %v", vals, err)
	}

	named := good
	named.ServerName = "redis.test"
	must(t, serverClient(t, s, named), "PING")

	insecure := good
	insecure.CAPEM = ""
	insecure.InsecureSkipVerify = true
	must(t, serverClient(t, s, insecure), "PING")

	refused := []struct {
		name string
		o    Options
	}{
		{"no client certificate", Options{TLS: true, CAPEM: pki.caPEM}},
		{"the system roots only", Options{TLS: true, CertPEM: pki.clientCertPEM, KeyPEM: pki.clientKeyPEM}},
		{"another server name", Options{TLS: true, CAPEM: pki.caPEM, CertPEM: pki.clientCertPEM, KeyPEM: pki.clientKeyPEM, ServerName: "other.test"}},
		{"no TLS at all", Options{}},
	}
	for _, r := range refused {
		r.o.DialTimeout = time.Second
		r.o.ReadTimeout = time.Second
		start := time.Now()
		_, err := Do(serverClient(t, s, r.o), time.Now().Add(3*time.Second), "PING")
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrServer) {
			t.Errorf("%s: %v", r.name, err)
		}
		if waited := time.Since(start); waited > 4*time.Second {
			t.Errorf("%s: failed after %v", r.name, waited)
		}
	}
}

func TestTLSOptionsCompile(t *testing.T) {
	pki := newTestPKI(t)
	c, err := New(Options{Addresses: []string{"a.example:6380", "10.0.0.2:6380"}, TLS: true, CAPEM: pki.caPEM, CertPEM: pki.clientCertPEM, KeyPEM: pki.clientKeyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.tlsConfigs) != 2 || c.tlsConfigs[0].ServerName != "a.example" || c.tlsConfigs[1].ServerName != "10.0.0.2" {
		t.Fatalf("server names: %+v", c.tlsConfigs)
	}
	cfg := c.tlsConfigs[0]
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.InsecureSkipVerify || cfg.MinVersion < 0x0303 {
		t.Fatalf("TLS config %+v", cfg)
	}
	// A key that is not the certificate's.
	other := newTestPKI(t)
	_, err = New(Options{Addresses: []string{"h:1"}, TLS: true, CertPEM: pki.clientCertPEM, KeyPEM: other.clientKeyPEM})
	if err == nil || !strings.Contains(err.Error(), "KeyPEM") || strings.Contains(err.Error(), "PRIVATE") {
		t.Fatalf("mismatched key: %v", err)
	}
}
