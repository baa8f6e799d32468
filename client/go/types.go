package tldb

import "time"

// Durability of a write (docs/protocol.md §2).
type Durability uint8

const (
	// DurabilityDefault: the namespace's default.
	DurabilityDefault Durability = 0
	// DurabilitySync: acknowledged after fdatasync (shared by concurrent appends).
	DurabilitySync Durability = 1
	// DurabilityBuffered: acknowledged once the write reached the OS.
	DurabilityBuffered Durability = 2
)

// Direction of a scan.
type Direction uint8

const (
	Forward  Direction = 0 // ascending seq
	Backward Direction = 1 // descending seq
)

// Rights is a bit set of rights on a namespace.
type Rights uint8

const (
	RightRead  Rights = 1
	RightWrite Rights = 2
	RightAdmin Rights = 4
)

// Message is one stored message.
type Message struct {
	Seq         uint64
	TimestampMs int64 // assigned by the server, ms since the Unix epoch
	ClientMsgID string
	Payload     []byte
}

// Time is the message's server timestamp.
func (m Message) Time() time.Time { return time.UnixMilli(m.TimestampMs) }

// AppendResult is the outcome of an append.
type AppendResult struct {
	Seq         uint64
	TimestampMs int64
	// Deduplicated: the server already had this client_msg_id (a retry); Seq and TimestampMs
	// are the original ones and nothing was written.
	Deduplicated bool
	// ClientMsgID is the id the append carried (the caller's, or the one the client made).
	ClientMsgID string
}

// AppendOptions are optional settings of Append and AppendFanout.
type AppendOptions struct {
	// ClientMsgID identifies the message for deduplication (at most 64 bytes). Empty: the
	// client generates a random one, so that a re-send after a connection failure is safe.
	ClientMsgID string
	// ExpectedLastSeq, when set, makes the append fail with ErrConflict unless the timeline's
	// last seq equals *ExpectedLastSeq (Append only).
	ExpectedLastSeq *uint64
	Durability      Durability
}

// ScanOptions select a range of a timeline. The zero value scans forward from the start,
// 100 messages at most.
type ScanOptions struct {
	FromSeq   uint64 // inclusive; 0 = open
	ToSeq     uint64 // inclusive; 0 = open
	Direction Direction
	Limit     uint32 // 0 → 100; the server caps it at 10,000
	BytesMax  uint32 // 0 → the server's cap
}

// TimelineAfter names one timeline of a ReadMulti: its messages with seq > AfterSeq are read.
type TimelineAfter struct {
	Timeline string
	AfterSeq uint64
}

// ReadLimits bound the messages of a ReadMulti or WaitRead answer; zero fields take the server's
// defaults.
type ReadLimits struct {
	TimelineLimit uint32 // messages per timeline: 0 → 100; capped at 10,000 (ReadMulti only)
	Limit         uint32 // messages in the whole answer: 0 → 10,000 (WaitRead: 0 → 100); capped at 10,000
	BytesMax      uint32 // payload bytes in the whole answer: 0 → the server's cap (half its frame limit)
}

// TimelineRead is what a read returned for one timeline.
type TimelineRead struct {
	LastSeq uint64 // the timeline's last seq when it was read (0: no such timeline)
	// More: a limit cut the messages short; read again after the last one returned.
	More     bool
	Messages []Message // seq > AfterSeq, oldest first
}

// WaitReadResult is the answer to a WAIT with messages (WaitRead).
type WaitReadResult struct {
	Ready bool         // as WaitResult.Ready
	Read  TimelineRead // Read.LastSeq: the timeline's last seq; Messages only when Ready
}

// WaitResult is the answer to a WAIT (long-poll).
type WaitResult struct {
	// Ready: the timeline's last seq is above the WAIT's after_seq. False: the timeout passed
	// (or the server is shutting down).
	Ready   bool
	LastSeq uint64
	// Err is set when the WAIT failed (only in results received from WaitChan).
	Err error
}

// PushMessage is a message delivered to a subscription.
type PushMessage struct {
	Namespace string
	Timeline  string
	Message
}

// NamespaceOptions of a namespace (docs/protocol.md §5, NamespaceOptions). In CreateNamespace
// and SetNamespaceOptions a zero field means the server's default for it: no TTL, 64 MiB
// segments, sync, no per-timeline limit, CompactLivePct 50, 16 KiB blocks, level 1; so the
// zero value asks for every default.
type NamespaceOptions struct {
	TTLMs                  uint64
	SegmentBytesMax        uint64
	Durability             Durability
	MessagesPerTimelineMax uint64
	CompactLivePct         uint32
	CompressBlockBytes     uint32
	CompressLevel          int32
}

// OptionMask selects the fields SetNamespaceOptions changes.
type OptionMask uint16

const (
	SetTTL                    OptionMask = 0x01
	SetMessagesPerTimelineMax OptionMask = 0x02
	SetCompactLivePct         OptionMask = 0x04
	SetCompressBlockBytes     OptionMask = 0x08
	SetCompressLevel          OptionMask = 0x10
	SetDurability             OptionMask = 0x20
	SetSegmentBytesMax        OptionMask = 0x40
)

// NamespaceInfo describes a namespace.
type NamespaceInfo struct {
	Name        string
	ID          uint32
	Options     NamespaceOptions
	Timelines   uint64
	Segments    uint64
	BytesOnDisk uint64
}

// CursorResult is the answer to SetCursor.
type CursorResult struct {
	Cursor uint64 // the stored value after the call
	Moved  bool
}

// CursorInfo is a device's position in one timeline.
type CursorInfo struct {
	Cursor  uint64
	LastSeq uint64
	Unread  uint64 // max(0, LastSeq - Cursor)
}

// MutationKind selects what Mutate does.
type MutationKind uint8

const (
	MutationRecall         MutationKind = 1
	MutationEdit           MutationKind = 2
	MutationTrim           MutationKind = 3
	MutationDeleteTimeline MutationKind = 4
)

// Mutation is a recall, edit, trim or delete-timeline request.
type Mutation struct {
	Kind     MutationKind
	Timeline string
	// Seq: the message (recall, edit), the first seq to keep (trim), the last seq to delete
	// (delete-timeline; 0 = the timeline's last, resolved with LastSeq before sending).
	Seq        uint64
	Payload    []byte // the new payload of an edit; empty otherwise
	Durability Durability
}

// MutationResult is the outcome of a mutation.
type MutationResult struct {
	Seq uint64 // see docs/protocol.md MUTATE
	// Noop: the mutation was already in effect (a retry); nothing was written.
	Noop bool
}

// CompactionState of a COMPACT job.
type CompactionState uint8

const (
	CompactionQueued  CompactionState = 0
	CompactionRunning CompactionState = 1
	CompactionDone    CompactionState = 2
	CompactionFailed  CompactionState = 3
)

// CompactionProgress counts a compaction job's work.
type CompactionProgress struct {
	SegmentsTotal   uint64
	SegmentsDone    uint64
	BytesRead       uint64
	BytesWritten    uint64
	RecordsKept     uint64
	RecordsDropped  uint64
	SegmentsExpired uint64
}

// CompactionStatus is the answer to CompactStatus.
type CompactionStatus struct {
	JobID     uint64
	Namespace string
	Full      bool
	State     CompactionState
	// Err is the engine error of a failed job (an *Error), nil otherwise.
	Err      error
	Progress CompactionProgress
}

// Stats is the server's counters.
type Stats struct {
	Counters  map[string]uint64
	IOBackend string
}
