package build

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/moby/buildkit/client"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as the stack's certs script makes them.
type testPKI struct {
	caPEM               []byte
	server              tls.Certificate
	clientDir, otherDir string // otherDir: a client signed by another CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, caKey, caPEM := selfSignedCA(t, "test CA")
	other, otherKey, _ := selfSignedCA(t, "another CA")
	p := &testPKI{caPEM: caPEM, clientDir: t.TempDir(), otherDir: t.TempDir()}
	srvPEM, srvKey := leaf(t, ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "buildkitd"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	var err error
	if p.server, err = tls.X509KeyPair(srvPEM, srvKey); err != nil {
		t.Fatal(err)
	}
	for dir, signer := range map[string]struct {
		c   *x509.Certificate
		k   *ecdsa.PrivateKey
		pem []byte
	}{p.clientDir: {ca, caKey, caPEM}, p.otherDir: {other, otherKey, caPEM}} {
		certPEM, keyPEM := leaf(t, signer.c, signer.k, &x509.Certificate{
			Subject:     pkix.Name{CommonName: "build-step"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		writeFiles(t, dir, map[string][]byte{TLSCAFile: signer.pem, TLSCertFile: certPEM, TLSKeyFile: keyPEM})
	}
	return p
}

func selfSignedCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTLSFromDirRejectsBadInput(t *testing.T) {
	p := newTestPKI(t)
	noCA := t.TempDir()
	writeFiles(t, noCA, map[string][]byte{TLSCertFile: mustRead(t, p.clientDir, TLSCertFile), TLSKeyFile: mustRead(t, p.clientDir, TLSKeyFile)})
	garbageCA := t.TempDir()
	writeFiles(t, garbageCA, map[string][]byte{TLSCAFile: []byte("not a certificate"), TLSCertFile: mustRead(t, p.clientDir, TLSCertFile), TLSKeyFile: mustRead(t, p.clientDir, TLSKeyFile)})
	mismatched := t.TempDir()
	writeFiles(t, mismatched, map[string][]byte{TLSCAFile: p.caPEM, TLSCertFile: mustRead(t, p.clientDir, TLSCertFile), TLSKeyFile: mustRead(t, p.otherDir, TLSKeyFile)})
	tests := []struct{ name, dir, addr, want string }{
		{"unix socket", p.clientDir, "unix:///run/buildkit/buildkitd.sock", "TLS needs a tcp:// address"},
		{"no port", p.clientDir, "tcp://buildkitd", "want tcp://HOST:PORT"},
		{"empty dir", t.TempDir(), "tcp://127.0.0.1:1234", "buildkit client certificate"},
		{"no CA", noCA, "tcp://127.0.0.1:1234", "buildkit CA"},
		{"CA not PEM", garbageCA, "tcp://127.0.0.1:1234", "no PEM certificate"},
		{"key of another certificate", mismatched, "tcp://127.0.0.1:1234", "buildkit client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := TLSFromDir(tc.dir, tc.addr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("TLSFromDir = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	got, err := TLSFromDir(p.clientDir, "tcp://buildkitd.slipway.svc:1234")
	if err != nil {
		t.Fatal(err)
	}
	if got.ServerName != "buildkitd.slipway.svc" {
		t.Errorf("server name = %q, want the address's host", got.ServerName)
	}
}

func mustRead(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A daemon that requires client certificates of its CA: the client
// completes the handshake with its certificate (the daemon then answers
// Unimplemented, as this one serves no BuildKit API) and is refused in
// the handshake without one or with one from another CA.
func TestWithTLSHandshake(t *testing.T) {
	p := newTestPKI(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.caPEM)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	addr := "tcp://" + lis.Addr().String()

	listWorkers := func(opts ...Option) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, closer, err := New(ctx, addr, opts...)
		if err != nil {
			return err
		}
		defer closer.Close()
		_, err = b.solver.(interface {
			ListWorkers(context.Context, ...client.ListWorkersOption) ([]*client.WorkerInfo, error)
		}).ListWorkers(ctx)
		return err
	}
	good, err := TLSFromDir(p.clientDir, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := listWorkers(WithTLS(good)); status.Code(err) != codes.Unimplemented {
		t.Errorf("with the client certificate: %v, want the handshake to pass (Unimplemented)", err)
	}
	if err := listWorkers(); err == nil || status.Code(err) == codes.Unimplemented {
		t.Errorf("without TLS: %v, want the connection refused", err)
	}
	other, err := TLSFromDir(p.otherDir, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := listWorkers(WithTLS(other)); err == nil || status.Code(err) == codes.Unimplemented {
		t.Errorf("with another CA's client certificate: %v, want the handshake refused", err)
	}
	if _, _, err := New(context.Background(), addr, WithTLS(&TLS{CA: good.CA})); err == nil {
		t.Error("New with an incomplete TLS: no error")
	}
}
