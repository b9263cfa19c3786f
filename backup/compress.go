package backup

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
)

// compression is how a backup file's bytes are compressed. It is always
// detected from the first bytes of the input, never from a file name.
type compression int

// Compressions a reader recognises.
const (
	compNone compression = iota
	compGzip
)

// sniff looks at the first bytes of br and returns the compression, or an
// error naming what the input is when it is a compression this package
// does not read (zlib above all: the original tool wrote zlib under a .gz
// name, and a gzip reader would only say "invalid header").
func sniff(br *bufio.Reader) (compression, error) {
	b, err := br.Peek(6)
	if len(b) == 0 {
		if err == nil || err == io.EOF {
			return compNone, fmt.Errorf("%w: empty input", ErrNotBackup)
		}
		return compNone, fmt.Errorf("backup: read: %w", err)
	}
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return compGzip, nil
	case len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0:
		return compNone, fmt.Errorf("%w: the input starts with zlib header %02x%02x; decompress it (or re-create the backup, which is gzip by default)", ErrZlib, b[0], b[1])
	case len(b) >= 3 && string(b[:3]) == "BZh":
		return compNone, fmt.Errorf("%w: bzip2 stream", ErrUnsupportedCompression)
	case len(b) >= 6 && string(b[:6]) == "\xfd7zXZ\x00":
		return compNone, fmt.Errorf("%w: xz stream", ErrUnsupportedCompression)
	case len(b) >= 4 && string(b[:4]) == "\x28\xb5\x2f\xfd":
		return compNone, fmt.Errorf("%w: zstd stream", ErrUnsupportedCompression)
	case b[0] == '{' || b[0] == '-':
		return compNone, nil
	}
	return compNone, fmt.Errorf("%w: unrecognised first bytes %q", ErrNotBackup, b)
}

// openPlain returns a reader of the decompressed bytes of r and the
// compression found. For gzip, reading to io.EOF verifies the CRC-32 and
// length of every member, so truncation and bit flips surface as errors.
func openPlain(r io.Reader) (io.Reader, compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c, err := sniff(br)
	if err != nil {
		return nil, c, err
	}
	if c == compNone {
		return br, compNone, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, c, fmt.Errorf("%w: gzip header: %v", ErrCorrupt, err)
	}
	return zr, compGzip, nil
}
