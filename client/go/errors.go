package tldb

import (
	"errors"
	"fmt"
	"strings"
)

// Code is an error code from the server (docs/protocol.md §4). Codes 0–63 are engine errors
// (the request failed, the connection stays usable); 64 and up are protocol errors, after
// which the server closes the connection (except ShuttingDown).
type Code uint16

// Error codes.
const (
	CodeNotFound          Code = 1
	CodeInvalidArgument   Code = 2
	CodeCorruption        Code = 3
	CodeIOError           Code = 4
	CodeNoSpace           Code = 5
	CodeConflict          Code = 6
	CodeBusy              Code = 7
	CodeDeleted           Code = 8
	CodeNotSupported      Code = 9
	CodeClosed            Code = 10
	CodeAlreadyExists     Code = 11
	CodePermissionDenied  Code = 12
	CodeTimedOut          Code = 13
	CodeNotPrimary        Code = 14 // cluster mode: write or read sent to a replica that does not serve
	CodeClientMsgIDReused Code = 15 // an append reused a client_msg_id its timeline holds for another message
	CodeMoved             Code = 16 // sharded cluster: the slot is served elsewhere ("slot=S version=V partition=P address=HOST:PORT")
	CodeMalformedFrame    Code = 64
	CodeUnknownOpcode     Code = 65
	CodeUnsupportedVer    Code = 66
	CodeHandshakeRequired Code = 67
	CodeAuthFailed        Code = 68
	CodeFrameTooLarge     Code = 69
	CodeTooManyConns      Code = 70
	CodeShuttingDown      Code = 71
	CodeConnTimedOut      Code = 72
	CodeSlowConsumer      Code = 73
)

var codeNames = map[Code]string{
	CodeNotFound: "NOT_FOUND", CodeInvalidArgument: "INVALID_ARGUMENT",
	CodeCorruption: "CORRUPTION", CodeIOError: "IO_ERROR", CodeNoSpace: "NO_SPACE",
	CodeConflict: "CONFLICT", CodeBusy: "BUSY", CodeDeleted: "DELETED",
	CodeNotSupported: "NOT_SUPPORTED", CodeClosed: "CLOSED", CodeAlreadyExists: "ALREADY_EXISTS",
	CodePermissionDenied: "PERMISSION_DENIED", CodeTimedOut: "TIMED_OUT",
	CodeNotPrimary: "NOT_PRIMARY", CodeClientMsgIDReused: "CLIENT_MSG_ID_REUSED",
	CodeMoved:          "MOVED",
	CodeMalformedFrame: "MALFORMED_FRAME", CodeUnknownOpcode: "UNKNOWN_OPCODE",
	CodeUnsupportedVer: "UNSUPPORTED_VERSION", CodeHandshakeRequired: "HANDSHAKE_REQUIRED",
	CodeAuthFailed: "AUTH_FAILED", CodeFrameTooLarge: "FRAME_TOO_LARGE",
	CodeTooManyConns: "TOO_MANY_CONNECTIONS", CodeShuttingDown: "SHUTTING_DOWN",
	CodeConnTimedOut: "CONNECTION_TIMED_OUT", CodeSlowConsumer: "SLOW_CONSUMER",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("CODE_%d", uint16(c))
}

// Error is an error answered by the server. Compare with errors.Is against the Err*
// sentinels (errors.Is(err, tldb.ErrNotFound)), or errors.As to read the message.
type Error struct {
	Code    Code
	Message string
	// Fatal: the server closed the connection after this error.
	Fatal bool
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "tldb: " + e.Code.String()
	}
	return "tldb: " + e.Code.String() + ": " + e.Message
}

// Is matches any *Error with the same code, so that errors.Is(err, ErrDeleted) works
// whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is, one per code.
var (
	ErrNotFound           = &Error{Code: CodeNotFound}
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument}
	ErrCorruption         = &Error{Code: CodeCorruption}
	ErrIO                 = &Error{Code: CodeIOError}
	ErrNoSpace            = &Error{Code: CodeNoSpace}
	ErrConflict           = &Error{Code: CodeConflict}
	ErrBusy               = &Error{Code: CodeBusy}
	ErrDeleted            = &Error{Code: CodeDeleted}
	ErrNotSupported       = &Error{Code: CodeNotSupported}
	ErrDatabaseClosed     = &Error{Code: CodeClosed}
	ErrAlreadyExists      = &Error{Code: CodeAlreadyExists}
	ErrPermissionDenied   = &Error{Code: CodePermissionDenied}
	ErrTimedOut           = &Error{Code: CodeTimedOut}
	ErrNotPrimary         = &Error{Code: CodeNotPrimary}
	ErrClientMsgIDReused  = &Error{Code: CodeClientMsgIDReused}
	ErrMoved              = &Error{Code: CodeMoved}
	ErrMalformedFrame     = &Error{Code: CodeMalformedFrame}
	ErrUnknownOpcode      = &Error{Code: CodeUnknownOpcode}
	ErrUnsupportedVersion = &Error{Code: CodeUnsupportedVer}
	ErrHandshakeRequired  = &Error{Code: CodeHandshakeRequired}
	ErrAuthFailed         = &Error{Code: CodeAuthFailed}
	ErrFrameTooLarge      = &Error{Code: CodeFrameTooLarge}
	ErrTooManyConnections = &Error{Code: CodeTooManyConns}
	ErrShuttingDown       = &Error{Code: CodeShuttingDown}
	ErrConnectionTimedOut = &Error{Code: CodeConnTimedOut}
	ErrSlowConsumer       = &Error{Code: CodeSlowConsumer}
)

// PrimaryAddress returns the HOST:PORT a NOT_PRIMARY answer names ("...; primary=HOST:PORT",
// docs/protocol.md), so that a caller can send the request there.
func PrimaryAddress(err error) (string, bool) {
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNotPrimary {
		return "", false
	}
	const mark = "primary="
	i := strings.LastIndex(e.Message, mark)
	if i < 0 || i+len(mark) == len(e.Message) {
		return "", false
	}
	return e.Message[i+len(mark):], true
}

// Client-side errors.
var (
	// ErrClientClosed: Close was called.
	ErrClientClosed = errors.New("tldb: client closed")
	// ErrConnectionLost wraps the cause when the connection failed before an answer came and
	// the request was not retried (not retry-safe, or the retries ran out).
	ErrConnectionLost = errors.New("tldb: connection lost")
	// ErrSubscriptionClosed: the subscription was closed by Unsubscribe or Client.Close.
	ErrSubscriptionClosed = errors.New("tldb: subscription closed")
)

// connError marks a failure of the connection itself (as opposed to an answer from the
// server); such failures are what a retry can cure.
type connError struct{ cause error }

func (e *connError) Error() string {
	return ErrConnectionLost.Error() + ": " + e.cause.Error()
}
func (e *connError) Unwrap() error        { return e.cause }
func (e *connError) Is(target error) bool { return target == ErrConnectionLost }

func isConnError(err error) bool {
	var ce *connError
	return errors.As(err, &ce)
}

func decodeError(body []byte, flags uint16) error {
	d := decoder{b: body}
	code := Code(d.u16())
	msg := d.str16()
	if err := d.done(); err != nil {
		return err
	}
	return &Error{Code: code, Message: msg, Fatal: flags&flagFatal != 0}
}
