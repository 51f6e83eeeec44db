package feed

// Lossless reports whether data under media type typ comes back byte for
// byte from a document: always for JSON and Base64 types, and for text and
// XML types when the data is text XML can carry.
func Lossless(typ string, data []byte) bool {
	k := kindOf(typ)
	return k == kindJSON || k == kindBase64 || xmlText(data)
}
