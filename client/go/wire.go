package tldb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire constants of protocol version 1 (docs/protocol.md).
const (
	protocolVersion = 1
	frameMagic      = 0x4C54
	headerSize      = 20

	flagResponse = 0x1
	flagError    = 0x2
	flagPush     = 0x4
	flagFatal    = 0x8
)

// Opcodes.
const (
	opHello         = 0x01
	opPing          = 0x02
	opStats         = 0x03
	opAppend        = 0x10
	opAppendFanout  = 0x11
	opGet           = 0x20
	opScan          = 0x21
	opLastSeq       = 0x22
	opReadMulti     = 0x23
	opWait          = 0x30
	opSubscribe     = 0x31
	opUnsubscribe   = 0x32
	opPushMessage   = 0x33
	opNsCreate      = 0x40
	opNsList        = 0x41
	opNsDescribe    = 0x42
	opCursorSet     = 0x50
	opCursorGet     = 0x51
	opMutate        = 0x60
	opNsSetOptions  = 0x61
	opCompact       = 0x62
	opCompactStatus = 0x63
)

type frameHeader struct {
	opcode    uint8
	flags     uint16
	requestID uint64
	bodyLen   uint32
}

// encoder appends little-endian fields to a byte slice. The first headerSize bytes are
// reserved for the frame header, filled in by finish.
type encoder struct{ b []byte }

func newEncoder() *encoder {
	return &encoder{b: make([]byte, headerSize, 64)}
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) i32(v int32)  { e.u32(uint32(v)) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) boolean(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}
func (e *encoder) str16(s string) {
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) bytes32(p []byte) {
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
}
func (e *encoder) strList(l []string) {
	e.u32(uint32(len(l)))
	for _, s := range l {
		e.str16(s)
	}
}

// finish writes the header for opcode and requestID and returns the whole frame.
func (e *encoder) finish(opcode uint8, requestID uint64) []byte {
	h := e.b[:headerSize]
	binary.LittleEndian.PutUint16(h[0:], frameMagic)
	h[2] = protocolVersion
	h[3] = opcode
	binary.LittleEndian.PutUint16(h[4:], 0)
	binary.LittleEndian.PutUint16(h[6:], 0)
	binary.LittleEndian.PutUint64(h[8:], requestID)
	binary.LittleEndian.PutUint32(h[16:], uint32(len(e.b)-headerSize))
	return e.b
}

// checkStrLen validates a str16 field before it is encoded.
func checkStrLen(what, s string) error {
	if len(s) > 0xFFFF {
		return &Error{Code: CodeInvalidArgument, Message: what + " longer than 65535 bytes"}
	}
	return nil
}

var errMalformed = errors.New("tldb: malformed response from server")

// decoder reads little-endian fields; the first failure sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.err = errMalformed
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}
func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}
func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}
func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}
func (d *decoder) i32() int32 { return int32(d.u32()) }
func (d *decoder) i64() int64 { return int64(d.u64()) }
func (d *decoder) boolean() bool {
	v := d.u8()
	if v > 1 && d.err == nil {
		d.err = errMalformed
	}
	return v == 1
}
func (d *decoder) str16() string { return string(d.take(int(d.u16()))) }
func (d *decoder) bytes32() []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.err = errMalformed
		return nil
	}
	v := make([]byte, n)
	copy(v, d.take(int(n)))
	return v
}

// count reads a list count and checks that it could fit in what remains (minSize bytes each).
func (d *decoder) count(minSize int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n)*uint64(minSize) > uint64(len(d.b)) {
		d.err = errMalformed
		return 0
	}
	return int(n)
}

// done reports the first error, or a malformed-body error if bytes are left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errMalformed
	}
	return d.err
}

func readFrame(r io.Reader, hdr []byte, bodyMax uint32) (frameHeader, []byte, error) {
	if _, err := io.ReadFull(r, hdr[:headerSize]); err != nil {
		return frameHeader{}, nil, err
	}
	if binary.LittleEndian.Uint16(hdr[0:]) != frameMagic || hdr[2] != protocolVersion {
		return frameHeader{}, nil, fmt.Errorf("tldb: bad frame header from server (% x)", hdr[:4])
	}
	h := frameHeader{
		opcode:    hdr[3],
		flags:     binary.LittleEndian.Uint16(hdr[4:]),
		requestID: binary.LittleEndian.Uint64(hdr[8:]),
		bodyLen:   binary.LittleEndian.Uint32(hdr[16:]),
	}
	if bodyMax != 0 && h.bodyLen > bodyMax {
		return frameHeader{}, nil, fmt.Errorf("tldb: server frame of %d bytes above the limit", h.bodyLen)
	}
	body := make([]byte, h.bodyLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return frameHeader{}, nil, err
	}
	return h, body, nil
}
