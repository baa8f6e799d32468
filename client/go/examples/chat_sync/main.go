// chat_sync: what an IM frontend does with tldb, end to end, in Go.
//
// Usage: go run ./examples/chat_sync [HOST:PORT]
//
// Step 1, send: append messages (each carries a client_msg_id, so a re-send after a lost
// connection is deduplicated by the server). Step 2, history page: the latest 20 messages,
// then the page before them. Step 3, device sync from a cursor: read this device's cursor,
// fetch what it missed, advance the cursor, and show unread counts for several conversations
// at once. Step 4, follow: subscribe to the conversation (messages arrive on a channel), and
// long-poll with WAIT as the alternative for stateless frontends.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"tldb"
)

const (
	ns     = "store"
	conv   = "conv:example"
	device = "alice-phone"
)

func main() {
	addr := "127.0.0.1:7070"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if err := run(addr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := tldb.Dial(ctx, tldb.Options{Addr: addr, ClientName: "chat_sync"})
	if err != nil {
		return err
	}
	defer c.Close()

	// 1. Send. The client generates a client_msg_id when none is given; give your own (a
	// UUID made when the user pressed send) to deduplicate re-sends across app restarts too.
	for i := 0; i < 30; i++ {
		if _, err := c.Append(ctx, ns, conv, []byte(fmt.Sprintf("hello %d", i)), nil); err != nil {
			return err
		}
	}

	// 2. History: latest 20 (newest first), then the page before the oldest one shown.
	page, err := c.Latest(ctx, ns, conv, 20)
	if err != nil {
		return err
	}
	fmt.Printf("latest %d messages:\n", len(page))
	for _, m := range page {
		fmt.Printf("  #%d %s\n", m.Seq, m.Payload)
	}
	if n := len(page); n > 0 && page[n-1].Seq > 1 {
		prev, err := c.Scan(ctx, ns, conv, tldb.ScanOptions{
			Direction: tldb.Backward, ToSeq: page[n-1].Seq - 1, Limit: 20})
		if err != nil {
			return err
		}
		fmt.Printf("previous page: %d messages (newest first)\n", len(prev))
	}

	// 3. Device sync from its cursor (stored by the server, it survives reinstalling the app).
	cursors, err := c.GetCursors(ctx, device, ns, []string{conv, "conv:other"})
	if err != nil {
		return err
	}
	fmt.Printf("device %s: cursor %d, unread %d\n", device, cursors[0].Cursor, cursors[0].Unread)
	missed, err := c.Scan(ctx, ns, conv, tldb.ScanOptions{FromSeq: cursors[0].Cursor + 1, Limit: 500})
	if err != nil {
		return err
	}
	if len(missed) > 0 {
		moved, err := c.SetCursor(ctx, device, ns, conv, missed[len(missed)-1].Seq)
		if err != nil {
			return err
		}
		fmt.Printf("synced %d messages, cursor now %d\n", len(missed), moved.Cursor)
	}

	// 4. Follow: new messages arrive on sub.C, across reconnections, without gaps.
	sub, err := c.SubscribeLatest(ctx, ns, conv)
	if err != nil {
		return err
	}
	defer sub.Close(context.Background())
	// Long-poll alternative: answered as soon as a message after the last seq exists.
	woke := c.WaitChan(ctx, ns, conv, sub.StartAfter(), 5*time.Second)
	if _, err := c.Append(ctx, ns, conv, []byte("a message while following"), nil); err != nil {
		return err
	}
	select {
	case m := <-sub.C:
		fmt.Printf("pushed: #%d %s\n", m.Seq, m.Payload)
	case <-ctx.Done():
		return ctx.Err()
	}
	if r := <-woke; r.Err == nil && r.Ready {
		fmt.Printf("WAIT woke: last seq %d\n", r.LastSeq)
	}
	return nil
}
