package tldb

import (
	"errors"
	"fmt"
	"testing"
)

func TestPrimaryAddress(t *testing.T) {
	err := fmt.Errorf("append: %w", &Error{Code: CodeNotPrimary,
		Message: "replica 0 does not serve (primary: node 1); primary=127.0.0.2:7070"})
	if !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("errors.Is(%v, ErrNotPrimary) = false", err)
	}
	if a, ok := PrimaryAddress(err); !ok || a != "127.0.0.2:7070" {
		t.Fatalf("PrimaryAddress = %q, %v", a, ok)
	}
	if _, ok := PrimaryAddress(&Error{Code: CodeNotPrimary, Message: "replica 0 does not serve"}); ok {
		t.Fatal("an answer naming no primary gave an address")
	}
	if _, ok := PrimaryAddress(&Error{Code: CodeBusy, Message: "primary=x:1"}); ok {
		t.Fatal("another code gave an address")
	}
	if CodeNotPrimary.String() != "NOT_PRIMARY" {
		t.Fatalf("name %q", CodeNotPrimary.String())
	}
}
