package notify

import "errors"

// permanentError marks a delivery error that retrying cannot fix (bad
// address, 4xx from a webhook, 5xx SMTP reply).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// IsPermanent reports whether err should not be retried.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
