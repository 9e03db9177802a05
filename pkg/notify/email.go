package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pkg/retry"
)

// TLSMode is how the SMTP connection is secured.
type TLSMode string

const (
	// StartTLS upgrades a plain connection (port 587); the server must
	// offer STARTTLS.
	StartTLS TLSMode = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS TLSMode = "tls"
	// NoTLS sends in clear text; net/smtp then refuses to send a password
	// except to localhost.
	NoTLS TLSMode = "none"
)

// SMTPConfig says how to reach the mail server.
type SMTPConfig struct {
	// Addr is host:port.
	Addr string
	// Username and Password enable AUTH PLAIN; empty means no auth.
	Username, Password string
	// From is the sender address, e.g. "Slipway <ci@example.com>".
	From string
	// TLS defaults to StartTLS.
	TLS TLSMode
	// TLSConfig overrides the client TLS settings (tests pass their CA).
	TLSConfig *tls.Config
	// Timeout bounds one delivery when ctx has no deadline. Default 30s.
	Timeout time.Duration
}

// Mailer sends plain-text mail through one SMTP server.
type Mailer struct {
	cfg  SMTPConfig
	host string
	from *mail.Address
}

// NewMailer checks cfg and returns a Mailer.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("smtp address %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from %q: %w", cfg.From, err)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = StartTLS
	case StartTLS, ImplicitTLS, NoTLS:
	default:
		return nil, fmt.Errorf("smtp tls %q: want starttls, tls or none", cfg.TLS)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("smtp: a password without a username")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Mailer{cfg: cfg, host: host, from: from}, nil
}

// String names the server, never the credentials.
func (m *Mailer) String() string { return "smtp(" + m.cfg.Addr + ")" }

// Send mails subject and body to every address in to.
func (m *Mailer) Send(ctx context.Context, to []string, subject, body string) error {
	if len(to) == 0 {
		return retry.Terminal(errors.New("smtp: no recipients"))
	}
	rcpts := make([]string, 0, len(to))
	for _, a := range to {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return retry.Terminal(fmt.Errorf("smtp recipient %q: %w", a, err))
		}
		rcpts = append(rcpts, addr.Address)
	}
	msg, err := m.compose(rcpts, subject, body)
	if err != nil {
		return retry.Terminal(err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.cfg.Timeout)
		defer cancel()
	}
	return smtpError(m.deliver(ctx, rcpts, msg))
}

func (m *Mailer) tlsConfig() *tls.Config {
	if m.cfg.TLSConfig != nil {
		c := m.cfg.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = m.host
		}
		return c
	}
	return &tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}
}

func (m *Mailer) deliver(ctx context.Context, rcpts []string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", m.cfg.Addr, err)
	}
	if m.cfg.TLS == ImplicitTLS {
		tc := tls.Client(conn, m.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("smtp tls with %s: %w", m.cfg.Addr, err)
		}
		conn = tc
	}
	// net/smtp has no context: the deadline bounds the whole exchange.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting from %s: %w", m.cfg.Addr, err)
	}
	defer c.Close()
	if m.cfg.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return retry.Terminal(fmt.Errorf("smtp %s does not offer STARTTLS", m.cfg.Addr))
		}
		if err := c.StartTLS(m.tlsConfig()); err != nil {
			return fmt.Errorf("smtp starttls with %s: %w", m.cfg.Addr, err)
		}
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.host)); err != nil {
			return fmt.Errorf("smtp auth as %s: %w", m.cfg.Username, err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("smtp RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp message: %w", err)
	}
	return c.Quit()
}

// compose writes an RFC 5322 message with a UTF-8 plain-text body.
func (m *Mailer) compose(rcpts []string, subject, body string) ([]byte, error) {
	if strings.ContainsAny(subject, "\r\n") {
		return nil, errors.New("smtp: subject holds a line break")
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("smtp message id: %w", err)
	}
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", m.from.String())
	h("To", strings.Join(rcpts, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", subject))
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(id)+"@"+domainOf(m.from.Address)+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	for line := range strings.Lines(body) {
		b.WriteString(strings.TrimRight(line, "\r\n") + "\r\n")
	}
	return b.Bytes(), nil
}

func domainOf(addr string) string {
	if _, d, ok := strings.Cut(addr, "@"); ok && d != "" {
		return d
	}
	return "slipway"
}

// smtpError marks replies that retrying will not fix: 5xx codes other
// than the server's own trouble are permanent.
func smtpError(err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return retry.Terminal(err)
	}
	return err
}
