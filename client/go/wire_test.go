package tldb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex reads the hex dumps of docs/protocol.md §8 ("0000: 54 4c ...").
func unhex(t *testing.T, dump string) []byte {
	t.Helper()
	var sb strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(dump), "\n") {
		if i := strings.Index(line, ":"); i >= 0 {
			line = line[i+1:]
		}
		sb.WriteString(strings.ReplaceAll(line, " ", ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The codec against the worked examples of docs/protocol.md (no server needed).
func TestWireMatchesProtocolExamples(t *testing.T) {
	e := newEncoder()
	e.u8(protocolVersion)
	e.str16("cli")
	e.str16("")
	if got, want := e.finish(opHello, 0), unhex(t, `
0000: 54 4c 01 01 00 00 00 00 00 00 00 00 00 00 00 00
0010: 08 00 00 00 01 03 00 63 6c 69 00 00`); !bytes.Equal(got, want) {
		t.Fatalf("HELLO:\n%x\nwant\n%x", got, want)
	}

	e = newEncoder()
	e.str16("store")
	e.str16("conv:1")
	e.str16("m-1")
	e.boolean(false)
	e.u64(0)
	e.u8(0)
	e.bytes32([]byte("hello"))
	if got, want := e.finish(opAppend, 1), unhex(t, `
0000: 54 4c 01 10 00 00 00 00 01 00 00 00 00 00 00 00
0010: 27 00 00 00 05 00 73 74 6f 72 65 06 00 63 6f 6e
0020: 76 3a 31 03 00 6d 2d 31 00 00 00 00 00 00 00 00
0030: 00 00 05 00 00 00 68 65 6c 6c 6f`); !bytes.Equal(got, want) {
		t.Fatalf("APPEND:\n%x\nwant\n%x", got, want)
	}

	hello := unhex(t, `
0000: 54 4c 01 01 01 00 00 00 00 00 00 00 00 00 00 00
0010: 30 00 00 00 01 11 00 74 6c 64 62 2d 73 65 72 76
0020: 65 72 2f 30 2e 31 2e 30 00 00 40 00 00 00 10 00
0030: 00 04 00 00 10 27 00 00 60 ea 00 00 01 00 00 00
0040: 01 00 2a 07`)
	var hdr [headerSize]byte
	h, body, err := readFrame(bytes.NewReader(hello), hdr[:], 0)
	if err != nil || h.flags != flagResponse || h.opcode != opHello {
		t.Fatalf("HELLO response header: %+v, %v", h, err)
	}
	info, err := decodeHello(body)
	if err != nil || info.ServerName != "tldb-server/0.1.0" || info.FrameBodyBytesMax != 4<<20 ||
		info.PayloadBytesMax != 1<<20 || info.InflightRequestsMax != 1024 || info.FanoutTimelinesMax != 10000 ||
		info.WaitTimeoutMsMax != 60000 || len(info.Grants) != 1 || info.Grants[0] != (Grant{"*", 7}) {
		t.Fatalf("HELLO response: %+v, %v", info, err)
	}

	scan := unhex(t, `
0000: 54 4c 01 21 01 00 00 00 02 00 00 00 00 00 00 00
0010: 22 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00
0020: 09 3e b5 27 a2 01 00 00 03 00 6d 2d 31 05 00 00
0030: 00 68 65 6c 6c 6f`)
	_, body, err = readFrame(bytes.NewReader(scan), hdr[:], 0)
	if err != nil {
		t.Fatal(err)
	}
	d := decoder{b: body}
	if n := d.count(22); n != 1 {
		t.Fatalf("SCAN count %d", n)
	}
	m := decodeMessage(&d)
	if d.done() != nil || m.Seq != 1 || m.TimestampMs != 1795962519049 || m.ClientMsgID != "m-1" || string(m.Payload) != "hello" {
		t.Fatalf("SCAN message: %+v, %v", m, d.err)
	}

	errFrame := unhex(t, `
0000: 54 4c 01 20 03 00 00 00 03 00 00 00 00 00 00 00
0010: 13 00 00 00 01 00 0f 00 6e 6f 20 73 75 63 68 20
0020: 6d 65 73 73 61 67 65`)
	h, body, err = readFrame(bytes.NewReader(errFrame), hdr[:], 0)
	if err != nil || h.flags != flagResponse|flagError || h.requestID != 3 {
		t.Fatalf("error header: %+v, %v", h, err)
	}
	if err := decodeError(body, h.flags); !errors.Is(err, ErrNotFound) || err.Error() != "tldb: NOT_FOUND: no such message" {
		t.Fatalf("error body: %v", err)
	}
}

func TestDecoderRefusesBadBodies(t *testing.T) {
	// Two minimal messages (empty client_msg_id and payload): 22 bytes each.
	e := encoder{}
	e.u32(2)
	for i := 0; i < 2; i++ {
		e.u64(uint64(i + 1))
		e.i64(0)
		e.str16("")
		e.bytes32(nil)
	}
	d := decoder{b: e.b}
	n := d.count(22)
	for i := 0; i < n; i++ {
		decodeMessage(&d)
	}
	if n != 2 || d.done() != nil {
		t.Fatalf("minimal messages: n=%d, %v", n, d.err)
	}
	for name, body := range map[string][]byte{
		"short":          e.b[:len(e.b)-1],
		"trailing bytes": append(append([]byte{}, e.b...), 0),
		"count too big":  {0xff, 0xff, 0xff, 0x0f},
	} {
		d := decoder{b: body}
		n := d.count(22)
		for i := 0; i < n; i++ {
			decodeMessage(&d)
		}
		if !errors.Is(d.done(), errMalformed) {
			t.Errorf("%s: decoded without error", name)
		}
	}
	d = decoder{b: []byte{2}}
	d.boolean()
	if d.done() == nil {
		t.Error("bool 2 decoded without error")
	}
}
