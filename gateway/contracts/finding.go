package contracts

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Finding is one problem with a contract manifest, a schema or an example:
// the file it is in, where in that file, and what is wrong.
type Finding struct {
	// File is the manifest or schema file, relative to the working
	// directory when it is below it.
	File string `json:"file"`
	// Pointer is the JSON pointer (RFC 6901) of the offending value inside
	// File; "" is the whole file.
	Pointer string `json:"pointer"`
	// Message says what is wrong, for a human.
	Message string `json:"message"`
}

// String formats the finding as "file:pointer: message", the line that
// `notebridge contracts lint` prints ("file: message" for a whole file).
func (f Finding) String() string {
	if f.Pointer == "" {
		return f.File + ": " + f.Message
	}
	return f.File + ":" + f.Pointer + ": " + f.Message
}

// err is the finding as Load reports it: wrapped around ErrInvalidContract,
// with the pointer written as a URI fragment ("file#pointer").
func (f Finding) err() error {
	if f.Pointer == "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalidContract, f.File, f.Message)
	}
	return fmt.Errorf("%w: %s#%s: %s", ErrInvalidContract, f.File, f.Pointer, f.Message)
}

func finding(file, pointer, format string, args ...any) Finding {
	return Finding{File: file, Pointer: pointer, Message: fmt.Sprintf(format, args...)}
}

// escapePointer escapes one JSON pointer reference token.
func escapePointer(token string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
}

// displayPath shortens an absolute path to one relative to the working
// directory when the file is below it.
func displayPath(path string) string {
	if !filepath.IsAbs(path) {
		return path
	}
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}
