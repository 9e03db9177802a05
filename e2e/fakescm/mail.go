package fakescm

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// maxMailBytes caps one message; Slipway's are a few kilobytes.
const maxMailBytes = 1 << 20

// Mail is one message received over SMTP, its headers decoded.
type Mail struct {
	From    string    `json:"from"` // MAIL FROM
	To      []string  `json:"to"`   // RCPT TO, in order
	Subject string    `json:"subject"`
	Header  string    `json:"header"` // the From header, as written
	Body    string    `json:"body"`
	At      time.Time `json:"at"`
}

// Mails returns the messages received, oldest first.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// SMTPServer accepts mail for any recipient, without TLS or auth, and
// records it for /_fake/mail, like a team's catch-all test inbox. The
// caller serves it on a listener and closes it.
func (s *Server) SMTPServer() *gosmtp.Server {
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &smtpSession{srv: s}, nil
	}))
	srv.Domain = "fakescm.local"
	srv.MaxMessageBytes = maxMailBytes
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	// A catch-all without TLS: Slipway's client refuses to send a password
	// in clear text anyway, so the stack configures no auth.
	srv.AllowInsecureAuth = true
	return srv
}

type smtpSession struct {
	srv  *Server
	from string
	to   []string
}

func (ss *smtpSession) Mail(from string, _ *gosmtp.MailOptions) error {
	ss.from, ss.to = from, nil
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(io.LimitReader(r, maxMailBytes+1))
	if err != nil {
		return err
	}
	if len(raw) > maxMailBytes {
		return &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "message too big"}
	}
	m, err := parseMail(raw)
	if err != nil {
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	m.From, m.To, m.At = ss.from, ss.to, time.Now()
	ss.srv.mu.Lock()
	ss.srv.mails = append(ss.srv.mails, m)
	ss.srv.mu.Unlock()
	return nil
}

func (ss *smtpSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *smtpSession) Logout() error { return nil }

// parseMail reads an RFC 5322 message: decoded subject, CRLFs made LFs.
func parseMail(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, fmt.Errorf("not an RFC 5322 message: %w", err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Mail{}, fmt.Errorf("subject: %w", err)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return Mail{}, err
	}
	return Mail{Subject: subject, Header: msg.Header.Get("From"), Body: strings.ReplaceAll(string(body), "\r\n", "\n")}, nil
}
