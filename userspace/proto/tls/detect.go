package tls

// Detect reports whether the first bytes a TCP client sent look like the
// start of a TLS handshake: a handshake record (type 22) of version 3.x
// (SSL 3.0 to TLS 1.3) with a plausible length, holding a ClientHello.
// It judges only the bytes it is given (at least three are needed), so
// the pipeline can choose the parser by content rather than by port.
func Detect(firstClientBytes []byte) bool {
	b := firstClientBytes
	if len(b) < 3 || b[0] != typeHandshake || b[1] != 3 || b[2] > 4 {
		return false
	}
	if len(b) >= recordHeaderLen {
		// A handshake header (4 bytes) at least, and no more than a
		// record may hold.
		if n := int(b[3])<<8 | int(b[4]); n < 4 || n > maxRecordLen {
			return false
		}
	}
	return len(b) <= recordHeaderLen || b[recordHeaderLen] == hsClientHello
}
