package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/retry"
)

// received is one message the test SMTP server accepted.
type received struct {
	User string
	From string
	To   []string
	Data string
}

// mailServer is a real SMTP server (go-smtp) on loopback with STARTTLS or
// implicit TLS and AUTH PLAIN for one user.
type mailServer struct {
	addr string
	ca   *x509.CertPool
	mu   sync.Mutex
	got  []received
}

func (m *mailServer) messages() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slicesClone(m.got)
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

type smtpSession struct {
	srv  *mailServer
	user string
	msg  received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "ci" || pass != "s3cret" {
			// What real servers answer (go-smtp's default is a 454).
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.user = user
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	s.msg = received{User: s.user, From: from}
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = string(b)
	s.srv.mu.Lock()
	s.srv.got = append(s.srv.got, s.msg)
	s.srv.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        { s.msg = received{} }
func (s *smtpSession) Logout() error { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startMailServer serves SMTP on loopback until the test ends.
func startMailServer(t *testing.T, mode TLSMode) *mailServer {
	t.Helper()
	cert, pool := selfSigned(t)
	ms := &mailServer{ca: pool}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &smtpSession{srv: ms}, nil
	}))
	srv.Domain = "mail.test"
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	var l net.Listener
	var err error
	if mode == ImplicitTLS {
		l, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	} else {
		srv.TLSConfig = tlsCfg
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ms
}

func TestMailerSends(t *testing.T) {
	sum := failedSummary()
	for _, mode := range []TLSMode{StartTLS, ImplicitTLS} {
		t.Run(string(mode), func(t *testing.T) {
			ms := startMailServer(t, mode)
			m, err := NewMailer(SMTPConfig{
				Addr: ms.addr, Username: "ci", Password: "s3cret", From: "Slipway <ci@example.com>",
				TLS: mode, TLSConfig: &tls.Config{RootCAs: ms.ca},
			})
			if err != nil {
				t.Fatal(err)
			}
			to := []string{"ada@example.com", "Team <team@example.com>"}
			if err := m.Send(context.Background(), to, Subject(sum), Text(sum)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := ms.messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			env := got[0]
			if diff := cmp.Diff(received{User: "ci", From: "ci@example.com", To: []string{"ada@example.com", "team@example.com"}}, received{User: env.User, From: env.From, To: env.To}); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			msg, err := mail.ReadMessage(strings.NewReader(env.Data))
			if err != nil {
				t.Fatalf("parsing the received message: %v", err)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil {
				t.Fatal(err)
			}
			if want := "[slipway] acme/web #7 failed (1a2b3c4d)"; subject != want {
				t.Errorf("Subject = %q, want %q", subject, want)
			}
			body, _ := io.ReadAll(msg.Body)
			for _, want := range []string{
				"The pipeline for acme/web #7 at 1a2b3c4d failed.",
				"Task:     unit-test",
				"    --- FAIL: TestCart (0.00s)",
				"Details and full logs: https://ci.example.com/runs/ci/web-1a2b3c4d-abcd",
			} {
				if !strings.Contains(strings.ReplaceAll(string(body), "\r\n", "\n"), want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

func TestMailerErrors(t *testing.T) {
	ms := startMailServer(t, StartTLS)
	cfg := SMTPConfig{Addr: ms.addr, Username: "ci", Password: "wrong", From: "ci@example.com", TLSConfig: &tls.Config{RootCAs: ms.ca}}
	m, err := NewMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), []string{"ada@example.com"}, "s", "b")
	if err == nil || !retry.IsTerminal(err) {
		t.Errorf("wrong password: err = %v, want a permanent error", err)
	}
	// A server that cannot be reached is worth retrying.
	cfg.Addr = "127.0.0.1:1"
	m, _ = NewMailer(cfg)
	if err := m.Send(context.Background(), []string{"ada@example.com"}, "s", "b"); err == nil || retry.IsTerminal(err) {
		t.Errorf("unreachable: err = %v, want a transient error", err)
	}
	if err := m.Send(context.Background(), []string{"not an address"}, "s", "b"); !retry.IsTerminal(err) {
		t.Errorf("bad recipient: err = %v, want a permanent error", err)
	}
	for _, bad := range []SMTPConfig{
		{Addr: "mail.example.com", From: "ci@example.com"},
		{Addr: "mail.example.com:587", From: "not an address"},
		{Addr: "mail.example.com:587", From: "ci@example.com", TLS: "ssl3"},
		{Addr: "mail.example.com:587", From: "ci@example.com", Password: "x"},
	} {
		if _, err := NewMailer(bad); err == nil {
			t.Errorf("NewMailer(%+v): want error", bad)
		}
	}
}
